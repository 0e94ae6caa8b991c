"""Runs many ``vidgen`` command lines in one Python process, for tests/test_hostile_cli.py.

Usage: ``python tests/hostile_driver.py WORKDIR CASES.json`` (run as a subprocess).
Each case is an argv list run through ``comfy_vidgen.cli.main`` exactly as the
``vidgen`` entry point does (``sys.exit(main())``), with stdout and stderr captured
and the working folder snapshotted before and after. Anything that escapes ``main``
is printed as Python would print it (so a traceback is seen, never hidden).
Prints one JSON object per case on the real stdout.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
import sys
import traceback
from pathlib import Path
from typing import Any


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: its kind, mode and content hash (links not followed)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = f"link->{os.readlink(p)}"
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = f"dir {stat.S_IMODE(st.st_mode):o}"
            else:
                out[rel] = (
                    f"file {stat.S_IMODE(st.st_mode):o} "
                    f"{hashlib.sha256(p.read_bytes()).hexdigest()}"
                )
    return out


def run_case(argv: list[str]) -> dict[str, Any]:
    import logging

    from comfy_vidgen.cli import main

    logging.root.handlers.clear()  # main's basicConfig binds the stderr of this case
    out, err = io.StringIO(), io.StringIO()
    code: Any
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse, --help
            code = e.code
        except BaseException:  # what the interpreter would show: a traceback
            traceback.print_exc()
            code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        err.write(f"{code}\n")
        code = 1
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main() -> int:
    work = Path(sys.argv[1])
    cases = json.loads(Path(sys.argv[2]).read_text())
    os.chdir(work)
    real_stdout = sys.stdout
    for case in cases:
        before = snapshot(work)
        result = run_case(case["argv"])
        after = snapshot(work)
        result["id"] = case["id"]
        result["changed"] = sorted(
            k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
        )
        real_stdout.write(json.dumps(result) + "\n")
        real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
