"""Several control machines, one PostgreSQL ledger: two (then three) `vidgen run` processes
share four fake ComfyUI instances; no job is claimed, run or delivered twice, even when
one dispatcher is killed with SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_comfyui import FakeComfyUI
from orchestrator_inputs import build_test_graph, write_test_manifests
from rack_env import pg_schema

from orchestrator.ledger_pg import _LIVE_OWNERS

VIDGEN = [sys.executable, "-m", "comfy_vidgen.cli"]
N_JOBS = 16


@pytest.fixture
def shared_rack(
    tmp_path: Path, coffee_jpeg: Path, input_root: Path
) -> Iterator[tuple[str, list[FakeComfyUI], Path]]:
    with pg_schema() as url:
        wf = tmp_path / "workflows" / "camera_only" / "v1"
        wf.mkdir(parents=True)
        (wf / "api.json").write_text(json.dumps(build_test_graph()))
        write_test_manifests(input_root, tmp_path / "manifests", N_JOBS, keyframe=coffee_jpeg)
        fakes = [FakeComfyUI(tmp_path / f"comfy{i}", exec_s=0.25).start() for i in range(4)]
        fleet = tmp_path / "fleet.toml"
        fleet.write_text(
            "queue_depth = 1\npoll_interval_s = 0.2\nhealth_interval_s = 0.5\n"
            + "".join(
                f'[[instance]]\nname = "gpu{i}"\nurl = "{f.url}"\n' for i, f in enumerate(fakes)
            )
        )
        try:
            yield url, fakes, fleet
        finally:
            for f in fakes:
                f.close()


def _dispatcher(
    tmp_path: Path, url: str, fleet: Path, input_root: Path, name: str
) -> subprocess.Popen[str]:
    args = [
        *VIDGEN,
        "run",
        str(tmp_path / "manifests"),
        "--fleet",
        str(fleet),
        "--workflows",
        str(tmp_path / "workflows"),
        "--ledger",
        url,
        "--out",
        str(tmp_path / f"out_{name}"),
        "--input-root",
        str(input_root),
        "--no-qc",  # the fake's gradient clips are not camera moves; QC has its own tests
        "--json",
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ledger_rows(url: str) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    import psycopg

    with psycopg.connect(url) as c:
        jobs = dict(c.execute("SELECT job_id, state FROM jobs").fetchall())
        attempts = c.execute("SELECT job_id, n, state, owner, instance FROM attempts").fetchall()
    return jobs, attempts


def _finish(p: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = p.communicate(timeout=180)
    assert p.returncode == 0, err[-3000:]
    res: dict[str, Any] = json.loads(out)
    return res


def _deliveries(tmp_path: Path) -> list[str]:
    return [
        p.name
        for p in tmp_path.glob("out_*/**/*.mp4")
        if ".incoming" not in p.parts and p.is_file()
    ]


def _assert_exactly_once(tmp_path: Path, url: str, fakes: list[FakeComfyUI]) -> None:
    jobs, attempts = _ledger_rows(url)
    assert len(jobs) == N_JOBS and set(jobs.values()) == {"done"}
    done = [a for a in attempts if a[2] == "done"]
    assert sorted(a[0] for a in done) == sorted(jobs)  # one successful attempt per job
    delivered = _deliveries(tmp_path)
    assert len(delivered) == N_JOBS and len(set(delivered)) == N_JOBS  # across all machines
    assert len(list(tmp_path.glob("out_*/**/*.audit.json"))) == N_JOBS
    # no attempt ran twice to completion on any instance
    ran = [n for f in fakes for n in f.stats.completed_job_ids.values()]
    assert all(n == 1 for n in ran)


def test_two_dispatchers_share_four_instances_without_doubles(
    tmp_path: Path, shared_rack: Any, input_root: Path
) -> None:
    url, fakes, fleet = shared_rack
    a = _dispatcher(tmp_path, url, fleet, input_root, "a")
    b = _dispatcher(tmp_path, url, fleet, input_root, "b")
    res_a, res_b = _finish(a), _finish(b)
    for res in (res_a, res_b):
        assert res["counts"]["done"] == N_JOBS
        assert {j["state"] for j in res["jobs"]} == {"done"}
    _assert_exactly_once(tmp_path, url, fakes)
    jobs, attempts = _ledger_rows(url)
    assert len(attempts) == N_JOBS  # no fault injected: exactly one attempt per job
    assert len({a[3] for a in attempts}) == 2  # both dispatchers really took work
    assert sum(f.stats.submitted for f in fakes) == N_JOBS
    assert all(f.stats.submitted for f in fakes)  # and all four instances were used
    # each machine delivered only what it ran
    for name in ("a", "b"):
        got = {p.stem for p in tmp_path.glob(f"out_{name}/**/*.mp4")}
        assert got and got < set(jobs)


def test_a_killed_dispatchers_work_is_adopted_once_by_a_new_one(
    tmp_path: Path, shared_rack: Any, input_root: Path
) -> None:
    import psycopg

    url, fakes, fleet = shared_rack
    a = _dispatcher(tmp_path, url, fleet, input_root, "a")
    b = _dispatcher(tmp_path, url, fleet, input_root, "b")
    live = ("submitting", "submitted", "running")
    deadline = time.monotonic() + 60
    while True:  # kill a while both dispatchers have work in flight
        try:
            _, attempts = _ledger_rows(url)
        except psycopg.errors.UndefinedTable:  # no dispatcher has migrated the schema yet
            attempts = []
        if len({x[3] for x in attempts if x[2] in live}) == 2:
            break
        assert time.monotonic() < deadline, "dispatchers never both had work in flight"
        time.sleep(0.02)
    os.kill(a.pid, signal.SIGKILL)
    a.communicate(timeout=30)
    with psycopg.connect(url) as conn:
        alive = {r[0] for r in conn.execute(_LIVE_OWNERS).fetchall()}
        rows = conn.execute("SELECT prompt_id, owner, state FROM attempts").fetchall()
    (dead,) = {r[1] for r in rows} - alive  # a's session went away with its process
    orphaned = {r[0] for r in rows if r[1] == dead and r[2] in live}
    assert orphaned
    # a's in-flight attempts wait for the next dispatcher start; c adopts them, b never does
    c = _dispatcher(tmp_path, url, fleet, input_root, "c")
    res_b, res_c = _finish(b), _finish(c)
    assert res_b["counts"]["done"] == N_JOBS and res_c["counts"]["done"] == N_JOBS
    _assert_exactly_once(tmp_path, url, fakes)
    with psycopg.connect(url) as conn:
        owners = dict(conn.execute("SELECT prompt_id, owner FROM attempts").fetchall())
    adopters = {owners[pid] for pid in orphaned}
    assert len(adopters) == 1 and adopters.isdisjoint(alive | {dead})  # c, and only c
