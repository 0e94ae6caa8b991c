"""``vidgen run|status|retry``: manifests through the local engine or a ComfyUI rack."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._common import add_input_root, add_json_flag, add_parser, emit_json, stop_on_ctrl_c

DEFAULT_LEDGER = "vidgen.db"


def _ledger_arg(value: str) -> Path | str:
    """A SQLite file, or a postgresql:// URL kept as text (Path would fold its ``//``)."""
    return value if value.startswith(("postgres://", "postgresql://")) else Path(value)


def _add_ledger(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ledger",
        type=_ledger_arg,
        default=Path(DEFAULT_LEDGER),
        metavar="FILE|URL",
        help=f"job ledger: SQLite file (WAL) or postgresql://user@host/db shared by several"
        f" dispatchers (default: ./{DEFAULT_LEDGER})",
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    r = add_parser(
        sub,
        "run",
        "run manifests exactly once: verified, audited, resumable (local engine or ComfyUI rack)",
        "vidgen run shots/ --engine comfyui --comfyui http://gpu0:8188 --comfyui http://gpu1:8188"
        " --input-root shots --out deliveries",
    )
    r.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST|DIR")
    r.add_argument(
        "--engine",
        choices=("local", "comfyui"),
        default=None,
        help="local (in-process camera_only; default) or comfyui (default when a rack is given)",
    )
    r.add_argument("--fleet", type=Path, default=None, metavar="TOML", help="rack description")
    r.add_argument(
        "--comfyui",
        action="append",
        default=[],
        metavar="URL",
        help="a ComfyUI instance (repeatable; shortcut for a fleet file of these)",
    )
    r.add_argument("--out", type=Path, default=Path("out"), metavar="DIR", help="deliveries")
    r.add_argument("--queue-depth", type=int, default=None, help="prompts queued per instance")
    r.add_argument(
        "--workflows",
        type=Path,
        default=None,
        metavar="DIR",
        help="workflow folder (default: ./workflows, then the pack's)",
    )
    r.add_argument(
        "--lint",
        choices=("full", "basic"),
        default="full",
        help="full: the pack's workflow lint against the pinned ComfyUI node snapshot (default);"
        " basic: only refuse literals on manifest parameters (custom node sets)",
    )
    qc = r.add_mutually_exclusive_group()
    qc.add_argument(
        "--qc-profile",
        default=None,
        metavar="NAME|FILE",
        help="QC gate every clip must pass before delivery: a preset name or a TOML file"
        " (default: the packaged default gate); a failing clip ends `rejected` with the reasons",
    )
    qc.add_argument("--no-qc", action="store_true", help="skip the QC gate (decode checks stay)")
    r.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (jobs stay resumable)",
    )
    _add_ledger(r)
    add_input_root(r)
    add_json_flag(r)
    r.set_defaults(func=cmd_run)

    s = add_parser(
        sub,
        "status",
        "job counts, per-instance throughput and failures from the ledger",
        "vidgen status --ledger vidgen.db --json",
    )
    _add_ledger(s)
    add_json_flag(s)
    s.set_defaults(func=cmd_status)

    t = add_parser(
        sub,
        "retry",
        "requeue a failed or rejected job (or all failed) with a fresh budget, or a done job"
        " whose delivery was deleted or changed",
        "vidgen retry --failed && vidgen run shots/ --engine comfyui --fleet rack.toml",
    )
    t.add_argument("job", nargs="?", default=None, metavar="JOB")
    t.add_argument("--failed", action="store_true", help="every failed job (not rejected ones)")
    _add_ledger(t)
    add_json_flag(t)
    t.set_defaults(func=cmd_retry)

    v = add_parser(
        sub,
        "verify",
        "re-check every done job's delivery against its audit record (exists, size, sha256)",
        "vidgen verify --ledger vidgen.db --json",
    )
    _add_ledger(v)
    add_json_flag(v)
    v.set_defaults(func=cmd_verify)


