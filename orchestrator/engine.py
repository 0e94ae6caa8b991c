"""Engines: who executes a job. Both share the ledger, verification and audit.

* ``ComfyUIEngine``: a fleet of ComfyUI instances (``dispatcher.Dispatcher``).
* ``LocalEngine``: the camera_only pipeline in-process (``comfy_vidgen.pipeline``),
  the embedded default that needs no rack.

``submit_manifests`` is the only way jobs enter the ledger: it validates each
manifest (and its keyframe) on the control machine and deduplicates by identity.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from comfy_vidgen.errors import VidgenError
from comfy_vidgen.manifest import (
    ManifestError,
    canonical_json,
    load_manifest,
    manifest_hash,
    verify_keyframe,
)

from . import audit, deliveries
from .dispatcher import Dispatcher, NullReporter, Reporter, RunSummary, WorkflowSource
from .fleet import FleetConfig
from .ledger import LIVE_ATTEMPTS, AttemptState, Job, JobState, Ledger, remember_manifest
from .retry import REJECTING, ErrorClass
from .verify import Expected, Verifier
from .workflow import load_workflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    source: str
    job: Job | None
    created: bool
    error: str | None = None


def submit_manifests(ledger: Ledger, paths: list[Path], input_root: Path) -> list[Submission]:
    """Add each manifest as a job; a known identity reports the existing job and does nothing."""
    out: list[Submission] = []
    root = str(Path(input_root).resolve())
    for p in paths:
        try:
            m = load_manifest(p)
            verify_keyframe(m, root)
        except ManifestError as e:
            out.append(Submission(str(p), None, False, str(e)))
            continue
        canonical = canonical_json(m).decode()
        job, created = ledger.add_job(
            manifest_hash=manifest_hash(m),
            workflow=m.generation.workflow,
            manifest_id=m.id,
            manifest_json=canonical,
            input_root=root,
        )
        remember_manifest(canonical, m)
        out.append(Submission(str(p), job, created))
    return out


class Engine(Protocol):
    name: str

    def run(
        self, job_ids: set[str] | None, stop: threading.Event, timeout_s: float | None = None
    ) -> RunSummary: ...


class ComfyUIEngine:
    name = "comfyui"

    def __init__(
        self,
        ledger: Ledger,
        fleet: FleetConfig,
        *,
        out_dir: Path,
        workflows: WorkflowSource | None = None,
        verifier: Verifier | None = None,
        reporter: Reporter | None = None,
        **kw: Any,
    ) -> None:
        self.dispatcher = Dispatcher(
            ledger,
            fleet,
            out_dir=out_dir,
            workflows=workflows or (lambda ref: load_workflow(ref)),
            verifier=verifier,
            reporter=reporter,
            **kw,
        )

    def run(
        self, job_ids: set[str] | None, stop: threading.Event, timeout_s: float | None = None
    ) -> RunSummary:
        return self.dispatcher.run(job_ids, stop, timeout_s)


#: ``runner(manifest, input_root, out_dir, job_id, on_progress) -> PipelineResult``
LocalRunner = Callable[..., Any]


def _workflow_sha256(ref: str) -> str | None:
    """sha256 of the workflow's api.json: the local engine runs the same graph in-process."""
    from comfy_vidgen.workflow_graph import WorkflowError

    try:
        return load_workflow(ref).sha256
    except (WorkflowError, ValueError):
        return None


def default_local_runner() -> LocalRunner:
    """The in-process camera_only pipeline (imported on use: it loads torch)."""
    from comfy_vidgen.pipeline import run_camera_only

    runner: LocalRunner = run_camera_only
    return runner


