"""Test-only: the one wrapper of ``comfy.sd.load_clip`` that the tiny-encoder hooks share.

ComfyUI builds each text encoder from its fixed full-size config; ``load_clip``'s
``model_options`` can carry a smaller one, which ``CLIPLoader`` never passes. For a file
whose safetensors metadata marks it tiny (``vidgen_tiny`` = "1") and carries a config
under ``config_key``, the wrapper passes that config as ``model_options[option_key]``;
every other file loads exactly as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

TINY_KEY = "vidgen_tiny"

_log = logging.getLogger(__name__)


def tiny_config(path: str, config_key: str) -> dict[str, Any] | None:
    """The small config a tiny file carries under ``config_key``, or None for any other file."""
    if not str(path).endswith(".safetensors"):
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except Exception:  # not ours to judge: ComfyUI's own loader reports bad files
        return None
    if meta.get(TINY_KEY) != "1" or config_key not in meta:
        return None
    config = json.loads(meta[config_key])
    return config if isinstance(config, dict) else None


def install_hook(config_key: str, option_key: str) -> None:
    """Wrap ``comfy.sd.load_clip`` for one encoder (once per ``option_key``; CLIPLoader
    looks the function up on the module at call time, so wrappers chain)."""
    import comfy.sd

    original: Callable[..., Any] = comfy.sd.load_clip
    flag = f"_vidgen_tiny_{option_key}"
    if getattr(original, flag, False):
        return

    def load_clip(ckpt_paths: Sequence[str], *args: Any, **kwargs: Any) -> Any:
        for path in ckpt_paths:
            config = tiny_config(path, config_key)
            if config is None:
                continue
            # load_clip(ckpt_paths, embedding_directory, clip_type, model_options)
            positional = len(args) >= 3
            options = dict((args[2] if positional else kwargs.get("model_options")) or {})
            if option_key not in options:
                options[option_key] = config
                _log.info("vidgen tiny encoder: %s loads with %s", path, option_key)
            if positional:
                args = (*args[:2], options, *args[3:])
            else:
                kwargs["model_options"] = options
            break
        return original(ckpt_paths, *args, **kwargs)

    setattr(load_clip, flag, True)
    comfy.sd.load_clip = load_clip
