"""Test-only ComfyUI custom node: lets CLIPLoader load the tiny text encoders.

Linked into a test ComfyUI's ``custom_nodes`` (never installed for real use). It adds no
nodes; on import it installs the small-config hooks for UMT5 (``umt5``) and, where the
module exists, T5-XXL (``t5``). Checkpoints whose safetensors metadata does not say
``vidgen_tiny`` load exactly as before. See docs/comfyui.md, "Tiny checkpoints".
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

NODE_CLASS_MAPPINGS: dict[str, Any] = {}

for _name in ("umt5", "t5"):
    try:
        _module = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name == f"{__name__}.{_name}":
            continue
        raise
    _module.install()
    logging.info("vidgen_tiny_encoders: %s hook installed", _name)
