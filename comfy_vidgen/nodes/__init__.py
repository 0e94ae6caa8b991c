"""ComfyUI node registration.

Every module in this package defines ``NODE_CLASS_MAPPINGS`` and
``NODE_DISPLAY_NAME_MAPPINGS`` for its area; they are merged here. Node modules
import nothing from ComfyUI at import time (``comfy.*``, ``folder_paths`` and
``server`` are imported lazily through ``_comfy``), so the pack imports and its
nodes can be unit-tested without ComfyUI.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

#: relative to the pack root (the folder ComfyUI loads); the front-end extension
WEB_DIRECTORY = "./comfy_vidgen/web"

NODE_CLASS_MAPPINGS: dict[str, type[Any]] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _node_id, _cls in getattr(_module, "NODE_CLASS_MAPPINGS", {}).items():
        if _node_id in NODE_CLASS_MAPPINGS:
            raise RuntimeError(f"node id {_node_id!r} registered twice")
        NODE_CLASS_MAPPINGS[_node_id] = _cls
    NODE_DISPLAY_NAME_MAPPINGS.update(getattr(_module, "NODE_DISPLAY_NAME_MAPPINGS", {}))

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
