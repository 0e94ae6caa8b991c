"""``vidgen demo``: the whole control-machine flow on a laptop, honestly reported."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_parser


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_parser(
        sub,
        "demo",
        "run the pipeline on bundled real photos (no GPU, no model weights needed)",
        "vidgen demo --out vidgen-demo",
    )
    p.add_argument(
        "--out", type=Path, default=Path("vidgen-demo"), help="demo folder (default ./vidgen-demo)"
    )
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    return run_demo(args.out)
