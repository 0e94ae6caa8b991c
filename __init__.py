"""ComfyUI entry point: this repository is also a ``custom_nodes`` folder.

Only re-exports; all code lives in the ``comfy_vidgen`` package.
"""

from .comfy_vidgen.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, WEB_DIRECTORY

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
