"""The ``vidgen`` command.

Each area registers its sub-commands from a module in ``comfy_vidgen.commands``
(discovered, so adding a command never edits this file). Command modules import
only argparse at module level, so ``vidgen --help`` stays fast and torch-free;
heavy imports happen inside the handler that needs them.

Exit codes: 0 success, 1 a rejected or failed item, 2 a usage error. Expected
mistakes print ``vidgen: error: ...`` instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sqlite3
import sys
from collections.abc import Sequence

from . import __version__, commands
from .errors import VidgenError

log = logging.getLogger("comfy_vidgen")


class _Parser(argparse.ArgumentParser):
    """argparse that keeps usage errors at exit code 2 with our prefix."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"vidgen: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vidgen",
        description="comfy-vidgen: photographers' keyframes to short, smooth H.265 clips.",
        epilog="Example: vidgen demo    |    vidgen manifest validate shots/*.json --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"comfy-vidgen {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_usage(sys.stderr)
        print("vidgen: error: give a COMMAND (vidgen --help lists them)", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except VidgenError as e:
        print(f"vidgen: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("vidgen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `vidgen ... | head`
        return 0
    except sqlite3.DatabaseError as e:  # a ledger damaged after it was opened
        print(f"vidgen: error: the ledger database is unreadable ({e})", file=sys.stderr)
        return 2
    except OSError as e:  # disk full, I/O error, a file vanished: the machine, not a bug
        log.debug("OS error", exc_info=True)
        where = f"{e.filename}: " if e.filename else ""
        print(f"vidgen: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
