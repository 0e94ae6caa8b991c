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

import json
from typing import Any

TINY_KEY = "vidgen_tiny"
CONFIG_KEY = "vidgen_tiny_umt5xxl_config"
OPTION_KEY = "umt5xxl_model_config"


def tiny_umt5_config(path: str) -> dict[str, Any] | None:
    """The small UMT5 config stored in ``path``'s metadata, or None for any other file."""
    if not str(path).endswith(".safetensors"):
        return None
    from safetensors import safe_open  # type: ignore[import-not-found,unused-ignore]

    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get(TINY_KEY) != "1" or CONFIG_KEY not in meta:
        return None
    config: dict[str, Any] = json.loads(meta[CONFIG_KEY])
    return config


def install() -> None:
    """Wrap comfy.sd.load_clip once (CLIPLoader looks it up on the module at call time)."""
    import comfy.sd

    original = comfy.sd.load_clip
    if getattr(original, "_vidgen_tiny_umt5", False):
        return

    def load_clip(ckpt_paths: list[str], *args: Any, **kwargs: Any) -> Any:
        for path in ckpt_paths:
            config = tiny_umt5_config(path)
            if config is not None:
                options = dict(kwargs.get("model_options") or {})
                options.setdefault(OPTION_KEY, config)
                kwargs["model_options"] = options
                break
        return original(ckpt_paths, *args, **kwargs)

    load_clip._vidgen_tiny_umt5 = True  # type: ignore[attr-defined]
    comfy.sd.load_clip = load_clip