def _manifest_paths(items: list[Path]) -> list[Path]:
    paths: list[Path] = []
    for item in items:
        if item.is_dir():
            found = sorted(p for p in item.glob("*.json") if not p.name.endswith(".audit.json"))
            if not found:
                raise UsageError(f"{item} contains no *.json manifests")
            paths.extend(found)
        elif item.is_file():
            paths.append(item)
        else:
            raise UsageError(f"{item} is neither a manifest file nor a directory")
    return paths


class _Display:
    """tqdm bars on a terminal (overall + one per instance); log lines otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.tty = enabled and sys.stderr.isatty()
        self.enabled = enabled
        self.total = total
        self.ended: set[str] = set()
        self.per_instance: dict[str, Any] = {}
        self.bar: Any = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="jobs", unit="job", dynamic_ncols=True, position=0)

    def _inst_bar(self, name: str) -> Any:
        if name not in self.per_instance:
            from tqdm import tqdm

            self.per_instance[name] = tqdm(
                total=1,
                desc=f"  {name}",
                position=len(self.per_instance) + 1,
                leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
                dynamic_ncols=True,
            )
        return self.per_instance[name]

    def job_state(self, job: Any, state: Any, instance: str | None, detail: str) -> None:
        from orchestrator.ledger import TERMINAL

        if not self.enabled:
            return
        if state in TERMINAL and job.job_id not in self.ended:
            self.ended.add(job.job_id)
            if self.bar is not None:
                self.bar.update(1)
        if not self.tty:
            print(
                f"{job.job_id}: {state.value} on {instance or '-'} {detail}".rstrip(),
                file=sys.stderr,
            )
        elif self.bar is not None and state.value in ("failed", "rejected"):
            self.bar.write(f"{job.job_id}: {state.value}: {detail}", file=sys.stderr)

    def progress(self, job_id: str, instance: str, value: int, total: int) -> None:
        if not self.tty:
            return
        b = self._inst_bar(instance)
        b.total, b.n = max(total, 1), value
        b.set_postfix_str(job_id, refresh=True)

    def close(self) -> None:
        for b in self.per_instance.values():
            b.close()
        if self.bar is not None:
            self.bar.close()


def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator import deliveries
    from orchestrator.engine import ComfyUIEngine, LocalEngine, submit_manifests
    from orchestrator.fleet import fleet_from_urls, load_fleet
    from orchestrator.ledger import TERMINAL, JobState
    from orchestrator.ledgers import open_ledger
    from orchestrator.workflow import default_workflow_dirs, load_workflow

    from ..fsutil import check_output

    if args.fleet and args.comfyui:
        raise UsageError("give either --fleet or --comfyui, not both")
    engine_name = args.engine or ("comfyui" if (args.fleet or args.comfyui) else "local")
    if engine_name == "comfyui" and not (args.fleet or args.comfyui):
        raise UsageError("--engine comfyui needs --fleet FILE or --comfyui URL")
    if args.queue_depth is not None and not 1 <= args.queue_depth <= 64:
        raise UsageError(f"--queue-depth must be in 1..64, got {args.queue_depth}")
    check_timeout(args.timeout)
    verifier = _verifier(args)  # a bad --qc-profile is refused before anything runs
    paths = _manifest_paths(args.manifests)
    ledger_file = args.ledger if isinstance(args.ledger, Path) else None
    check_output(args.out, [*paths, ledger_file, args.fleet], option="--out", kind="dir")
    fleet: Any = None
    if engine_name == "comfyui":  # a bad fleet file is refused before the ledger is touched
        if args.fleet:
            fleet = load_fleet(args.fleet)
            if args.queue_depth:
                import dataclasses

                fleet = dataclasses.replace(fleet, queue_depth=args.queue_depth)
        else:
            extra = {"queue_depth": args.queue_depth} if args.queue_depth else {}
            fleet = fleet_from_urls(args.comfyui, **extra)
    ledger = open_ledger(args.ledger)
    try:
        ledger.hold_dispatch()  # a second `vidgen run` on this SQLite file is refused here
        _make_out(args.out)  # before anything renders: a clip is never lost to a bad folder
        removed = deliveries.clean_leftovers(args.out)
        if removed:
            print(
                f"vidgen: removed {removed} leftover file(s) of an interrupted run", file=sys.stderr
            )
        subs = submit_manifests(ledger, paths, args.input_root)
        scope = {s.job.job_id for s in subs if s.job is not None}
        for s in subs:
            if s.error:
                print(f"vidgen: rejected {s.source}: {s.error}", file=sys.stderr)
            elif s.job is not None and not s.created and not args.json:
                print(
                    f"{s.source}: already known as job {s.job.job_id} ({s.job.state.value})",
                    file=sys.stderr,
                )
        pending = {j for j in scope if (job := ledger.get(j)) and job.state not in TERMINAL}
        display = _Display(len(pending), enabled=not args.json)
        try:
            if pending:
                if engine_name == "local":
                    engine: Any = LocalEngine(
                        ledger, out_dir=args.out, reporter=display, verifier=verifier
                    )
                else:
                    dirs = [args.workflows] if args.workflows else default_workflow_dirs()
                    engine = ComfyUIEngine(
                        ledger,
                        fleet,
                        out_dir=args.out,
                        workflows=lambda ref: load_workflow(ref, dirs),
                        reporter=display,
                        verifier=verifier,
                        full_lint=args.lint == "full",
                    )
                with stop_on_ctrl_c() as stop:
                    summary = engine.run(pending, stop, args.timeout)
                interrupted = summary.interrupted
            else:
                interrupted = False
        finally:
            display.close()
        results: list[dict[str, Any]] = []
        ok = all(s.error is None for s in subs)
        for s in subs:
            if s.job is None:
                results.append({"source": s.source, "state": "invalid", "error": s.error})
                continue
            j = ledger.get(s.job.job_id)
            assert j is not None
            gone = deliveries.problem(j) if j.state is JobState.DONE else None
            ok &= j.state is JobState.DONE and gone is None
            if gone is not None:
                print(
                    f"vidgen: job {j.job_id} is done but {gone}: `vidgen retry {j.job_id}` "
                    "delivers it again",
                    file=sys.stderr,
                )
            results.append(
                {
                    "source": s.source,
                    "job_id": j.job_id,
                    "created": s.created,
                    "state": j.state.value,
                    "output": j.output_path,
                    "audit": j.audit_path,
                    "error_class": j.error_class if j.state is not JobState.DONE else None,
                    "error": j.error_message if j.state is not JobState.DONE else None,
                    "delivery_problem": gone,
                }
            )
        if args.json:
            emit_json(
                {
                    "engine": engine_name,
                    "jobs": results,
                    "counts": ledger.counts(),
                    "interrupted": interrupted,
                }
            )
        else:
            for r in results:
                where = r.get("output") or r.get("error") or ""
                print(f"{r['state']:9} {r.get('job_id', r['source'])}  {where}")
        if interrupted:
            print("vidgen: interrupted; rerun the same command to resume", file=sys.stderr)
            return 130
        return 0 if ok else 1
    finally:
        ledger.close()


def check_timeout(value: float | None) -> None:
    """--timeout S: a finite number of seconds > 0 (or absent)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UsageError(f"--timeout must be a number of seconds > 0, got {value}")


