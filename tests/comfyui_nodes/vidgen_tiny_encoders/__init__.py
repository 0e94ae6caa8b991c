"""Test-only ComfyUI custom node: lets CLIPLoader load the tiny text encoders.

Linked into a test ComfyUI's ``custom_nodes`` (never installed for real use). It adds no
nodes; on import it installs the small-config hooks for UMT5 (``umt5``) and T5-XXL
(``t5``). Checkpoints whose safetensors metadata does not say
``vidgen_tiny`` load exactly as before. See docs/comfyui.md, "Tiny checkpoints".
"""

from __future__ import annotations

import logging
from typing import Any

from . import t5, umt5

NODE_CLASS_MAPPINGS: dict[str, Any] = {}

for _name, _module in (("umt5", umt5), ("t5", t5)):
    _module.install()
    logging.info("vidgen_tiny_encoders: %s hook installed", _name)
