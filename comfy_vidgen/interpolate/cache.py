"""A small cache of loaded weights, keyed by file identity and sha256.

The fp32 master copy stays on the CPU (24.6 MB); each run gets a device copy in the
requested dtype that the caller drops afterwards, so no GPU memory is held between
runs and precision is never lost by casting back and forth.
"""

from __future__ import annotations

import copy
import os
import threading
from pathlib import Path

import torch

from .weights import LoadedModel, load_ifnet

_lock = threading.Lock()
_cache: dict[tuple[str, int, int], LoadedModel] = {}


def cached_cpu_model(path: str | os.PathLike[str]) -> LoadedModel:
    """The fp32 CPU model for ``path``; reloaded when the file changes (size or mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _lock:
        hit = _cache.get(key)
        if hit is None:
            hit = load_ifnet(p, device="cpu", dtype=torch.float32)
            _cache.clear()  # one weights file at a time is all a pipeline uses
            _cache[key] = hit
        return hit


def device_copy(
    model: LoadedModel, device: str | torch.device, dtype: torch.dtype | None = None
) -> LoadedModel:
    """A copy of ``model`` on ``device``/``dtype`` (the same object when nothing changes)."""
    dev = torch.device(device)
    dt = dtype or (torch.float16 if dev.type == "cuda" else torch.float32)
    if dev.type == "cpu" and dt != torch.float32:
        dt = torch.float32  # half precision is not supported on the CPU
    if dev == model.device and dt == model.dtype:
        return model
    net = copy.deepcopy(model.net).to(device=dev, dtype=dt)
    if dev.type == "cuda":
        net.use_channels_last(True)
    return LoadedModel(net=net, path=model.path, sha256=model.sha256, device=dev, dtype=dt)
