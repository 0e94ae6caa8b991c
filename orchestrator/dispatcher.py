"""The ComfyUI dispatcher: keeps each instance's queue short, collects, reconciles.

One thread owns the ledger and all decisions; websocket listeners only feed it
events, and a small pool downloads + verifies outputs. Truth comes from
``/history``: an event only makes the dispatcher look sooner. Every in-flight
attempt is reconciled (``/history`` -> ``/queue`` -> ``/history`` again -> the
output folder) at start-up, after a websocket reconnect, after an instance comes
back, and periodically; an attempt found nowhere is *lost* and resubmitted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from comfy_vidgen.encode.delivery import output_subfolder
from comfy_vidgen.manifest import (
    Manifest,
    ManifestError,
    canonical_json,
    manifest_hash,
    with_keyframe_path,
)

from . import audit, deliveries
from .client import Event, HistoryEntry, PromptRejected, TransportError
from .fleet import FleetConfig, Instance, make_instances
from .ledger import (
    IN_FLIGHT,
    LIVE_ATTEMPTS,
    TERMINAL,
    Attempt,
    AttemptState,
    Job,
    JobState,
    Ledger,
)
from .retry import REJECTING, ErrorClass, RetryPolicy, classify_execution_error
from .verify import Expected, Verifier
from .workflow import Workflow, WorkflowError, check, fill

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Progress sink (the CLI draws bars; tests record)."""

    def job_state(self, job: Job, state: JobState, instance: str | None, detail: str) -> None: ...
    def progress(self, job_id: str, instance: str, value: int, total: int) -> None: ...


class NullReporter:
    def job_state(self, job: Job, state: JobState, instance: str | None, detail: str) -> None:
        log.info("job %s -> %s on %s %s", job.job_id, state.value, instance, detail)

    def progress(self, job_id: str, instance: str, value: int, total: int) -> None:
        pass


@dataclass
class Tracked:
    attempt: Attempt
    job: Job
    due: float = 0.0  # next reconcile time
    started_at: float | None = None
    busy: bool = False  # a download/verify is under way
    submitted_hash: str | None = None  # manifest_hash of the manifest as sent (None: recompute)


@dataclass
class _Planned:
    """A job chosen for an instance, ready to be written ahead and posted."""

    inst: Instance
    job: Job
    workflow: Workflow
    manifest_json: str  # the manifest as sent (keyframe path = the uploaded copy)
    submitted_hash: str


@dataclass
class _Collected:
    """What a verification worker hands back to the dispatcher thread."""

    tracked: Tracked
    ok: bool
    error_class: ErrorClass | None = None
    error: str = ""
    retry_collect: bool = False
    output_path: str | None = None
    audit_path: str | None = None


@dataclass
class RunSummary:
    counts: dict[str, int]
    faults: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False


WorkflowSource = Callable[[str], Workflow]


def _sidecar_location(attempt: Attempt, manifest_id: str) -> tuple[str, str]:
    """Where NVENCEncode writes for this attempt (subfolder, file stem)."""
    return output_subfolder(manifest_id), attempt.attempt_job_id


