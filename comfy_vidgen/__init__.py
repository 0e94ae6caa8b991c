"""comfy-vidgen: manifest-driven keyframe-to-video for ComfyUI.

The package root stays import-light: control-machine commands must start fast
and must not pull in torch or ComfyUI.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("comfy-vidgen")
except PackageNotFoundError:  # running from a checkout inside ComfyUI/custom_nodes
    __version__ = "0.1.0"

__all__ = ["__version__"]
