"""Print one field of the ComfyUI pin from pyproject.toml ``[tool.vidgen.comfyui]``.

The rack image reads the pin with this at build time, so the pin lives in one place.
Usage: ``python3 comfyui_pin.py pyproject.toml commit|version|repository``
"""

from __future__ import annotations

import re
import sys
import tomllib

PATTERNS = {
    "commit": r"[0-9a-f]{40}",
    "version": r"\d+\.\d+\.\d+",
    "repository": r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+",
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in PATTERNS:
        sys.stderr.write(f"usage: comfyui_pin.py PYPROJECT {{{'|'.join(PATTERNS)}}}\n")
        return 2
    with open(argv[0], "rb") as f:
        pin = tomllib.load(f).get("tool", {}).get("vidgen", {}).get("comfyui", {})
    value = str(pin.get(argv[1], ""))
    if not re.fullmatch(PATTERNS[argv[1]], value):
        sys.stderr.write(f"{argv[0]}: [tool.vidgen.comfyui] {argv[1]} is {value!r}\n")
        return 1
    sys.stdout.write(value + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
