"""``vidgen demo``: the whole flow on a laptop, honestly reported.

real photos -> viability pre-filter -> suggested camera paths -> manifests ->
local engine (virtual camera -> RIFE -> H.265) -> verification -> audit records.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_parser


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_parser(
        sub,
        "demo",
        "run the whole pipeline on bundled real photos (CPU only; fetches the RIFE weights "
        "explicitly first if they are missing)",
        "vidgen demo --out vidgen-demo",
    )
    p.add_argument(
        "--out", type=Path, default=Path("vidgen-demo"), help="demo folder (default ./vidgen-demo)"
    )
    p.set_defaults(func=cmd_demo)


def _say(msg: str) -> None:
    print(msg, flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    import threading

    from orchestrator.engine import LocalEngine, submit_manifests
    from orchestrator.ledgers import open_ledger

    from ..demo import SIZE, prepare
    from ..fsutil import check_output
    from ..models import fetch, load_lock, locate

    out: Path = args.out
    check_output(out, [], option="--out", kind="dir")
    entry = load_lock().get("rife-4.25")
    if locate(entry) is None:
        _say(
            "0. models       rife-4.25 weights missing: `vidgen models fetch rife-4.25` (pinned, sha256-verified)"
        )
        fetch(entry)
    prep = prepare(out, _say)
    ledger = open_ledger(out / "vidgen.db")
    try:
        ledger.hold_dispatch()
        subs = submit_manifests(ledger, prep.manifests, prep.shoot)
        new = sum(1 for s in subs if s.created)
        _say(
            f"5. ledger       {len(subs)} jobs ({new} new, {len(subs) - new} already known) in {out / 'vidgen.db'}"
        )
        _say(
            f"6. local engine rendering {SIZE[0]}x{SIZE[1]}: 120 exact frames -> RIFE (pass-through) -> H.265"
        )
        from comfy_vidgen.qc import verifier_gate
        from orchestrator.verify import Verifier

        gate = Verifier(gate=verifier_gate(None, input_root=prep.shoot))
        engine = LocalEngine(ledger, out_dir=out / "deliveries", verifier=gate)
        summary = engine.run({s.job.job_id for s in subs if s.job is not None}, threading.Event())
        for s in subs:
            job = ledger.get(s.job.job_id) if s.job is not None else None
            if job is None:
                _say(f"   rejected  {s.source}: {s.error}")
                continue
            where = job.output_path or job.error_message or ""
            _say(f"   {job.state.value:<9} {job.job_id}  {where}")
        done = summary.counts.get("done", 0)
        _say(
            f"7. verified     {done} clip(s): decoded, 120 frames at 30 fps, sha256 checked, "
            "QC gate passed (flicker, flashes, frozen frames, camera path); audit records:"
        )
        for audit in sorted((out / "deliveries").rglob("*.audit.json")):
            _say(f"   {audit}")
        return 0 if done == len(prep.manifests) else 1
    finally:
        ledger.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
