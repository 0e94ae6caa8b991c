"""Loading the RIFE 4.25 state dict safely and strictly.

``torch.load(weights_only=True)`` never unpickles code. Keys must match our module
exactly, except these training-only entries the published file also carries:

* ``teacher.*``: the privileged-distillation teacher block (it reads the ground-truth
  middle frame, hence 31 input channels); the RIFE paper uses it only for training.
* ``caltime.*``: a small timestep-estimation head (17 input channels) used in training;
  inference takes t as an input instead.

Any other missing, unexpected or mis-shaped key is an error naming the file.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import VidgenError
from ..fsutil import sha256_file
from .ifnet import IFNet

log = logging.getLogger(__name__)

#: Prefixes of training-only tensors in the published checkpoint (see module doc).
IGNORED_PREFIXES = ("teacher.", "caltime.")


class WeightsError(VidgenError):
    """The weights file is missing, corrupt, or not a RIFE 4.25 IFNet state dict."""


@dataclass(frozen=True)
class LoadedModel:
    """A ready network plus what identifies it (for caches and audit records)."""

    net: IFNet
    path: Path
    sha256: str
    device: torch.device
    dtype: torch.dtype


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        with warnings.catch_warnings():
            # junk bytes read as a bogus protocol number: our error below says it better
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(
            f"{path}: no such file (fetch it with `vidgen models fetch rife-4.25`)"
        ) from None
    except (IsADirectoryError, PermissionError) as e:
        raise WeightsError(f"{path}: cannot read it ({e.strerror or e})") from None
    except Exception as e:
        # random or truncated bytes reach the unpickler as arbitrary opcodes: besides
        # UnpicklingError it raises KeyError, IndexError, OverflowError, ... (seen)
        raise WeightsError(
            f"{path}: not a loadable PyTorch state dict ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); the file is corrupt or the wrong "
            "file: re-fetch it with `vidgen models fetch rife-4.25`"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise WeightsError(f"{path}: expected a dict of tensors (a state dict), got {type(obj)}")
    # checkpoints saved from DataParallel carry a "module." prefix
    return {k.removeprefix("module."): v for k, v in obj.items()}


def check_state_dict(state: dict[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """The subset our IFNet loads, after strict key and shape checks."""
    expected = IFNet().state_dict()
    kept = {k: v for k, v in state.items() if not k.startswith(IGNORED_PREFIXES)}
    missing = sorted(set(expected) - set(kept))
    unexpected = sorted(set(kept) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"{origin}: not a RIFE 4.25 IFNet state dict: {len(missing)} missing key(s) "
            f"{missing[:3]}, {len(unexpected)} unexpected key(s) {unexpected[:3]}"
        )
    for k, v in kept.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise WeightsError(
                f"{origin}: tensor {k} has shape {tuple(v.shape)}, expected "
                f"{tuple(expected[k].shape)} (a different RIFE version?)"
            )
        if not torch.isfinite(v).all():
            raise WeightsError(f"{origin}: tensor {k} contains NaN or Inf (corrupt file)")
    return kept


def load_ifnet(
    path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    channels_last: bool | None = None,
    sha256: str | None = None,
) -> LoadedModel:
    """Build our IFNet from a weights file, in eval mode, on ``device``.

    ``dtype`` defaults to fp16 on CUDA and fp32 elsewhere; half precision on the CPU is
    refused (slow and inaccurate there). ``sha256`` may be passed when already known.
    """
    p = Path(path)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise WeightsError("device cuda requested but CUDA is not available on this machine")
    dt = dtype or (torch.float16 if dev.type == "cuda" else torch.float32)
    if dev.type == "cpu" and dt != torch.float32:
        raise WeightsError(f"dtype {dt} is not supported on the CPU: use float32")
    state = check_state_dict(_read_state_dict(p), str(p))
    net = IFNet()
    net.load_state_dict(state, strict=True)
    net.eval().requires_grad_(False)
    net.to(device=dev, dtype=dt)
    if channels_last if channels_last is not None else dev.type == "cuda":
        net.use_channels_last(True)
    digest = sha256 or sha256_file(p)
    log.info("loaded RIFE 4.25 from %s (sha256 %s) on %s/%s", p, digest[:12], dev, dt)
    return LoadedModel(net=net, path=p.resolve(), sha256=digest, device=dev, dtype=dt)
