"""Shared pieces of the tiny-checkpoint builders: context, seeded init by module type, saving.

Why init by module type and not by key name: ComfyUI allocates parameters with
``torch.empty`` and the same role hides under unrelated names (a GroupNorm is
``in_layers.0``), so the only reliable rule is the class of the module that owns the
parameter. Norm weights are 1 and biases 0 so activations stay O(1); linear and conv
weights are N(0, 1/fan_in) so a random network's outputs stay finite through many layers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

# bump when any builder's output changes: it is part of the cache key and of the metadata
GENERATOR_VERSION = "3"

TINY_METADATA_KEY = "vidgen_tiny"


@dataclass(frozen=True)
class BuildContext:
    """What every builder gets: the ComfyUI checkout whose classes it uses, and the seed."""

    comfyui_dir: Path
    seed: int
    generator_version: str

    def metadata(self, **extra: str) -> dict[str, str]:
        """Safetensors metadata that marks a file as tiny (read by the test node)."""
        meta = {
            TINY_METADATA_KEY: "1",
            "vidgen_tiny_generator": self.generator_version,
            "vidgen_tiny_seed": str(self.seed),
        }
        meta.update(extra)
        return meta


_NORM_TYPES: tuple[type[torch.nn.Module], ...] = (
    torch.nn.LayerNorm,
    torch.nn.GroupNorm,
    torch.nn.RMSNorm,
    torch.nn.modules.batchnorm._NormBase,
)


def _is_norm(module: torch.nn.Module) -> bool:
    """A normalisation layer: torch's own classes, or a model's own (T5LayerNorm, RMS_norm)."""
    if isinstance(module, _NORM_TYPES):
        return True
    return type(module).__name__.lower().replace("_", "").endswith("norm")


def _fan_in(weight: torch.Tensor) -> int:
    # Linear (out, in); ConvNd (out, in/groups, *kernel); ConvTransposeNd (in, out/groups, *k)
    # uses dim 1 too in torch's own init (torch.nn.init._calculate_fan_in_and_fan_out).
    if weight.dim() < 2:
        return max(1, weight.shape[0])
    return max(1, weight.shape[1] * math.prod(weight.shape[2:]))


def _normal(t: torch.Tensor, std: float, gen: torch.Generator) -> None:
    # sample in float32 on the CPU so the bytes do not depend on the parameter's dtype path
    with torch.no_grad():
        t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float32) * std)


def init_module(module: torch.nn.Module, seed: int) -> None:
    """Initialise every parameter of ``module`` in place, deterministically, by module type.

    - norm layers (torch norms, or any class whose name ends in "norm", e.g. T5LayerNorm,
      Wan's RMS_norm with its ``gamma``): bias 0, every other parameter 1;
    - linear/conv/conv-transpose (torch's classes and ComfyUI's subclasses of them):
      weight N(0, 1/fan_in), bias 0;
    - embeddings: N(0, 1);
    - any other parameter a module owns directly (Wan's ``modulation``, position
      embeddings): N(0, 1/last_dim), so it is small relative to the activations it shifts.
    Buffers are left as the constructor computed them (they are derived, not learned);
    a builder that saves a buffer checks it is deterministic. One generator walks the
    modules in registration order, so the same seed gives the same bytes.
    """
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    conv_types = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)
    for _name, mod in module.named_modules():
        own = list(mod.named_parameters(recurse=False))
        if not own:
            continue
        if _is_norm(mod):
            with torch.no_grad():
                for pname, p in own:
                    p.fill_(0.0 if pname == "bias" else 1.0)
        elif isinstance(mod, conv_types):
            for pname, p in own:
                if pname == "bias":
                    with torch.no_grad():
                        p.zero_()
                else:
                    _normal(p, 1.0 / math.sqrt(_fan_in(p)), gen)
        elif isinstance(mod, torch.nn.Embedding):
            for _pname, p in own:
                _normal(p, 1.0, gen)
        else:
            for _pname, p in own:
                last = p.shape[-1] if p.dim() > 0 else 1
                _normal(p, 1.0 / math.sqrt(max(1, last)), gen)


def derive_seed(seed: int, name: str) -> int:
    """A per-file seed, so two files built from one run seed get different weights."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def import_comfyui(comfyui_dir: Path) -> None:
    """Make the pinned ComfyUI importable as ``comfy`` and pin it to the CPU.

    Builders construct models with ComfyUI's own classes, so its checkout goes first on
    ``sys.path``; ``--cpu`` is set before ``comfy.model_management`` is imported because
    the CUDA build of torch here has no GPU to find.
    """
    root = str(Path(comfyui_dir).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True


FP8_E4M3_MAX = 448.0


def scaled_fp8_state_dict(
    module: torch.nn.Module, other_dtype: torch.dtype, marker_elements: int
) -> dict[str, torch.Tensor]:
    """``module``'s weights in ComfyUI's "fp8_scaled" file layout.

    That layout (read by comfy/model_detection.py and comfy/ops.py ``scaled_fp8_ops``):
    a ``scaled_fp8`` marker tensor whose dtype is the fp8 format (a diffusion model's has
    two elements, meaning no fp8 matrix multiply; a text encoder's is empty, the shape of
    the parameter sd1_clip.py gives it), every ``torch.nn.Linear`` weight stored as float8_e4m3fn divided by
    a per-layer float32 ``scale_weight`` (absmax / 448, the e4m3 maximum), and every other
    floating tensor in ``other_dtype``. Linear layers are found by module type, as
    ComfyUI's ops replace exactly the Linear class.
    """
    sd = {k: v.detach() for k, v in module.state_dict().items()}
    out = {k: (v.to(other_dtype) if v.is_floating_point() else v) for k, v in sd.items()}
    for name, mod in module.named_modules():
        if not isinstance(mod, torch.nn.Linear):
            continue
        key = f"{name}.weight" if name else "weight"
        w = sd[key].float()
        scale = w.abs().max().clamp(min=1e-12) / FP8_E4M3_MAX
        out[key] = (w / scale).to(torch.float8_e4m3fn)
        out[f"{name}.scale_weight" if name else "scale_weight"] = scale.reshape(())
    out["scaled_fp8"] = torch.zeros(marker_elements, dtype=torch.float8_e4m3fn)
    return out


_SAFETENSORS_DTYPES: dict[torch.dtype, str] = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float8_e4m3fn: "F8_E4M3",
    torch.float8_e5m2: "F8_E5M2",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def save_safetensors(
    state_dict: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]
) -> None:
    """Write ``state_dict`` to ``path`` atomically (temp file in the same folder + rename).

    Written here rather than with ``safetensors.torch.save_file`` because that library
    serialises the metadata from a hash map in a random order, so the same tensors and
    metadata gave different bytes on every run. This writer follows the published format
    (8-byte little-endian header length, JSON header padded with spaces to a multiple of
    8, raw little-endian tensor data) with sorted keys, so equal input means equal bytes.
    """
    if sys.byteorder != "little":
        raise RuntimeError("safetensors data is little-endian; this writer copies native bytes")
    path.parent.mkdir(parents=True, exist_ok=True)
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    names = sorted(state_dict)
    for name in names:
        t = state_dict[name]
        if t.dtype not in _SAFETENSORS_DTYPES:
            raise TypeError(f"{name}: dtype {t.dtype} has no safetensors name here")
        nbytes = t.numel() * t.element_size()
        header[name] = {
            "dtype": _SAFETENSORS_DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    blob = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(blob)))
            f.write(blob)
            for name in names:
                t = state_dict[name].detach().to("cpu").contiguous().reshape(-1)
                f.write(t.view(torch.uint8).numpy().tobytes())
        os.chmod(
            tmp, 0o644
        )  # mkstemp's 0600 would hide the file from a ComfyUI run as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
