"""Orchestrator against the fake ComfyUI: real HTTP + websocket on loopback, real mp4s."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from fake_comfyui import FakeComfyUI
from orchestrator_inputs import (
    build_test_workflow,
    probe_for_tests,
    write_test_manifests,
)

from comfy_vidgen.encode import probe
from comfy_vidgen.fsutil import sha256_file
from orchestrator.client import ComfyClient, PromptRejected
from orchestrator.dispatcher import Dispatcher, RunSummary
from orchestrator.engine import submit_manifests
from orchestrator.fleet import DISPATCH_EVENTS, dispatch_filter, fleet_from_urls
from orchestrator.ledger import AttemptState, JobState, SqliteLedger
from orchestrator.retry import RetryPolicy
from orchestrator.verify import Verifier
from orchestrator.workflow import Workflow

FAST = {"poll_interval_s": 0.2, "health_interval_s": 0.2, "down_after": 1, "drain_after_s": 0.5}
POLICY = RetryPolicy(base_s=0.01, max_s=0.05)


@pytest.fixture
def manifests(tmp_path: Path, coffee_jpeg: Path, input_root: Path) -> list[Path]:
    return write_test_manifests(input_root, tmp_path / "manifests", 3, keyframe=coffee_jpeg)


@pytest.fixture
def fakes(tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[FakeComfyUI] = []

    def make(**kw) -> FakeComfyUI:  # type: ignore[no-untyped-def]
        f = FakeComfyUI(tmp_path / f"comfy{len(made)}", **kw).start()
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def run(
    tmp_path: Path,
    urls: list[str],
    manifests: list[Path],
    input_root: Path,
    wf: Workflow | None = None,
    stop: threading.Event | None = None,
    **settings: float,
) -> tuple[SqliteLedger, RunSummary, set[str]]:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    subs = submit_manifests(ledger, manifests, input_root)
    ids = {s.job.job_id for s in subs if s.job}
    workflow = wf or build_test_workflow()
    d = Dispatcher(
        ledger,
        fleet_from_urls(urls, **{**FAST, **settings}),
        out_dir=tmp_path / "out",
        workflows=lambda ref: workflow,
        verifier=Verifier(probe=probe_for_tests()),
        policy=POLICY,
        seed=1,
    )
    return ledger, d.run(ids, stop, timeout_s=60), ids


def test_end_to_end_delivers_verified_outputs_with_audit_and_dedups(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    fake = fakes()
    ledger, summary, ids = run(tmp_path, [fake.url], manifests, input_root)
    assert summary.counts["done"] == 3
    for jid in ids:
        job = ledger.get(jid)
        assert job is not None and job.state is JobState.DONE
        assert job.output_path and Path(job.output_path).name == f"{jid}.mp4"
        rec = json.loads(Path(job.audit_path or "").read_text())
        assert rec["manifest_hash"] == job.manifest_hash
        assert rec["verification"]["ok"] and rec["verification"]["checks"]["frames"]["actual"] == 8
        assert rec["comfyui_version"] == "0.3.64" and "RTX 4090" in rec["gpu"]
        assert rec["submitted_keyframe_path"].startswith(
            f"vidgen/{rec['manifest']['keyframe']['sha256'][:16]}/"
        )
        assert rec["submitted_manifest_hash"] != rec["manifest_hash"]
        assert rec["workflow_sha256"] == build_test_workflow().sha256
        assert rec["timings"]["exec_s"] is not None
        # the node's browser preview (H.264, temp folder) is shown, never delivered
        assert rec["output"]["sha256"] == sha256_file(job.output_path)
        assert probe(job.output_path).codec == "hevc"
    previews = sorted((fake.temp_dir / "vidgen").glob("*.preview-*.mp4"))
    assert len(previews) == 3 and all(probe(p).codec == "h264" for p in previews)
    delivered = sorted(p.name for p in (tmp_path / "out").rglob("*.mp4"))
    assert delivered == sorted(f"{jid}.mp4" for jid in ids)
    # keyframe uploaded once into its content-addressed folder
    uploaded = list((fake.input_dir / "vidgen").rglob("*.jpg"))
    assert len(uploaded) == 1
    submitted = fake.stats.submitted
    # resubmitting the same manifests is a no-op that reports the existing jobs
    again = submit_manifests(ledger, manifests, input_root)
    assert all(not s.created and s.job and s.job.state is JobState.DONE for s in again)
    ledger.close()
    ledger2, summary2, _ = run(tmp_path, [fake.url], manifests, input_root)
    assert fake.stats.submitted == submitted and summary2.counts["done"] == 3


def test_oom_and_http_500_retry_on_another_instance(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    a, b = fakes(), fakes()
    a.set_faults(oom=1, submit_500=1)
    ledger, summary, ids = run(tmp_path, [a.url, b.url], manifests, input_root)
    assert summary.counts["done"] == 3
    classes = [x.error_class for x in ledger.attempts() if x.state is AttemptState.ERROR]
    assert sorted(classes) == ["oom", "transport"]
    for failed in (x for x in ledger.attempts() if x.state is AttemptState.ERROR):
        nxt = [x for x in ledger.attempts(job_id=failed.job_id) if x.n == failed.n + 1]
        assert nxt and nxt[0].instance == "gpu1"  # moved off the failing instance


def test_validation_error_fails_fast_with_node_message(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    fake = fakes()
    ledger, summary, ids = run(
        tmp_path, [fake.url], manifests[:1], input_root, wf=build_test_workflow(drop_input="images")
    )
    (job,) = [ledger.get(i) for i in ids]
    assert job is not None and job.state is JobState.REJECTED and job.attempts == 1
    assert job.error_class == "validation" and "NVENCEncode" in (job.error_message or "")
    assert "Required input is missing" in (job.error_message or "")


def test_manifest_error_on_instance_fails_fast(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    fake = fakes()
    fake.set_faults(manifest_error=1)
    ledger, summary, ids = run(tmp_path, [fake.url], manifests[:1], input_root)
    (job,) = [ledger.get(i) for i in ids]
    assert job is not None and job.state is JobState.REJECTED and job.attempts == 1
    assert job.error_class == "manifest" and "keyframe.sha256" in (job.error_message or "")


def test_lint_refuses_literal_on_manifest_parameter_before_submitting(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    fake = fakes()
    ledger, summary, ids = run(
        tmp_path, [fake.url], manifests, input_root, wf=build_test_workflow(literal_fps=30)
    )
    assert summary.counts["rejected"] == 3 and fake.stats.submitted == 0
    job = ledger.get(next(iter(ids)))
    assert job is not None and job.error_class == "lint" and "'fps'" in (job.error_message or "")


def test_wrong_frame_count_is_refused_and_not_delivered(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    fake = fakes()
    fake.set_faults(wrong_frames=1)
    ledger, summary, ids = run(tmp_path, [fake.url], manifests[:1], input_root)
    (job,) = [ledger.get(i) for i in ids]
    assert job is not None and job.state is JobState.FAILED and job.error_class == "verify"
    assert "frames 7 (expected 8)" in (job.error_message or "")
    assert not list((tmp_path / "out").rglob("*.mp4"))


def test_hash_mismatch_and_missing_output_are_retried(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    fake = fakes()
    fake.set_faults(bad_hash=1, missing_output=1)
    ledger, summary, ids = run(tmp_path, [fake.url], manifests, input_root)
    assert summary.counts["done"] == 3
    errs = sorted(x.error_class or "" for x in ledger.attempts() if x.state is AttemptState.ERROR)
    assert errs == ["hash_mismatch", "output_missing"]


def test_instance_restart_loses_queue_and_jobs_are_resubmitted(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    fake = fakes(exec_s=0.6)
    stop = threading.Event()

    def restart_when_busy() -> None:
        deadline = time.monotonic() + 20
        while fake.stats.submitted < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        fake.restart()  # queue + history gone; output folder stays

    t = threading.Thread(target=restart_when_busy)
    t.start()
    ledger, summary, ids = run(tmp_path, [fake.url], manifests, input_root, stop=stop)
    t.join()
    assert summary.counts["done"] == 3
    assert summary.faults.get("lost", 0) >= 1
    lost = [x for x in ledger.attempts() if x.state is AttemptState.LOST]
    assert lost and all(ledger.get(x.job_id).state is JobState.DONE for x in lost)  # type: ignore[union-attr]
    assert len(list((tmp_path / "out").rglob("*.mp4"))) == 3


def test_finished_before_restart_is_collected_from_the_output_folder(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    """History lost after completion: the sidecar in the output folder proves it ran."""
    fake = fakes()
    ledger, summary, ids = run(tmp_path, [fake.url], manifests[:1], input_root)
    jid = next(iter(ids))
    att = ledger.attempts(job_id=jid)[0]
    # pretend the orchestrator died right after the POST: attempt live, job submitted
    ledger.set_attempt(att.prompt_id, AttemptState.SUBMITTED)
    ledger.set_job(jid, JobState.SUBMITTED)
    ledger.close()
    fake.restart()
    executed = fake.stats.executed
    ledger2, summary2, _ = run(tmp_path, [fake.url], manifests[:1], input_root)
    assert summary2.counts["done"] == 1 and fake.stats.executed == executed
    assert summary2.faults.get("recovered_from_output_folder") == 1


def test_instance_down_is_drained_to_another(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    a, b = fakes(exec_s=2.0), fakes()

    def kill_a() -> None:
        deadline = time.monotonic() + 20
        while a.stats.submitted < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        a.stop()

    t = threading.Thread(target=kill_a)
    t.start()
    ledger, summary, ids = run(tmp_path, [a.url, b.url], manifests, input_root)
    t.join()
    assert summary.counts["done"] == 3
    assert all(Path(ledger.get(i).output_path or "").exists() for i in ids)  # type: ignore[union-attr]
    assert any(x.state is AttemptState.ABANDONED for x in ledger.attempts())


def test_client_shapes_against_fake(tmp_path: Path, fakes) -> None:
    fake = fakes()
    c = ComfyClient(fake.url, token="secret")
    assert c.system_stats()["system"]["comfyui_version"] == "0.3.64"
    assert "NVENCEncode" in c.object_info()
    with pytest.raises(PromptRejected) as e:
        c.submit({"1": {"class_type": "Nope", "inputs": {}}}, prompt_id="p", client_id="c")
    assert "Nope does not exist" in str(e.value)
    assert c.history("unknown") is None and "x" not in c.queue()
    assert c.view_bytes("nothing.mp4", subfolder="vidgen") is None


def test_batch_groups_writes_but_attempts_are_durable_before_submission(tmp_path: Path) -> None:
    """Inside ``batch()`` progress writes wait for the end of the pass, but
    ``begin_attempts`` commits at once (write-ahead before POST /prompt)."""
    import sqlite3

    db = tmp_path / "l.db"
    led = SqliteLedger(db)
    jobs = [
        led.add_job(
            manifest_hash=f"{i:064x}",
            workflow="camera_only@1",
            manifest_id=f"m{i}",
            manifest_json="{}",
            input_root=str(tmp_path),
        )[0]
        for i in range(3)
    ]

    def other() -> dict[str, str]:
        with sqlite3.connect(db) as c:
            return dict(c.execute("SELECT job_id, state FROM jobs").fetchall())

    with led.batch():
        led.set_job(jobs[0].job_id, JobState.FAILED, error_message="x")
        assert other()[jobs[0].job_id] == "queued"  # not committed yet
        atts = led.begin_attempts([(jobs[1].job_id, "gpu0"), (jobs[2].job_id, "gpu1")])
        seen = other()  # a second connection (a restarted dispatcher) sees them now
        assert seen[jobs[1].job_id] == seen[jobs[2].job_id] == "submitted"
        assert seen[jobs[0].job_id] == "failed"  # the open batch was committed with them
        led.set_attempt(atts[0].prompt_id, AttemptState.SUBMITTED)
        with pytest.raises(KeyError):  # a failed write inside a batch rolls back alone
            led.begin_attempt("no-such-job", "gpu0")
        led.set_job(jobs[2].job_id, JobState.RUNNING)
    assert other()[jobs[2].job_id] == "running"
    assert [a.state for a in led.attempts(job_id=jobs[1].job_id)] == [AttemptState.SUBMITTED]
    led.close()


def test_dispatch_filter_keeps_only_what_the_dispatcher_acts_on() -> None:
    keep = dispatch_filter(interval_s=3600)
    node = json.dumps({"type": "executing", "data": {"node": "7", "prompt_id": "p"}})
    done = json.dumps({"type": "executing", "data": {"node": None, "prompt_id": "p"}})
    compact = '{"type":"executing","data":{"node":"7","prompt_id":"p"}}'
    assert not keep("executing", node)
    assert keep("executing", done)
    assert keep("executing", compact)  # a layout it cannot read is parsed, not dropped
    assert keep("progress", "{}") and not keep("progress", "{}")  # one per interval
    assert keep("execution_success", "{}")
    assert "status" not in DISPATCH_EVENTS and "progress_state" not in DISPATCH_EVENTS


def test_dispatcher_sees_connect_then_only_the_events_it_acts_on(
    tmp_path: Path, fakes, manifests: list[Path], input_root: Path
) -> None:
    """Over the fake's real websocket: per instance ``_connected`` comes before any
    event, per-node ``executing``/``progress_state``/``status`` never reach the
    dispatcher, and each prompt's ``execution_success`` and ``executing`` null do."""
    seen: list[tuple[str, str, str | None]] = []

    class Recording(Dispatcher):
        def _on_event(self, name, ev):  # type: ignore[no-untyped-def]
            seen.append((name, ev.type, ev.data.get("node", "-")))
            super()._on_event(name, ev)

    fake = fakes()
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ids = {s.job.job_id for s in submit_manifests(ledger, manifests, input_root) if s.job}
    wf = build_test_workflow()
    d = Recording(
        ledger,
        fleet_from_urls([fake.url], **FAST),
        out_dir=tmp_path / "out",
        workflows=lambda ref: wf,
        verifier=Verifier(probe=probe_for_tests()),
        policy=POLICY,
    )
    assert d.run(ids, timeout_s=60).counts["done"] == 3
    types = [t for _, t, _ in seen]
    assert types[0] == "_connected"
    assert set(types) <= DISPATCH_EVENTS | {"_connected", "_disconnected"}
    assert types.count("execution_start") == 3
    assert types.count("execution_success") == 3
    assert [n for _, t, n in seen if t == "executing"] == [None, None, None]


