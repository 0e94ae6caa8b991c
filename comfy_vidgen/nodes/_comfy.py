"""Lazy access to ComfyUI internals; the only place nodes touch ``comfy.*``.

Outside ComfyUI (CLI, tests) these degrade gracefully: no progress bar, no
interrupt, and the input/output folders come from the caller.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import VidgenError


class ComfyUnavailable(VidgenError):
    """A node feature needs ComfyUI's runtime and is not running inside it."""


def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def folder_paths() -> Any:
    fp = _module("folder_paths")
    if fp is None:
        raise ComfyUnavailable("ComfyUI's folder_paths is not importable (not running in ComfyUI)")
    return fp


def input_directory() -> Path:
    return Path(folder_paths().get_input_directory())


def output_directory() -> Path:
    return Path(folder_paths().get_output_directory())


def temp_directory() -> Path:
    """ComfyUI's temp folder (emptied at start-up): previews, never deliveries."""
    return Path(folder_paths().get_temp_directory())


def progress_callback(total: int) -> Callable[[int, int], None]:
    """An ``on_progress(done, total)`` that ticks ComfyUI's bar and honours Cancel.

    Each tick is an interrupt point: ComfyUI raises its InterruptProcessingException
    from ``throw_exception_if_processing_interrupted``.
    """
    utils = _module("comfy.utils")
    mm = _module("comfy.model_management")
    bar = utils.ProgressBar(total) if utils is not None else None

    def on_progress(done: int, total_: int) -> None:
        if mm is not None:
            mm.throw_exception_if_processing_interrupted()
        if bar is not None:
            bar.update_absolute(done, total_)

    return on_progress
