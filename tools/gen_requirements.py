"""Write requirements.txt from pyproject.toml for `pip install -r` inside ComfyUI.

ComfyUI owns torch (ComfyUI-Manager also refuses to touch it), so the torch family is
left out; every other runtime dependency is copied verbatim. `tests/test_packaging.py`
fails when the committed file is stale.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXCLUDED = {"torch", "torchvision", "torchaudio"}
HEADER = (
    "# Generated from pyproject.toml by tools/gen_requirements.py; do not edit.\n"
    "# For `pip install -r requirements.txt` inside ComfyUI: torch is ComfyUI's own and never listed.\n"
)


def render() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    keep = [d for d in deps if re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() not in EXCLUDED]
    return HEADER + "".join(f"{d}\n" for d in keep)


def main() -> int:
    (ROOT / "requirements.txt").write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
