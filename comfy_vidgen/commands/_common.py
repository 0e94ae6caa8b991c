"""Helpers shared by the command modules (kept import-light)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ..errors import UsageError

T = TypeVar("T")


def add_parser(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    help: str,
    example: str,
) -> argparse.ArgumentParser:
    """A sub-command parser whose --help always ends with a worked example."""
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=help,
        epilog=f"Example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return p


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")


def add_input_root(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input-root",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="resolve keyframe.path (and audio.path) under DIR (default: current directory)",
    )


def emit_json(obj: Any) -> None:
    """One compact JSON object per line on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n")
    sys.stdout.flush()


def parse_size(text: str) -> tuple[int, int]:
    """'1024x576' -> (1024, 576)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(
            f"size must look like WIDTHxHEIGHT (e.g. 1024x576), got {text!r}"
        ) from None
    if w <= 0 or h <= 0:
        raise UsageError(f"size must be positive, got {text!r}")
    return w, h


def progress(
    items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it"
) -> Iterator[T]:
    """A tqdm bar on a terminal; plain iteration otherwise (logs stay readable)."""
    if not sys.stderr.isatty():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=desc, unit=unit, dynamic_ncols=True)


@contextlib.contextmanager
def stop_on_ctrl_c() -> Iterator[threading.Event]:
    """The first Ctrl-C sets the event (the run stops cleanly; a rerun resumes);
    a second one aborts at once."""
    stop = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nvidgen: stopping (Ctrl-C again to abort); rerun to resume", file=sys.stderr)

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old)
