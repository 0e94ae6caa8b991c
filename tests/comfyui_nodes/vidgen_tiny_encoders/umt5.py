"""Give ComfyUI's CLIPLoader the small UMT5 config for text encoders marked tiny.

ComfyUI builds UMT5-XXL from its fixed ``umt5_config_xxl.json`` (5.68 B parameters) and
CLIPLoader never passes the ``umt5xxl_model_config`` override that sd1_clip.py reads. A
tiny checkpoint keeps d_model 4096 and 24 blocks (what detection looks at) and shrinks
the rest, so it loads only with its own config: this wraps ``comfy.sd.load_clip`` to pass
the config stored in the file's safetensors metadata, for files whose metadata says
``vidgen_tiny`` = "1". Every other file takes the untouched path.

What this skips: with the override, the full-size UMT5 construction from ComfyUI's fixed
config (5.68 B parameters) is never exercised by the tiny-checkpoint tests; detection,
the tokenizer from ``spiece_model`` and the fp8-scaled weight path still are. Test-only: loaded by a test ComfyUI, never shipped.
"""

from __future__ import annotations

from typing import Any

from ._hook import install_hook, tiny_config

CONFIG_KEY = "vidgen_tiny_umt5xxl_config"
OPTION_KEY = "umt5xxl_model_config"


def tiny_umt5_config(path: str) -> dict[str, Any] | None:
    """The small config a tiny file carries, or None for any other file."""
    return tiny_config(path, CONFIG_KEY)


def install() -> None:
    """Wrap ``comfy.sd.load_clip`` once (idempotent)."""
    install_hook(CONFIG_KEY, OPTION_KEY)