class Dispatcher:
    def __init__(
        self,
        ledger: Ledger,
        fleet: FleetConfig,
        *,
        out_dir: Path,
        workflows: WorkflowSource,
        verifier: Verifier | None = None,
        policy: RetryPolicy | None = None,
        reporter: Reporter | None = None,
        verify_workers: int = 2,
        seed: int | None = None,
        full_lint: bool = False,
    ) -> None:
        self.full_lint = full_lint
        self.ledger = ledger
        self.fleet = fleet
        self.out_dir = Path(out_dir)
        self.workflows = workflows
        self.verifier = verifier or Verifier()
        self.policy = policy or RetryPolicy()
        self.reporter: Reporter = reporter or NullReporter()
        self.instances = {i.name: i for i in make_instances(fleet)}
        self.events: queue.Queue[tuple[str, Event]] = queue.Queue()
        self._early: tuple[str, Event] | None = None
        self.tracked: dict[str, Tracked] = {}
        self.faults: dict[str, int] = {}
        self._wf_cache: dict[str, Workflow | WorkflowError] = {}
        self._pool = ThreadPoolExecutor(verify_workers, thread_name_prefix="verify")
        self._futures: set[Future[_Collected]] = set()
        self._rng = random.Random(seed)

    # ------------------------------------------------------------------ bookkeeping
    def _count(self, what: str) -> None:
        self.faults[what] = self.faults.get(what, 0) + 1

    def _load_workflow(self, ref: str) -> Workflow:
        cached = self._wf_cache.get(ref)
        if cached is None:
            try:
                wf = self.workflows(ref)
                check(wf, full=self.full_lint)  # lint once, before the first submission
                cached = wf
            except WorkflowError as e:
                cached = e
            self._wf_cache[ref] = cached
        if isinstance(cached, WorkflowError):
            raise cached
        return cached

    def _state(
        self, job: Job, state: JobState, inst: str | None, detail: str = "", **kw: Any
    ) -> None:
        self.ledger.set_job(job.job_id, state, **kw)
        self.reporter.job_state(job, state, inst, detail)

    # ------------------------------------------------------------------ main loop
    def run(
        self,
        job_ids: set[str] | None = None,
        stop: threading.Event | None = None,
        timeout_s: float | None = None,
    ) -> RunSummary:
        stop = stop or threading.Event()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        now = time.time()
        for inst in self.instances.values():
            inst.check_health(now)
            inst.start_listener(self.events)
        self._adopt_in_flight()
        try:
            while not stop.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    break
                # one ledger transaction per pass; begin_attempts commits before any POST
                with self.ledger.batch():
                    now = time.time()
                    self._drain_events()
                    self._health_tick(now)
                    self._collect_results()
                    self._reconcile_due(now)
                    self._fill(now, job_ids)
                    finished = self._finished(job_ids)
                if finished:
                    break
                self._wait_event(timeout=0.02)
        finally:
            self._shutdown()
        return RunSummary(
            counts=self.ledger.counts(), faults=dict(self.faults), interrupted=stop.is_set()
        )

    def _finished(self, job_ids: set[str] | None) -> bool:
        if self.tracked or self._futures:
            return False
        if job_ids is None:
            c = self.ledger.counts()
            return all(c[s.value] == 0 for s in (JobState.QUEUED, *IN_FLIGHT))
        return all((j := self.ledger.get(jid)) is None or j.state in TERMINAL for jid in job_ids)

    def _shutdown(self) -> None:
        for inst in self.instances.values():
            inst._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._collect_results()
        for inst in self.instances.values():
            inst.stop_listener()

    # ------------------------------------------------------------------ start-up
    def _adopt_in_flight(self) -> None:
        """Every attempt that may exist on an instance is tracked and reconciled now."""
        for att in self.ledger.attempts(states=LIVE_ATTEMPTS):
            job = self.ledger.get(att.job_id)
            if job is None:
                continue
            if att.instance not in self.instances:
                log.warning(
                    "attempt %s ran on %s, which is not in this fleet: resubmitting",
                    att.prompt_id,
                    att.instance,
                )
                self._fail(Tracked(att, job), ErrorClass.LOST, "instance left the fleet")
                continue
            self.tracked[att.prompt_id] = Tracked(att, job, due=0.0)
        # a job left in flight without a live attempt (e.g. its attempt was abandoned)
        live = {t.job.job_id for t in self.tracked.values()}
        for job in self.ledger.jobs(IN_FLIGHT):
            if job.job_id not in live:
                self.ledger.requeue(
                    job.job_id,
                    not_before=0.0,
                    error_class=ErrorClass.LOST,
                    error_message="no live attempt after restart",
                    avoid_instance=None,
                    lost=True,
                )

    # ------------------------------------------------------------------ health
    def _health_tick(self, now: float) -> None:
        busy = {t.attempt.instance for t in self.tracked.values()}
        # events are due only while a prompt is queued or running there, not while we
        # download and verify its output (that can take longer than ws_silence_s)
        on_instance = {t.attempt.instance for t in self.tracked.values() if not t.busy}
        self._over_budget(now)
        for inst in self.instances.values():
            inst.expecting_events = inst.name in on_instance
            if self._restart_due(inst) and inst.name not in busy:
                self._restart(inst, now, f"after {inst.delivered_since_restart} jobs")
            if now - inst.last_check < self.fleet.health_interval_s:
                continue
            changed = inst.check_health(now)
            if changed and inst.healthy:
                self._instance_back(inst)
            elif changed and inst.restart("not answering"):
                self._count("instance_restart")  # it stays down until it answers
            if not inst.healthy and inst.down_since is not None:
                if now - inst.down_since >= self.fleet.drain_after_s:
                    self._drain(inst)

    def _restart_due(self, inst: Instance) -> bool:
        """Due for its periodic restart: it gets no new work, and restarts once idle."""
        limit = self.fleet.restart_after_jobs
        return bool(limit and inst.cfg.restart_command and inst.delivered_since_restart >= limit)

    def _restart(self, inst: Instance, now: float, why: str) -> None:
        """Restart through the instance's command; it takes no work until it answers."""
        if inst.restart(why):
            self._count("instance_restart")
            inst.healthy, inst.down_since, inst.last_check = False, now, now

    def _over_budget(self, now: float) -> None:
        """A prompt running past ``job_budget_s`` (a hung node, a leaking instance) is
        interrupted and its job moved elsewhere; the instance takes no new work until
        a health probe answers (and is restarted when it has a restart command)."""
        budget = self.fleet.job_budget_s
        if budget is None:
            return
        for t in [t for t in self.tracked.values() if not t.busy and t.started_at is not None]:
            assert t.started_at is not None
            if now - t.started_at <= budget:
                continue
            inst = self.instances[t.attempt.instance]
            pid = t.attempt.prompt_id
            msg = f"ran {now - t.started_at:.0f} s on {inst.name}, over the {budget:g} s budget"
            log.warning("job %s %s: interrupting it", t.job.job_id, msg)
            try:
                inst.client.delete_queued([pid])
                inst.client.interrupt(pid)
            except TransportError as e:
                log.info("could not interrupt %s on %s: %s", pid, inst.name, e)
            del self.tracked[pid]
            self._count(ErrorClass.OVER_BUDGET.value)
            self.ledger.set_attempt(
                pid,
                AttemptState.ABANDONED,
                error_class=ErrorClass.OVER_BUDGET.value,
                error_message=msg,
            )
            self._retry_or_fail(t, ErrorClass.OVER_BUDGET, msg)
            inst.healthy, inst.down_since, inst.last_check = False, now, now
            inst.restart("over budget")

    def _instance_back(self, inst: Instance) -> None:
        """Reconcile everything on it; cancel attempts that were moved elsewhere meanwhile."""
        for t in self._on(inst.name):
            t.due = 0.0
        abandoned = self.ledger.attempts(instance=inst.name, states=[AttemptState.ABANDONED])
        ids = [a.prompt_id for a in abandoned if a.finished_at is None]
        if ids:
            try:
                inst.client.delete_queued(ids)
                q = inst.client.queue()
                for pid in ids:
                    if pid in q.running:
                        inst.client.interrupt(pid)
                for pid in ids:
                    self.ledger.set_attempt(pid, AttemptState.ABANDONED, finished_at=time.time())
            except TransportError as e:
                log.warning("could not cancel abandoned attempts on %s: %s", inst.name, e)

    def _drain(self, inst: Instance) -> None:
        """A down instance keeps its attempts for drain_after_s, then they move elsewhere."""
        for t in self._on(inst.name):
            if t.busy:
                continue
            del self.tracked[t.attempt.prompt_id]
            self._count("instance_down")
            self.ledger.set_attempt(
                t.attempt.prompt_id,
                AttemptState.ABANDONED,
                error_class=ErrorClass.TRANSPORT,
                error_message=f"{inst.name} down",
            )
            self._retry_or_fail(t, ErrorClass.TRANSPORT, f"instance {inst.name} is down")

    def _on(self, name: str) -> list[Tracked]:
        return [t for t in self.tracked.values() if t.attempt.instance == name]

    # ------------------------------------------------------------------ submission
    def _fill(self, now: float, job_ids: set[str] | None) -> None:
        """Top up every healthy instance to ``queue_depth``.

        The attempts of a whole fill are written (write-ahead) in one commit, and
        only then is each ``POST /prompt`` sent.
        """
        healthy = [i for i in self.instances.values() if i.healthy and not self._restart_due(i)]
        if not healthy:
            return
        load = dict.fromkeys((i.name for i in healthy), 0)
        for t in self.tracked.values():
            if t.attempt.instance in load:
                load[t.attempt.instance] += 1
        free = sum(max(0, self.fleet.queue_depth - n) for n in load.values())
        if free <= 0:
            return
        planned: list[_Planned] = []
        for job in self.ledger.next_queued(free * 2, now, job_ids):
            candidates = [i for i in healthy if load[i.name] < self.fleet.queue_depth]
            if not candidates:
                break
            preferred = [i for i in candidates if i.name != job.avoid_instance]
            if not preferred:
                if any(i.name != job.avoid_instance for i in healthy):
                    continue  # wait for another instance rather than repeat the failure
                preferred = candidates
            inst = min(preferred, key=lambda i: load[i.name])
            p = self._prepare(inst, job)
            if p is not None:
                planned.append(p)
                load[inst.name] += 1
        if not planned:
            return
        attempts = self.ledger.begin_attempts((p.job.job_id, p.inst.name) for p in planned)
        for p, att in zip(planned, attempts, strict=True):
            self._post(p, att)

    def _upload_keyframe(self, inst: Instance, job: Job) -> str:
        """Upload into ``vidgen/<sha256[:16]>/`` (content-addressed) and return the input path."""
        from comfy_vidgen.manifest import resolve_under

        kf = job.manifest.keyframe
        key = kf.sha256
        subfolder, name = _upload_path(job.manifest).rsplit("/", 1)
        if key not in inst.uploaded:
            src = resolve_under(job.input_root, kf.path)
            res = inst.client.upload_image(src, subfolder=subfolder, name=name)
            inst.uploaded[key] = f"{res['subfolder'] or subfolder}/{res['name'] or name}"
        return inst.uploaded[key]

    def _prepare(self, inst: Instance, job: Job) -> _Planned | None:
        """Workflow (linted once), keyframe upload and the manifest to send; None if refused."""
        try:
            wf = self._load_workflow(job.workflow)
        except WorkflowError as e:
            self._state(
                job,
                JobState.REJECTED,
                None,
                str(e),
                error_class=ErrorClass.LINT.value,
                error_message=str(e),
            )
            return None
        try:
            submitted = with_keyframe_path(job.manifest, self._upload_keyframe(inst, job))
        except ManifestError as e:
            self._state(
                job,
                JobState.REJECTED,
                None,
                str(e),
                error_class=ErrorClass.MANIFEST.value,
                error_message=str(e),
            )
            return None
        except TransportError as e:
            self._count("transport")
            inst.failures += 1
            self.ledger.requeue(
                job.job_id,
                not_before=time.time() + self.policy.base_s,
                error_class=ErrorClass.TRANSPORT,
                error_message=str(e),
                avoid_instance=inst.name,
            )
            return None
        return _Planned(inst, job, wf, canonical_json(submitted).decode(), manifest_hash(submitted))

    def _post(self, p: _Planned, attempt: Attempt) -> bool:
        """``POST /prompt`` of an attempt that is already durable in the ledger."""
        inst = p.inst
        job = dataclasses.replace(
            p.job, state=JobState.SUBMITTED, attempts=attempt.n, instance=inst.name
        )
        t = Tracked(
            attempt,
            job,
            due=time.time() + self.fleet.poll_interval_s,
            submitted_hash=p.submitted_hash,
        )
        self.tracked[attempt.prompt_id] = t
        graph = fill(p.workflow, p.manifest_json, attempt.attempt_job_id)
        try:
            inst.client.submit(graph, prompt_id=attempt.prompt_id, client_id=inst.client_id)
        except PromptRejected as e:
            del self.tracked[attempt.prompt_id]
            self._fail(t, ErrorClass.VALIDATION, str(e))
            return False
        except TransportError as e:
            self._count("transport")
            if e.ambiguous:
                t.due = 0.0  # it may have been queued: reconcile instead of guessing
                return True
            del self.tracked[attempt.prompt_id]
            self._fail(t, ErrorClass.TRANSPORT, str(e))
            return False
        self.ledger.set_attempt(attempt.prompt_id, AttemptState.SUBMITTED)
        self.reporter.job_state(job, JobState.SUBMITTED, inst.name, f"attempt {attempt.n}")
        return True

    # ------------------------------------------------------------------ events
    def _wait_event(self, timeout: float) -> None:
        """Sleep until an event arrives (kept for the next pass) or ``timeout``."""
        if self._early is not None:
            return
        try:
            self._early = self.events.get(timeout=timeout)
        except queue.Empty:
            pass

    def _drain_events(self) -> None:
        if self._early is not None:
            item, self._early = self._early, None
            self._on_event(*item)
        while True:
            try:
                name, ev = self.events.get_nowait()
            except queue.Empty:
                return
            self._on_event(name, ev)

    def _on_event(self, name: str, ev: Event) -> None:
        if ev.type in ("_connected", "_disconnected"):
            if ev.type == "_disconnected":
                self._count("ws_disconnect")
            for tr in self._on(name):
                tr.due = 0.0  # events may have been missed: ask /history
            return
        pid = ev.prompt_id
        found = self.tracked.get(pid) if pid else None
        if found is None or found.attempt.instance != name:
            return
        t = found
        if ev.type == "execution_start":
            self._mark_running(t)
        elif ev.type == "progress":
            self.reporter.progress(
                t.job.job_id, name, int(ev.data.get("value", 0)), int(ev.data.get("max", 1))
            )
        elif ev.type in ("execution_success", "execution_error", "execution_interrupted") or (
            ev.type == "executing" and ev.data.get("node") is None
        ):
            t.due = 0.0

    def _mark_running(self, t: Tracked) -> None:
        if t.started_at is not None:
            return
        t.started_at = time.time()
        self.ledger.set_attempt(t.attempt.prompt_id, AttemptState.RUNNING, started_at=t.started_at)
        self._state(t.job, JobState.RUNNING, t.attempt.instance)

    # ------------------------------------------------------------------ reconciliation
    def _reconcile_due(self, now: float) -> None:
        due = [t for t in self.tracked.values() if t.due <= now and not t.busy]
        if not due:
            return
        by_inst: dict[str, list[Tracked]] = {}
        for t in due:
            by_inst.setdefault(t.attempt.instance, []).append(t)
        for name, ts in by_inst.items():
            inst = self.instances[name]
            if not inst.healthy:
                for t in ts:
                    t.due = now + self.fleet.poll_interval_s
                continue
            try:
                self._reconcile(inst, ts, now)
            except TransportError as e:
                inst.failures += 1
                log.info("reconcile on %s failed (%s): retrying later", name, e)
                for t in ts:
                    t.due = now + self.fleet.poll_interval_s

    def _reconcile(self, inst: Instance, ts: list[Tracked], now: float) -> None:
        unknown: list[Tracked] = []
        for t in ts:
            h = inst.client.history(t.attempt.prompt_id)
            if h is not None:
                self._finished_on_instance(inst, t, h)
            else:
                unknown.append(t)
        if not unknown:
            return
        q = inst.client.queue()
        for t in unknown:
            pid = t.attempt.prompt_id
            if pid in q:
                if pid in q.running:
                    self._mark_running(t)
                t.due = now + self.fleet.poll_interval_s
                continue
            h = inst.client.history(pid)  # it may have finished between the two calls
            if h is not None:
                self._finished_on_instance(inst, t, h)
                continue
            # in neither queue nor history: finished before a restart, or lost
            subfolder, stem = _sidecar_location(t.attempt, t.job.manifest_id)
            raw = inst.client.view_bytes(f"{stem}.json", subfolder=subfolder)
            if raw is not None:
                try:
                    sidecar = json.loads(raw)
                except ValueError:
                    sidecar = {}
                self._count("recovered_from_output_folder")
                entry = {
                    "filename": f"{stem}.mp4",
                    "subfolder": subfolder,
                    "type": "output",
                    "sha256": sidecar.get("sha256"),
                    "sidecar": f"{stem}.json",
                    "encoder": sidecar.get("encoder"),
                    "frames": sidecar.get("frames"),
                }
                self._start_collect(inst, t, entry, None)
            else:
                self._count("lost")
                del self.tracked[pid]
                self._fail(t, ErrorClass.LOST, f"prompt {pid} vanished from {inst.name}")

    def _finished_on_instance(self, inst: Instance, t: Tracked, h: HistoryEntry) -> None:
        if h.success:
            outs = h.vidgen_outputs()
            if not outs:
                self._count("output_missing")
                del self.tracked[t.attempt.prompt_id]
                self._fail(t, ErrorClass.OUTPUT_MISSING, "history has no vidgen_outputs")
                return
            self._start_collect(inst, t, outs[0], h)
            return
        del self.tracked[t.attempt.prompt_id]
        err = h.message("execution_error")
        if err is not None:
            cls = classify_execution_error(
                str(err.get("exception_type", "")), str(err.get("exception_message", ""))
            )
            self._count(cls.value)
            msg = (
                f"{err.get('node_type')} (node {err.get('node_id')}): "
                f"{err.get('exception_type')}: {err.get('exception_message')}"
            )
            self._fail(t, cls, msg)
        elif h.message("execution_interrupted") is not None:
            self._count("interrupted")
            self._fail(t, ErrorClass.INTERRUPTED, f"interrupted on {inst.name}")
        else:
            self._fail(t, ErrorClass.EXECUTION, f"status {h.status_str} without an error message")

    # ------------------------------------------------------------------ collection
    def _start_collect(
        self, inst: Instance, t: Tracked, entry: dict[str, Any], h: HistoryEntry | None
    ) -> None:
        t.busy = True
        if t.attempt.state is not AttemptState.VERIFYING:
            self.ledger.set_attempt(
                t.attempt.prompt_id, AttemptState.VERIFYING, finished_at=time.time()
            )
            self._state(t.job, JobState.VERIFYING, inst.name)
        fut = self._pool.submit(self._collect, inst, t, entry, h)
        self._futures.add(fut)

    def _collect(
        self, inst: Instance, t: Tracked, entry: dict[str, Any], h: HistoryEntry | None
    ) -> _Collected:
        """Worker thread: download, verify, deliver, audit. No ledger writes here."""
        job, att = t.job, t.attempt
        tmp = self.out_dir / deliveries.INCOMING / f"{att.attempt_job_id}.mp4"
        try:
            if not inst.client.download(
                entry["filename"],
                tmp,
                subfolder=entry.get("subfolder", ""),
                type=entry.get("type", "output"),
            ):
                return _Collected(
                    t,
                    False,
                    ErrorClass.OUTPUT_MISSING,
                    f"{entry['subfolder']}/{entry['filename']} is not on {inst.name}",
                )
        except TransportError as e:
            return _Collected(t, False, ErrorClass.TRANSPORT, str(e), retry_collect=True)
        manifest = json.loads(job.manifest_json)
        res = self.verifier.verify(
            tmp, Expected.from_manifest(job.manifest), entry.get("sha256"), job.manifest
        )
        if not res.ok:
            tmp.unlink(missing_ok=True)
            assert res.error_class is not None
            return _Collected(t, False, res.error_class, res.error or "verification failed")
        timings = self._timings(att, h)
        kf_path = inst.uploaded.get(job.manifest.keyframe.sha256) or _upload_path(job.manifest)
        record = audit.build_record(
            job_id=job.job_id,
            attempt=att.n,
            prompt_id=att.prompt_id,
            manifest=manifest,
            manifest_hash=job.manifest_hash,
            submitted_manifest_hash=t.submitted_hash
            if t.submitted_hash and kf_path == inst.uploaded.get(job.manifest.keyframe.sha256)
            else _submitted_hash(job.manifest, kf_path),
            workflow=job.workflow,
            workflow_sha256=self._wf_sha(job.workflow),
            instance=inst.name,
            gpu=inst.gpu,
            comfyui_version=inst.comfyui_version,
            timings=timings,
            encoder=entry.get("encoder"),
            output={
                "sha256": res.sha256,
                "source": entry,
                "attempt_job_id": att.attempt_job_id,
            },
            verification=res.to_dict(),
            engine="comfyui",
        )
        record["submitted_keyframe_path"] = kf_path
        where = deliveries.deliver(self.out_dir, job, tmp, record)
        return _Collected(t, True, output_path=str(where.mp4), audit_path=str(where.audit))

    def _wf_sha(self, ref: str) -> str | None:
        wf = self._wf_cache.get(ref)
        return wf.sha256 if isinstance(wf, Workflow) else None

    @staticmethod
    def _timings(att: Attempt, h: HistoryEntry | None) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            "submitted_at": att.submitted_at,
            "queue_s": None,
            "exec_s": None,
        }
        if h is not None:
            start, end = h.message("execution_start"), h.message("execution_success")
            if start and end and "timestamp" in start and "timestamp" in end:
                out["exec_s"] = (end["timestamp"] - start["timestamp"]) / 1000.0
                out["queue_s"] = max(0.0, start["timestamp"] / 1000.0 - att.submitted_at)
        return out

    def _collect_results(self) -> None:
        for fut in [f for f in self._futures if f.done()]:
            self._futures.discard(fut)
            if fut.cancelled():
                continue
            exc = fut.exception()
            if exc is not None:
                log.error("collection crashed: %r", exc)
                continue
            c = fut.result()
            t = c.tracked
            t.busy = False
            pid = t.attempt.prompt_id
            if c.ok:
                self.tracked.pop(pid, None)
                self.instances[t.attempt.instance].delivered_since_restart += 1
                self.ledger.set_attempt(pid, AttemptState.DONE)
                self._state(
                    t.job,
                    JobState.DONE,
                    t.attempt.instance,
                    c.output_path or "",
                    output_path=c.output_path,
                    audit_path=c.audit_path,
                    error_class=None,
                    error_message=None,
                )
            elif c.retry_collect:
                t.due = time.time() + self.fleet.poll_interval_s
            else:
                assert c.error_class is not None
                self._count(c.error_class.value)
                self.tracked.pop(pid, None)
                self._fail(t, c.error_class, c.error)

    # ------------------------------------------------------------------ failures
    def _fail(self, t: Tracked, cls: ErrorClass, message: str) -> None:
        state = AttemptState.LOST if cls is ErrorClass.LOST else AttemptState.ERROR
        self.ledger.set_attempt(
            t.attempt.prompt_id,
            state,
            finished_at=time.time(),
            error_class=cls.value,
            error_message=message[:4000],
        )
        self._retry_or_fail(t, cls, message)

    def _retry_or_fail(self, t: Tracked, cls: ErrorClass, message: str) -> None:
        job = self.ledger.get(t.job.job_id) or t.job
        lost = job.lost + (1 if cls is ErrorClass.LOST else 0)
        failures = job.failures - (1 if cls is ErrorClass.LOST else 0)
        if self.policy.should_retry(cls, failures, lost):
            delay = 0.0 if cls is ErrorClass.LOST else self.policy.backoff(failures, self._rng)
            avoid = t.attempt.instance if cls is not ErrorClass.LOST else None
            self.ledger.requeue(
                job.job_id,
                not_before=time.time() + delay,
                error_class=cls.value,
                error_message=message[:4000],
                avoid_instance=avoid,
                lost=cls is ErrorClass.LOST,
            )
            self.reporter.job_state(
                job, JobState.QUEUED, t.attempt.instance, f"retry after {cls.value}: {message}"
            )
            return
        final = JobState.REJECTED if cls in REJECTING else JobState.FAILED
        log.warning("job %s %s (%s): %s", job.job_id, final.value, cls.value, message)
        self._state(
            job,
            final,
            t.attempt.instance,
            message,
            error_class=cls.value,
            error_message=message[:4000],
        )


def _submitted_hash(m: Manifest, kf_path: str) -> str | None:
    try:
        return manifest_hash(with_keyframe_path(m, kf_path))
    except ManifestError:
        return None


def _upload_path(m: Manifest) -> str:
    """Content-addressed upload location: ``vidgen/<sha256[:16]>/<file name>``."""
    return f"vidgen/{m.keyframe.sha256[:16]}/{m.keyframe.path.rsplit('/', 1)[-1]}"
