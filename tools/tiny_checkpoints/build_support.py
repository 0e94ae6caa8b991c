"""Helpers the SVD and LTX-Video builders share beyond ``common``: fp16 state dicts, buffers.

Each part of a file (UNet, VAE, image or text encoder) is built by the pinned ComfyUI's
own class, initialised, and turned into a prefixed fp16 state dict at once, so at most one
full-size part is in memory in fp32 at a time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch


def prefixed_fp16(state_dict: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """``prefix`` + key -> tensor, floating point cast to fp16 (as the published files are)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        tensor = value.detach()
        out[prefix + key] = tensor.to(torch.float16) if tensor.is_floating_point() else tensor
    return out


def require_set_buffers(module: torch.nn.Module, set_names: set[str]) -> None:
    """Fail if ``module`` has a persistent buffer the builder did not set deliberately.

    ``init_module`` initialises parameters only; a persistent buffer that the model
    allocates with ``torch.empty`` would otherwise be saved as whatever memory held,
    breaking both finiteness and same-seed-same-bytes.
    """
    params = {name for name, _ in module.named_parameters()}
    unexpected = [k for k in module.state_dict() if k not in params and k not in set_names]
    if unexpected:
        raise RuntimeError(f"persistent buffers with no deliberate value: {unexpected[:8]}")


@contextlib.contextmanager
def quiet_logging() -> Iterator[None]:
    """Silence warnings while a loader class is built from a marker state dict."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
