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

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

TINY_KEY = "vidgen_tiny"
CONFIG_KEY = "vidgen_tiny_t5xxl_model_config"
OPTION_KEY = "t5xxl_model_config"

_log = logging.getLogger(__name__)


def tiny_t5_config(path: str) -> dict[str, Any] | None:
    """The small T5 config a tiny file carries, or None for any other file."""
    if not str(path).endswith(".safetensors"):
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except Exception:  # not ours to judge: ComfyUI's own loader reports bad files
        return None
    if meta.get(TINY_KEY) != "1" or CONFIG_KEY not in meta:
        return None
    config = json.loads(meta[CONFIG_KEY])
    return config if isinstance(config, dict) else None


def install() -> None:
    """Wrap ``comfy.sd.load_clip`` once (idempotent)."""
    import comfy.sd

    original: Callable[..., Any] = comfy.sd.load_clip
    if getattr(original, "_vidgen_tiny_t5", False):
        return

    def load_clip(ckpt_paths: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        for path in ckpt_paths:
            config = tiny_t5_config(path)
            if config is None:
                continue
            # load_clip(ckpt_paths, embedding_directory, clip_type, model_options)
            positional = len(args) >= 3
            given = args[2] if positional else kwargs.get("model_options")
            options = dict(given or {})
            if OPTION_KEY not in options:
                options[OPTION_KEY] = config
                _log.info("vidgen tiny T5: %s loads with %s", path, config)
            if positional:
                args = (*args[:2], options, *args[3:])
            else:
                kwargs["model_options"] = options
            break
        return original(ckpt_paths, *args, **kwargs)

    load_clip._vidgen_tiny_t5 = True  # type: ignore[attr-defined]
    comfy.sd.load_clip = load_clip
