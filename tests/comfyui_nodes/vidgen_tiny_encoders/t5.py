"""Test-only: give ComfyUI's CLIP loading the small T5-XXL config of a tiny checkpoint.

ComfyUI builds T5-XXL from its fixed ``t5_config_xxl.json`` (4.76 B parameters) whatever
the file holds; the only way to a smaller architecture is
``model_options["t5xxl_model_config"]``, which ``CLIPLoader`` never passes. This wraps
``comfy.sd.load_clip`` so that, for a file whose safetensors metadata marks it tiny
(``vidgen_tiny`` = "1") and carries ``vidgen_tiny_t5xxl_model_config``, that config is
passed; every other file loads exactly as before. What this skips is the full-size T5
path: a published ``t5xxl_fp16.safetensors`` never reaches this code's branch.
"""

from __future__ import annotations

from typing import Any

from ._hook import install_hook, tiny_config

CONFIG_KEY = "vidgen_tiny_t5xxl_model_config"
OPTION_KEY = "t5xxl_model_config"


def tiny_t5_config(path: str) -> dict[str, Any] | None:
    """The small config a tiny file carries, or None for any other file."""
    return tiny_config(path, CONFIG_KEY)


def install() -> None:
    """Wrap ``comfy.sd.load_clip`` once (idempotent)."""
    install_hook(CONFIG_KEY, OPTION_KEY)
