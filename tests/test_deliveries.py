"""Deliveries stay true: a deleted or changed clip is noticed, re-delivered on request with
both attempts on record, and what a killed run left behind is cleaned."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from orchestrator_inputs import write_test_manifests

VIDGEN = [sys.executable, "-m", "comfy_vidgen.cli"]


def _setup(tmp_path: Path, input_root: Path, keyframe: Path, n: int = 2) -> list[str]:
    manifests = tmp_path / "manifests"
    write_test_manifests(
        input_root, manifests, n, keyframe=keyframe, workflow="camera_only@2", motion="static",
        gen_frames=8,
    )  # fmt: skip
    return [*VIDGEN, "run", str(manifests), "--ledger", str(tmp_path / "l.db"),
            "--out", str(tmp_path / "out"), "--input-root", str(input_root), "--no-qc"]  # fmt: skip


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def _done(db: Path) -> dict[str, tuple[str, str]]:
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT job_id, output_path, audit_path FROM jobs WHERE state = 'done'")
        return {r[0]: (r[1], r[2]) for r in rows}


def test_a_deleted_delivery_is_reported_and_delivered_again(
    tmp_path: Path, input_root: Path, coffee_jpeg: Path
) -> None:
    run = _setup(tmp_path, input_root, coffee_jpeg)
    db = tmp_path / "l.db"
    ledger = ["--ledger", str(db)]
    assert _cli(*run).returncode == 0
    (job, (mp4, audit)), (other, (mp4_b, _)) = sorted(_done(db).items())
    assert _cli(*VIDGEN, "verify", *ledger).returncode == 0
    assert _cli(*VIDGEN, "retry", job, *ledger).returncode == 1  # intact: nothing to redo

    Path(mp4).unlink()
    again = _cli(*run)
    assert again.returncode == 1
    assert f"job {job} is done but delivery {mp4} is missing" in again.stderr
    assert f"vidgen retry {job}" in again.stderr and f"job {other} is done but" not in again.stderr
    check = _cli(*VIDGEN, "verify", *ledger)
    assert check.returncode == 1 and f"BAD  {job}" in check.stdout

    r = _cli(*VIDGEN, "retry", job, *ledger)
    assert r.returncode == 0, r.stderr
    kept = Path(audit).with_name(Path(audit).name.replace(".audit.json", ".audit.a1.json"))
    assert kept.is_file() and json.loads(kept.read_text())["attempt"] == 1
    assert _cli(*run).returncode == 0
    assert Path(mp4).is_file() and json.loads(Path(audit).read_text())["attempt"] == 2
    with sqlite3.connect(db) as c:
        n = c.execute("SELECT COUNT(*) FROM attempts WHERE job_id = ?", (job,)).fetchone()[0]
    assert n == 2  # both deliveries on record
    assert _cli(*VIDGEN, "verify", *ledger).returncode == 0

    # a changed clip (same name, other bytes) is caught by size, then by sha256
    Path(mp4_b).write_bytes(Path(mp4_b).read_bytes() + b"\0")
    assert f"{other} is done but delivery {mp4_b} changed size" in _cli(*run).stderr
    Path(mp4_b).write_bytes(Path(mp4_b).read_bytes()[:-2] + b"\0")  # same size, other bytes
    assert _cli(*run).returncode == 0  # a run only stats
    bad = _cli(*VIDGEN, "verify", *ledger, "--json")
    problems = [json.loads(line)["problem"] for line in bad.stdout.splitlines()]
    assert bad.returncode == 1 and any(p and "changed content" in p for p in problems)


def test_leftovers_of_a_killed_run_are_cleaned(
    tmp_path: Path, input_root: Path, coffee_jpeg: Path
) -> None:
    run = _setup(tmp_path, input_root, coffee_jpeg, n=1)
    out = tmp_path / "out"
    staged = out / ".incoming" / "shot0-abc.a1"
    staged.mkdir(parents=True)
    (staged / "clip.mp4").write_bytes(b"half")
    part = out / "shot0" / ".job.mp4.x1y2.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"half")
    r = _cli(*run)
    assert r.returncode == 0, r.stderr
    assert "removed 2 leftover file(s) of an interrupted run" in r.stderr
    assert not (out / ".incoming").exists() or not any((out / ".incoming").rglob("*.mp4"))
    assert not part.exists() and len(list(out.rglob("*.mp4"))) == 1
