"""Where the pack's own data files are, however it was loaded.

Inside ComfyUI the package is imported as ``custom_nodes.<folder>.comfy_vidgen``, so
``importlib.resources.files("comfy_vidgen")`` would fail there; paths relative to this
file work for a checkout, an editable install and a wheel alike.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PRESETS_DIR = PACKAGE_DIR / "presets"
SPECS_DIR = PACKAGE_DIR / "specs"
SCHEMA_DIR = PACKAGE_DIR / "schema"