class LocalEngine:
    """Runs queued jobs one by one in this process; a rerun resumes after Ctrl-C/crash."""

    name = "local"

    def __init__(
        self,
        ledger: Ledger,
        *,
        out_dir: Path,
        runner: LocalRunner | None = None,
        verifier: Verifier | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.ledger = ledger
        self.out_dir = Path(out_dir)
        self._runner = runner
        self.verifier = verifier or Verifier()
        self.reporter: Reporter = reporter or NullReporter()

    def run(
        self, job_ids: set[str] | None, stop: threading.Event, timeout_s: float | None = None
    ) -> RunSummary:
        # an attempt left live by a crash cannot still be running: its process is gone
        for att in self.ledger.attempts(states=LIVE_ATTEMPTS, instance="local"):
            self.ledger.set_attempt(
                att.prompt_id,
                AttemptState.LOST,
                finished_at=time.time(),
                error_class=ErrorClass.LOST.value,
                error_message="interrupted local run",
            )
            self.ledger.requeue(
                att.job_id,
                not_before=0.0,
                error_class=ErrorClass.LOST.value,
                error_message="interrupted local run",
                avoid_instance=None,
                lost=True,
            )
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not stop.is_set():
            if deadline is not None and time.monotonic() > deadline:
                break
            jobs = self.ledger.next_queued(1, time.time(), job_ids)
            if not jobs:
                break
            self._run_one(jobs[0], stop)
        return RunSummary(counts=self.ledger.counts(), interrupted=stop.is_set())

    def _run_one(self, job: Job, stop: threading.Event) -> None:
        runner = self._runner or default_local_runner()
        att = self.ledger.begin_attempt(job.job_id, "local")
        self.ledger.set_attempt(att.prompt_id, AttemptState.RUNNING, started_at=time.time())
        self.ledger.set_job(job.job_id, JobState.RUNNING)
        self.reporter.job_state(job, JobState.RUNNING, "local", f"attempt {att.n}")
        manifest_d = json.loads(job.manifest_json)
        work = deliveries.staging(self.out_dir, att.attempt_job_id)
        t0 = time.monotonic()

        def on_progress(done: int, total: int) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            self.reporter.progress(job.job_id, "local", done, total)

        try:
            m = job.manifest
            result = runner(m, Path(job.input_root), work, att.attempt_job_id, on_progress)
        except KeyboardInterrupt:
            stop.set()
            return  # attempt stays live: the next run marks it lost and redoes it
        except ManifestError as e:
            self._end(job, att.prompt_id, JobState.REJECTED, ErrorClass.MANIFEST, str(e))
            return
        except VidgenError as e:
            self._end(job, att.prompt_id, JobState.FAILED, ErrorClass.EXECUTION, str(e))
            return
        exec_s = time.monotonic() - t0
        self.ledger.set_attempt(att.prompt_id, AttemptState.VERIFYING, finished_at=time.time())
        self.ledger.set_job(job.job_id, JobState.VERIFYING)
        mp4 = Path(result.mp4)
        res = self.verifier.verify(
            mp4, Expected.from_manifest(m), getattr(result, "sha256", None), m
        )
        if not res.ok:
            assert res.error_class is not None
            mp4.unlink(missing_ok=True)  # never delivered
            state = JobState.REJECTED if res.error_class in REJECTING else JobState.FAILED
            self._end(job, att.prompt_id, state, res.error_class, res.error or "")
            return
        timings = {
            "submitted_at": att.submitted_at,
            "queue_s": 0.0,
            "exec_s": exec_s,
            **{f"step_{k}": v for k, v in (getattr(result, "timings", None) or {}).items()},
        }
        record = audit.build_record(
            job_id=job.job_id,
            attempt=att.n,
            prompt_id=None,
            manifest=manifest_d,
            manifest_hash=job.manifest_hash,
            submitted_manifest_hash=job.manifest_hash,
            workflow=job.workflow,
            workflow_sha256=_workflow_sha256(job.workflow),
            instance="local",
            gpu=None,
            comfyui_version=None,
            timings=timings,
            encoder=getattr(result, "encoder", None),
            output={"sha256": res.sha256, "attempt_job_id": att.attempt_job_id},
            verification=res.to_dict(),
            engine="local",
        )
        sidecar = getattr(result, "sidecar", None)
        where = deliveries.deliver(
            self.out_dir, job, mp4, record, Path(sidecar) if sidecar is not None else None
        )
        self.ledger.set_attempt(att.prompt_id, AttemptState.DONE)
        self.ledger.set_job(
            job.job_id,
            JobState.DONE,
            output_path=str(where.mp4),
            audit_path=str(where.audit),
            error_class=None,
            error_message=None,
        )
        self.reporter.job_state(job, JobState.DONE, "local", str(where.mp4))

    def _end(self, job: Job, pid: str, state: JobState, cls: ErrorClass, msg: str) -> None:
        self.ledger.set_attempt(
            pid,
            AttemptState.ERROR,
            finished_at=time.time(),
            error_class=cls.value,
            error_message=msg[:4000],
        )
        self.ledger.set_job(job.job_id, state, error_class=cls.value, error_message=msg[:4000])
        self.reporter.job_state(job, state, "local", msg)