def _make_out(out: Path) -> None:
    from ..fsutil import output_error

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise output_error(out, e) from None


def _verifier(args: argparse.Namespace) -> Any:
    """The Verifier of both engines: decode checks, plus the QC gate unless ``--no-qc``."""
    from orchestrator.verify import Verifier

    if args.no_qc:
        return Verifier()
    from comfy_vidgen.qc import verifier_gate
    from comfy_vidgen.qc.profile import ProfileError

    try:
        gate = verifier_gate(args.qc_profile, input_root=args.input_root)
    except ProfileError as e:
        raise UsageError(f"--qc-profile: {e}") from None
    return Verifier(gate=gate)


def cmd_status(args: argparse.Namespace) -> int:
    from orchestrator.ledger import JobState
    from orchestrator.ledgers import open_ledger

    if isinstance(args.ledger, Path) and not args.ledger.is_file():
        raise UsageError(f"no ledger at {args.ledger} (run `vidgen run` first or pass --ledger)")
    ledger = open_ledger(args.ledger)
    try:
        counts = ledger.counts()
        inst = ledger.instance_stats()
        failures = [
            {
                "job_id": j.job_id,
                "state": j.state.value,
                "error_class": j.error_class,
                "error": j.error_message,
                "attempts": j.attempts,
            }
            for j in ledger.jobs([JobState.FAILED, JobState.REJECTED])
        ]
    finally:
        ledger.close()
    if args.json:
        emit_json({"counts": counts, "instances": inst, "failures": failures})
        return 0
    print("  ".join(f"{k}: {v}" for k, v in counts.items()))
    for name, d in sorted(inst.items()):
        print(
            f"{name:12} done {int(d['done']):6}  errors {int(d['errors']):4}  "
            f"mean {d['mean_s']:.1f}s  {d['jobs_per_hour']:.0f} jobs/h"
        )
    for f in failures:
        print(f"{f['state']:8} {f['job_id']}  [{f['error_class']}] {f['error']}")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from orchestrator import deliveries
    from orchestrator.ledger import JobState
    from orchestrator.ledgers import open_ledger

    if bool(args.job) == bool(args.failed):
        raise UsageError("give a JOB id or --failed (not both)")
    if isinstance(args.ledger, Path) and not args.ledger.is_file():
        raise UsageError(f"no ledger at {args.ledger}")
    ledger = open_ledger(args.ledger)
    try:
        if args.failed:
            ids = [j.job_id for j in ledger.jobs([JobState.FAILED])]
        else:
            job = ledger.get(args.job)
            if job is None:
                raise UsageError(f"no job {args.job!r} in {args.ledger}")
            if job.state is JobState.DONE:
                gone = deliveries.problem(job, full=True)
                if gone is None:
                    print(f"job {job.job_id} is done and its delivery is intact", file=sys.stderr)
                    return 1
                deliveries.keep_previous_audit(job)
                redone = ledger.redeliver(job.job_id)
                if args.json:
                    emit_json({"requeued": [job.job_id] if redone else [], "reason": gone})
                else:
                    print(f"requeued {job.job_id} ({gone}); run `vidgen run` to deliver it again")
                return 0 if redone else 1
            if job.state not in (JobState.FAILED, JobState.REJECTED):
                print(f"job {job.job_id} is {job.state.value}: nothing to retry", file=sys.stderr)
                return 1
            ids = [job.job_id]
        done = [i for i in ids if ledger.retry(i)]
    finally:
        ledger.close()
    if args.json:
        emit_json({"requeued": done})
    else:
        print(f"requeued {len(done)} job(s); run `vidgen run` with the same manifests to execute")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from orchestrator import deliveries
    from orchestrator.ledger import JobState
    from orchestrator.ledgers import open_ledger

    if isinstance(args.ledger, Path) and not args.ledger.is_file():
        raise UsageError(f"no ledger at {args.ledger} (run `vidgen run` first or pass --ledger)")
    ledger = open_ledger(args.ledger)
    try:
        jobs = ledger.jobs([JobState.DONE])
    finally:
        ledger.close()
    bad = 0
    for job in jobs:
        gone = deliveries.problem(job, full=True)
        bad += gone is not None
        if args.json:
            emit_json({"job_id": job.job_id, "output": job.output_path, "problem": gone})
        elif gone is not None:
            print(f"BAD  {job.job_id}  {gone}: `vidgen retry {job.job_id}` delivers it again")
    if not args.json:
        print(f"{len(jobs) - bad}/{len(jobs)} done deliveries match their audit records")
    return 1 if bad else 0
