"""`vidgen run|status|retry` in subprocesses: SIGKILL mid-run, Ctrl-C, resume, exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fake_comfyui import FakeComfyUI, make_test_video
from orchestrator_inputs import build_test_graph, write_test_manifests

from comfy_vidgen.errors import UsageError
from comfy_vidgen.pipeline import PipelineResult
from orchestrator.engine import LocalEngine, submit_manifests
from orchestrator.fleet import load_fleet
from orchestrator.ledger import JobState, SqliteLedger

VIDGEN = [sys.executable, "-m", "comfy_vidgen.cli"]


@pytest.fixture
def rack(tmp_path: Path, coffee_jpeg: Path, input_root: Path):  # type: ignore[no-untyped-def]
    wf = tmp_path / "workflows" / "camera_only" / "v1"
    wf.mkdir(parents=True)
    (wf / "api.json").write_text(json.dumps(build_test_graph()))
    manifests = write_test_manifests(input_root, tmp_path / "manifests", 6, keyframe=coffee_jpeg)
    fake = FakeComfyUI(tmp_path / "comfy", exec_s=0.3).start()
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        "queue_depth = 1\npoll_interval_s = 0.2\nhealth_interval_s = 0.5\n"
        f'[[instance]]\nname = "gpu0"\nurl = "{fake.url}"\ngpu = "RTX 4090"\n'
    )
    yield fake, fleet, manifests
    fake.close()


def _run_args(tmp_path: Path, fleet: Path, input_root: Path) -> list[str]:
    return [
        *VIDGEN,
        "run",
        str(tmp_path / "manifests"),
        "--fleet",
        str(fleet),
        "--workflows",
        str(tmp_path / "workflows"),
        "--ledger",
        str(tmp_path / "l.db"),
        "--out",
        str(tmp_path / "out"),
        "--input-root",
        str(input_root),
        "--no-qc",  # its gradient clip is no camera move (QC: tests/test_orchestrator_qc.py)
    ]


def _states(db: Path) -> dict[str, int]:
    if not db.exists():
        return {}
    with sqlite3.connect(db) as c:
        try:
            return dict(c.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        except sqlite3.OperationalError:
            return {}


def _wait_for(pred: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def _assert_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    mp4s = sorted(p.name for p in out.rglob("*.mp4") if ".incoming" not in p.parts)
    assert len(mp4s) == 6 and len(set(mp4s)) == 6
    assert len(list(out.rglob("*.audit.json"))) == 6
    with sqlite3.connect(tmp_path / "l.db") as c:
        assert c.execute("SELECT COUNT(*) FROM attempts WHERE state = 'done'").fetchone()[0] == 6


def test_sigkill_mid_run_then_restart_finishes_every_job_exactly_once(
    tmp_path: Path, rack, input_root: Path
) -> None:
    fake, fleet, _ = rack
    args = _run_args(tmp_path, fleet, input_root)
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: _states(tmp_path / "l.db").get("done", 0) >= 2)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert _states(tmp_path / "l.db").get("done", 0) < 6
    r = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["counts"]["done"] == 6
    _assert_exactly_once(tmp_path)
    # nothing ran twice to completion: each attempt id wrote its file once
    assert all(n == 1 for n in fake.stats.completed_job_ids.values())
    st = subprocess.run(
        [*VIDGEN, "status", "--ledger", str(tmp_path / "l.db"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    status = json.loads(st.stdout)
    assert status["counts"]["done"] == 6 and status["instances"]["gpu0"]["done"] == 6


def test_ctrl_c_stops_cleanly_and_rerun_resumes(tmp_path: Path, rack, input_root: Path) -> None:
    fake, fleet, _ = rack
    args = _run_args(tmp_path, fleet, input_root)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _states(tmp_path / "l.db").get("done", 0) >= 1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "rerun" in err and "Traceback" not in err
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    _assert_exactly_once(tmp_path)


def test_retry_failed_job_gets_a_fresh_budget(tmp_path: Path, rack, input_root: Path) -> None:
    fake, fleet, manifests = rack
    fake.set_faults(wrong_frames=1)
    args = _run_args(tmp_path, fleet, input_root)
    r = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    failed = [j for j in json.loads(r.stdout)["jobs"] if j["state"] == "failed"]
    assert len(failed) == 1 and failed[0]["error_class"] == "verify"
    st = json.loads(
        subprocess.run(
            [*VIDGEN, "status", "--ledger", str(tmp_path / "l.db"), "--json"],
            capture_output=True,
            text=True,
        ).stdout
    )
    assert st["counts"]["failed"] == 1 and st["failures"][0]["job_id"] == failed[0]["job_id"]
    rt = subprocess.run(
        [*VIDGEN, "retry", failed[0]["job_id"], "--ledger", str(tmp_path / "l.db")],
        capture_output=True,
        text=True,
    )
    assert rt.returncode == 0, rt.stderr
    r2 = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r2.returncode == 0, r2.stderr
    _assert_exactly_once(tmp_path)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    r = subprocess.run(
        [*VIDGEN, "run", str(tmp_path), "--engine", "comfyui"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "--fleet" in r.stderr
    bad = tmp_path / "f.toml"
    bad.write_text('queue_depth = 0\n[[instance]]\nurl = "http://x:1"\n')
    with pytest.raises(UsageError, match="queue_depth must be a number in 1"):
        load_fleet(bad)
    bad.write_text('[[instance]]\nurl = "x:1"\n')
    with pytest.raises(UsageError, match="url must look like"):
        load_fleet(bad)


def test_local_engine_shares_ledger_verification_and_audit(
    tmp_path: Path, coffee_jpeg: Path, input_root: Path
) -> None:
    """The local engine path with a stand-in runner (the camera_only pipeline plugs in here)."""
    manifests = write_test_manifests(input_root, tmp_path / "m", 2, keyframe=coffee_jpeg)
    calls: list[str] = []

    def runner(m: Any, root: Path, work: Path, job_id: str, on_progress: Any) -> PipelineResult:
        import hashlib

        calls.append(job_id)
        on_progress(1, 1)
        work.mkdir(parents=True, exist_ok=True)
        frames = m.output.frames - (1 if m.generation.seed == 1 else 0)  # seed 1: a bad output
        data = make_test_video(m.output.width, m.output.height, frames, m.output.fps)
        (work / "v.mp4").write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        return PipelineResult(work / "v.mp4", sha, None, "libx265", "test runner", frames)

    ledger = SqliteLedger(tmp_path / "l.db")
    ids = {s.job.job_id for s in submit_manifests(ledger, manifests, input_root) if s.job}
    import threading

    LocalEngine(ledger, out_dir=tmp_path / "out", runner=runner).run(ids, threading.Event())
    states = sorted(ledger.get(i).state.value for i in ids)  # type: ignore[union-attr]
    assert states == ["done", "failed"]
    done = next(ledger.get(i) for i in ids if ledger.get(i).state is JobState.DONE)  # type: ignore[union-attr]
    rec = json.loads(Path(done.audit_path or "").read_text())
    assert rec["engine"] == "local" and rec["encoder"] == "libx265" and rec["verification"]["ok"]
    n = len(calls)
    LocalEngine(ledger, out_dir=tmp_path / "out", runner=runner).run(ids, threading.Event())
    assert len(calls) == n  # nothing reruns
