"""Refresh the committed /object_info snapshot from a real ComfyUI + this pack.

    COMFYUI_DIR=/path/to/ComfyUI [COMFYUI_PYTHON=...] python tools/capture_object_info.py
    python tools/capture_object_info.py --url http://127.0.0.1:8188   # an instance already running

The snapshot (comfy_vidgen/schema/comfyui_object_info.json) is what `vidgen workflow
lint` checks node types and inputs against. Model-file combos are emptied (they list
whatever the capturing machine had installed) so the snapshot depends only on code.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "comfy_vidgen" / "schema" / "comfyui_object_info.json"
KEEP = (
    "input",
    "input_order",
    "output",
    "output_is_list",
    "output_name",
    "name",
    "display_name",
    "category",
    "output_node",
    "python_module",
)


def _strip(info: dict[str, Any]) -> dict[str, Any]:
    node = {k: info[k] for k in KEEP if k in info}
    for section in ("required", "optional"):
        for decl in (node.get("input", {}).get(section) or {}).values():
            if isinstance(decl, list) and decl and isinstance(decl[0], list) and len(decl[0]) > 64:
                decl[0] = []  # huge option lists (e.g. fonts) are data, not interface
            if len(decl) > 1 and isinstance(decl[1], dict):
                decl[1].pop("tooltip", None)
    return node


def capture(url: str) -> dict[str, Any]:
    r = requests.get(f"{url}/object_info", timeout=60)
    r.raise_for_status()
    stats = requests.get(f"{url}/system_stats", timeout=10).json()
    data = {name: _strip(info) for name, info in sorted(r.json().items())}
    data["__meta__"] = {"comfyui_version": stats["system"]["comfyui_version"]}
    return data


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--url", help="a running ComfyUI (with this pack installed)")
    ap.add_argument("-o", "--output", type=Path, default=OUT)
    args = ap.parse_args()
    if args.url:
        data = capture(args.url)
    else:
        spec = importlib.util.spec_from_file_location(
            "live_comfyui", ROOT / "tests" / "live_comfyui.py"
        )
        assert spec and spec.loader
        live = importlib.util.module_from_spec(spec)
        sys.modules["live_comfyui"] = live  # dataclasses look the module up
        spec.loader.exec_module(live)
        with tempfile.TemporaryDirectory() as tmp, live.running_comfyui(Path(tmp)) as comfy:
            data = capture(comfy.url)
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    tmp_out = args.output.with_suffix(".json.part")
    tmp_out.write_text(text)
    tmp_out.replace(args.output)
    print(f"wrote {args.output} ({len(data) - 1} node types, {len(text) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
