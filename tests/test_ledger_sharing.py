"""One SQLite ledger, two `vidgen run`: every job is rendered once, the second is told why."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from orchestrator_inputs import write_test_manifests

from orchestrator.ledger import LedgerBusy, SqliteLedger

VIDGEN = [sys.executable, "-m", "comfy_vidgen.cli"]
N_JOBS = 20


def test_a_second_dispatcher_is_refused_and_every_job_renders_once(
    tmp_path: Path, coffee_jpeg: Path, input_root: Path
) -> None:
    manifests = tmp_path / "manifests"
    write_test_manifests(
        input_root, manifests, N_JOBS, keyframe=coffee_jpeg, workflow="camera_only@2",
        gen_frames=8,
    )  # fmt: skip
    db = tmp_path / "l.db"
    args = [*VIDGEN, "run", str(manifests), "--ledger", str(db), "--out", str(tmp_path / "out"),
            "--input-root", str(input_root), "--no-qc", "--json"]  # fmt: skip
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lock = Path(f"{db}.lock")
    deadline = time.monotonic() + 120
    while not (lock.exists() and "pid" in lock.read_text()):
        assert first.poll() is None and time.monotonic() < deadline, "first run never started"
        time.sleep(0.05)
    second = subprocess.run(args, capture_output=True, text=True, timeout=300)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stderr
    line = second.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert f"is in use by vidgen pid {first.pid} on " in line and "since" in line
    with sqlite3.connect(db) as c:
        attempts = c.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        done = c.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done'").fetchone()[0]
    assert (attempts, done) == (N_JOBS, N_JOBS)
    assert len(list((tmp_path / "out").rglob("*.mp4"))) == N_JOBS
    # the holder is gone: the next run may dispatch (and finds nothing to do)
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr


def test_the_lock_dies_with_its_holder(tmp_path: Path) -> None:
    """kill -9 of the holder frees the ledger: the kernel drops an flock on exit."""
    db = tmp_path / "l.db"
    code = (
        "import sys, time\nfrom orchestrator.ledger import SqliteLedger\n"
        f"ledger = SqliteLedger({str(db)!r})\nledger.hold_dispatch()\nprint('held', flush=True)\ntime.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        other = SqliteLedger(db)
        with pytest.raises(LedgerBusy, match=f"pid {holder.pid} on "):
            other.hold_dispatch()
        holder.kill()
        holder.wait(timeout=30)
        other.hold_dispatch()  # taken over at once, no stale-lock timeout
        assert f"pid {os.getpid()} " in Path(f"{db}.lock").read_text()
        other.close()
    finally:
        holder.kill()