def test_fill_never_touches_the_shipped_graph() -> None:
    from comfy_vidgen.manifest_loading import INLINE_CHOICE
    from orchestrator.workflow import fill, load_workflow

    wf = load_workflow("camera_only@2")
    before = json.dumps(wf.graph, sort_keys=True)
    a, b = fill(wf, '{"a": 1}', "job-a"), fill(wf, '{"b": 2}', "job-b")
    assert json.dumps(wf.graph, sort_keys=True) == before
    assert a[wf.loader_id]["inputs"]["manifest_json"] == '{"a": 1}'
    assert b[wf.loader_id]["inputs"]["manifest_json"] == '{"b": 2}'
    assert a[wf.loader_id]["inputs"]["manifest"] == INLINE_CHOICE
    assert a[wf.loader_id]["inputs"]["workflow"] == "camera_only@2"  # the declaration stays
    for eid in wf.encoder_ids:
        assert (a[eid]["inputs"]["job_id"], b[eid]["inputs"]["job_id"]) == ("job-a", "job-b")
    assert set(a) == set(wf.graph)


def test_websocket_reads_ahead_with_the_installed_websocket_client(fakes) -> None:
    """The listener's 16 KiB read-ahead relies on websocket-client's frame buffer
    layout (``recv`` + ``recv_buffer``); if an upgrade changes it, the read-ahead turns
    itself off silently, so check here that it is still in force and still correct."""
    import websocket

    from orchestrator.client import _READ_AHEAD, _read_ahead

    fake = fakes()
    ws = websocket.create_connection(ComfyClient(fake.url).ws_url("probe"), timeout=10)
    try:
        asked: list[int] = []
        inner = ws.frame_buffer.recv
        ws.frame_buffer.recv = lambda n: (asked.append(n), inner(n))[1]
        _read_ahead(ws)
        greeting = json.loads(ws.recv())  # the fake greets like ComfyUI: `status`
        assert greeting["type"] == "status"
        assert asked and set(asked) == {_READ_AHEAD}
    finally:
        ws.close()
