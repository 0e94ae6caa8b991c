"""``vidgen shootout``: rank workflows and their settings on QC, cost and capacity; lock the winner."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from ._common import add_json_flag, add_parser, emit_json, stop_on_ctrl_c


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_parser(
        sub,
        "shootout",
        "run candidate workflows x parameter grids over the same shots through the "
        "orchestrator; rank on QC, cost and capacity; write report/index.html, "
        "locked-settings.json and measurements.json (exit 0 with a winner, 1 without)",
        "vidgen shootout shootout.toml --engine comfyui --fleet rack.toml --out shootout-june",
    )
    p.add_argument("config", type=Path, metavar="SHOOTOUT.toml")
    p.add_argument(
        "--engine",
        choices=("local", "comfyui"),
        default=None,
        help="engine for candidates that name none (default: comfyui when a rack is given, "
        "else local)",
    )
    p.add_argument("--fleet", type=Path, default=None, metavar="TOML", help="rack description")
    p.add_argument(
        "--comfyui",
        action="append",
        default=[],
        metavar="URL",
        help="a ComfyUI instance (repeatable; shortcut for a fleet file of these)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("shootout"), metavar="DIR", help="default ./shootout"
    )
    p.add_argument(
        "--input-root",
        type=Path,
        default=None,
        metavar="DIR",
        help="resolve keyframes under DIR (default: input_root in the TOML, else its folder)",
    )
    p.add_argument(
        "--workflows", type=Path, default=None, metavar="DIR", help="workflow folder (comfyui)"
    )
    p.add_argument(
        "--lint",
        choices=("full", "basic"),
        default=None,
        help="workflow lint before submission (default: the TOML's [comfyui] lint, else full)",
    )
    p.add_argument(
        "--timeout", type=float, default=None, metavar="S", help="stop the rack run after S s"
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_shootout)


class _Lines:
    """One stderr line per finished job (the shootout's progress on any terminal)."""

    def job_state(self, job: Any, state: Any, instance: str | None, detail: str) -> None:
        if state.value in ("done", "failed", "rejected"):
            extra = f": {detail}" if state.value != "done" else ""
            print(f"  {job.job_id}: {state.value} on {instance or '-'}{extra}", file=sys.stderr)

    def progress(self, job_id: str, instance: str, value: int, total: int) -> None:
        pass


def cmd_shootout(args: argparse.Namespace) -> int:
    from orchestrator.fleet import fleet_from_urls, load_fleet
    from shootout.run import EngineSetup, run_shootout

    from ..errors import UsageError
    from ..fsutil import check_output

    if args.fleet and args.comfyui:
        raise UsageError("give either --fleet or --comfyui, not both")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout}")
    if not args.config.is_file():
        raise UsageError(f"shootout file {args.config} does not exist or is not a file")
    check_output(args.out, [args.config, args.fleet], option="--out", kind="dir")
    fleet = load_fleet(args.fleet) if args.fleet else None
    if args.comfyui:
        fleet = fleet_from_urls(args.comfyui)
    engine = args.engine or ("comfyui" if fleet is not None else "local")
    setup = EngineSetup(
        fleet=fleet,
        workflow_dirs=[args.workflows] if args.workflows else None,
        full_lint=None if args.lint is None else args.lint == "full",
        timeout_s=args.timeout,
    )
    with stop_on_ctrl_c() as stop:
        result = run_shootout(
            args.config,
            out_dir=args.out,
            default_engine=engine,
            setup=setup,
            input_root=args.input_root,
            reporter=None if args.json else _Lines(),
            stop=stop,
        )
    if args.json:
        emit_json(result.to_dict())
    else:
        _print(result)
    return 0 if result.winner is not None else 1


def _print(result: Any) -> None:
    out = sys.stdout
    cur = result.config.currency
    out.write(f"{'rank':>4}  {'variant':<28} {'engine':<8} {'score':>6} {'QC pass':>7} ")
    out.write(f"{'GPU s':>7} {cur + '/1000':>10} {'clips/day':>10}  verdict\n")
    for r in sorted(result.variants, key=lambda r: r.rank or 0):
        gpu = f"{r.gpu_s_median:.2f}" if r.gpu_s_median is not None else "-"
        cost = f"{r.cost_per_1000:.2f}" if r.cost_per_1000 is not None else "-"
        verdict = "eligible" if r.eligible else "; ".join(r.failures)
        mark = "*" if r is result.winner else " "
        out.write(
            f"{r.rank:>3}{mark}  {r.variant.key:<28} {r.variant.engine:<8} {r.score:>6.3f} "
            f"{r.pass_rate:>7.0%} {gpu:>7} {cost:>10} {r.clips_per_day:>10}  {verdict}\n"
        )
    if result.winner is not None:
        out.write(f"winner: {result.winner.variant.key} ({result.winner.variant.label})\n")
        out.write(f"locked settings: {result.locked}\n")
    else:
        out.write("no winner: no variant met every hard threshold (nothing locked)\n")
    out.write(f"report: {result.report}\nmeasurements: {result.measurements}\n")
