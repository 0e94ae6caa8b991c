"""Helpers the SVD and LTX-Video builders share beyond ``common``: fp16 state dicts, buffers.

Each part of a file (UNet, VAE, image or text encoder) is built by the pinned ComfyUI's
own class, initialised, and turned into a prefixed fp16 state dict at once, so at most one
full-size part is in memory in fp32 at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

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


def _sort_metadata_in_header(path: Path) -> None:
    """Rewrite the safetensors header of ``path`` with its metadata keys sorted, in place.

    safetensors serialises ``__metadata__`` from a Rust HashMap, whose order changes from
    one process to the next, so the same tensors and metadata give different bytes per
    run. The sorted header has the same characters, so it fits the same length (padded
    with spaces, as safetensors pads) and the data offsets stay valid.
    """
    with path.open("r+b") as fh:
        size = int.from_bytes(fh.read(8), "little")
        raw = fh.read(size)
        header = json.loads(raw)
        meta = header.get("__metadata__")
        if not meta:
            return
        header["__metadata__"] = dict(sorted(meta.items()))
        rest = {k: v for k, v in header.items() if k != "__metadata__"}
        ordered = {"__metadata__": header["__metadata__"], **rest}
        new = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
        if len(new) > size:
            raise RuntimeError(
                f"{path}: sorted safetensors header does not fit ({len(new)} > {size})"
            )
        fh.seek(8)
        fh.write(new + b" " * (size - len(new)))


def save_safetensors_sorted(
    state_dict: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]
) -> None:
    """Like ``common.save_safetensors`` (atomic), but the same input gives the same bytes.

    ``common.save_safetensors`` writes the metadata in safetensors' per-process HashMap
    order; this writes the temporary file the same way, sorts its header's metadata,
    then renames it into place.
    """
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        _sort_metadata_in_header(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from a ComfyUI run as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
