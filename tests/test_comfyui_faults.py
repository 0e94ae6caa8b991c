"""What real ComfyUI instances do to a rack, played by the fake: a websocket that goes
quiet while a prompt runs, a /prompt that hangs, a prompt that never ends, an instance
that needs restarting. Every job still ends done exactly once."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fake_comfyui import FakeComfyUI
from orchestrator_inputs import build_test_workflow, probe_for_tests, write_test_manifests

from orchestrator.dispatcher import Dispatcher, RunSummary
from orchestrator.engine import submit_manifests
from orchestrator.fleet import FleetConfig, parse_fleet
from orchestrator.ledger import SqliteLedger
from orchestrator.retry import RetryPolicy
from orchestrator.verify import Verifier

FAST = {"health_interval_s": 0.2, "down_after": 1, "drain_after_s": 0.5}


@pytest.fixture
def fake(tmp_path: Path):  # type: ignore[no-untyped-def]
    f = FakeComfyUI(tmp_path / "comfy", exec_s=0.2).start()
    yield f
    f.close()


def _fleet(url: str, restart: str | None = None, **settings: Any) -> FleetConfig:
    inst: dict[str, Any] = {"name": "gpu0", "url": url}
    if restart is not None:
        inst["restart_command"] = restart
    return parse_fleet({"instance": [inst], **FAST, **settings})


def _marking_command(marker: Path) -> str:
    """A restart command that leaves a mark per run (the test's stand-in for Compose)."""
    return f"{sys.executable} -c \"open({str(marker)!r}, 'a').write('x')\""


def _run(
    tmp_path: Path, fleet: FleetConfig, manifests: list[Path], input_root: Path
) -> tuple[SqliteLedger, RunSummary, set[str], float]:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ids = {s.job.job_id for s in submit_manifests(ledger, manifests, input_root) if s.job}
    workflow = build_test_workflow()
    d = Dispatcher(
        ledger, fleet, out_dir=tmp_path / "out", workflows=lambda ref: workflow,
        verifier=Verifier(probe=probe_for_tests()), policy=RetryPolicy(base_s=0.01, max_s=0.05),
        seed=1,
    )  # fmt: skip
    t0 = time.monotonic()
    summary = d.run(ids, threading.Event(), timeout_s=60)
    return ledger, summary, ids, time.monotonic() - t0


def _exactly_once(fake: FakeComfyUI, ledger: SqliteLedger, n: int) -> None:
    assert ledger.counts()["done"] == n
    delivered = [j for j in ledger.jobs() if j.output_path]
    assert len(delivered) == n and all(Path(j.output_path or "").is_file() for j in delivered)


def test_a_silent_websocket_is_reconnected(
    tmp_path: Path,
    fake: FakeComfyUI,
    coffee_jpeg: Path,
    input_root: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The socket stays open and says nothing; /history is polled only every 30 s here,
    so finishing fast proves the listener dropped the silent socket and the dispatcher
    reconciled at once (the new connection may come after the run has ended)."""
    caplog.set_level(logging.WARNING, logger="orchestrator.client")
    manifests = write_test_manifests(input_root, tmp_path / "m", 1, keyframe=coffee_jpeg)
    fake.exec_s = 2.0
    fake.set_faults(ws_silent=1)
    fleet = _fleet(fake.url, ws_silence_s=0.5, poll_interval_s=30)
    ledger, summary, _, took = _run(tmp_path, fleet, manifests, input_root)
    assert fake.stats.faults.get("ws_silent") == 1
    assert any("silent for" in r.getMessage() for r in caplog.records)
    assert took < 25, took
    _exactly_once(fake, ledger, 1)


def test_silence_ends_a_connection_only_while_a_prompt_is_expected(fake: FakeComfyUI) -> None:
    """Silence is normal on an idle instance: the socket stays; the same silence while
    one of our prompts runs there ends the connection (the listener then reconnects)."""
    from orchestrator.client import ComfyClient

    client = ComfyClient(fake.url)
    try:
        for expected in (False, True):
            stop, ended = threading.Event(), threading.Event()

            def listen(
                stop: threading.Event = stop,
                ended: threading.Event = ended,
                expecting: bool = expected,
            ) -> None:
                for _ in client.events(
                    "c", stop=stop, recv_timeout_s=0.1, silent_after_s=0.3,
                    expecting=lambda: expecting,
                ):  # fmt: skip
                    pass
                ended.set()

            t = threading.Thread(target=listen, daemon=True)
            t.start()
            ended.wait(3.0)
            assert ended.is_set() is expected, expected
            stop.set()
            t.join(5)
    finally:
        client.close()
    assert fake.stats.ws_connections == 2  # one per listen, none behind our back


def test_a_hung_prompt_post_is_reconciled_not_resubmitted(
    tmp_path: Path, fake: FakeComfyUI, coffee_jpeg: Path, input_root: Path
) -> None:
    manifests = write_test_manifests(input_root, tmp_path / "m", 2, keyframe=coffee_jpeg)
    fake.set_faults(hang_prompt=1, hang_s=2.5)
    fleet = _fleet(fake.url, timeout_s=1.0, poll_interval_s=0.2)
    ledger, summary, _, _ = _run(tmp_path, fleet, manifests, input_root)
    assert fake.stats.faults.get("hang_prompt") == 1
    _exactly_once(fake, ledger, 2)
    # the hung POST was queued by the instance: reconciliation found it, nothing ran twice
    assert sorted(fake.stats.completed_job_ids.values()) == [1, 1]


def test_a_prompt_over_its_budget_is_interrupted_moved_and_the_instance_restarted(
    tmp_path: Path, fake: FakeComfyUI, coffee_jpeg: Path, input_root: Path
) -> None:
    manifests = write_test_manifests(input_root, tmp_path / "m", 1, keyframe=coffee_jpeg)
    marker = tmp_path / "restarted"
    restart = _marking_command(marker)
    fake.exec_s = 60.0  # a node that never finishes in time

    def unstick() -> None:  # the restarted instance is healthy again
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        fake.exec_s = 0.2

    threading.Thread(target=unstick, daemon=True).start()
    fleet = _fleet(fake.url, restart, job_budget_s=4.0, poll_interval_s=0.2)
    ledger, summary, ids, _ = _run(tmp_path, fleet, manifests, input_root)
    assert marker.read_text() == "x"
    assert summary.faults.get("over_budget") == 1
    _exactly_once(fake, ledger, 1)
    [job_id] = ids
    states = [(a.n, a.state.value, a.error_class) for a in ledger.attempts(job_id=job_id)]
    assert states[0] == (1, "abandoned", "over_budget") and states[-1][1] == "done", states


def test_an_instance_is_restarted_after_n_jobs(
    tmp_path: Path, fake: FakeComfyUI, coffee_jpeg: Path, input_root: Path
) -> None:
    manifests = write_test_manifests(input_root, tmp_path / "m", 3, keyframe=coffee_jpeg)
    marker = tmp_path / "restarts"
    restart = _marking_command(marker)
    fleet = _fleet(fake.url, restart, restart_after_jobs=2, poll_interval_s=0.2, queue_depth=1)
    ledger, summary, _, _ = _run(tmp_path, fleet, manifests, input_root)
    _exactly_once(fake, ledger, 3)
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text().count("x") >= 1
    assert summary.faults.get("instance_restart", 0) >= 1
