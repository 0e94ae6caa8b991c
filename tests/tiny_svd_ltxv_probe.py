"""Run in ComfyUI's interpreter: load a tiny checkpoint with ComfyUI's own loaders, run it.

``python tests/tiny_svd_ltxv_probe.py --comfyui-dir DIR --models CACHE_DIR {svd,ltxv,t5}``
prints one JSON object: the model classes ComfyUI detected, the loader warnings about
missing keys, and whether a forward / encode / decode on a tiny input gave finite values
(with shapes). ``tests/test_tiny_checkpoints_svd_ltxv.py`` asserts on it. Each family runs
in its own process so a 2-4 GB load is freed before the next one.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:300])


def _finite(t: Any) -> bool:
    import torch

    return bool(torch.isfinite(t.float()).all().item())


def probe_svd(models: Path) -> dict[str, Any]:
    import comfy.sd
    import torch

    path = models / "checkpoints" / "svd_xt_1_1.safetensors"
    out: dict[str, Any] = {}
    # the UNet alone first (ImageOnlyCheckpointLoader loads all three; one at a time here
    # keeps the peak near 2 GB)
    model, _clip, _vae, _cv = comfy.sd.load_checkpoint_guess_config(
        str(path), output_vae=False, output_clip=False, output_clipvision=False
    )
    out["model_config"] = type(model.model.model_config).__name__
    out["model_class"] = type(model.model).__name__
    frames = 2
    x = torch.randn(frames, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    conds = model.model.extra_conds(
        noise=x,
        cross_attn=torch.randn(1, 1, 1024, generator=torch.Generator().manual_seed(1)),
        concat_latent_image=torch.zeros(1, 4, 8, 8),
        fps=6,
        motion_bucket_id=127,
        augmentation_level=0.0,
    )
    kwargs = {k: v.cond for k, v in conds.items()}
    # per-frame batch, as ComfyUI's sampler hands it over (process_cond repeats the conds)
    kwargs["c_crossattn"] = kwargs["c_crossattn"].repeat(frames, 1, 1)
    kwargs["y"] = kwargs["y"].repeat(frames, 1)
    with torch.no_grad():
        y = model.model.apply_model(x, torch.full((frames,), 1.0), **kwargs)
    out["forward_shape"] = list(y.shape)
    out["forward_finite"] = _finite(y)
    del model, y
    gc.collect()

    _m, _c, vae, _cv = comfy.sd.load_checkpoint_guess_config(
        str(path), output_vae=True, output_clip=False, output_model=False
    )
    image = torch.rand(2, 64, 64, 3, generator=torch.Generator().manual_seed(2))
    latent = vae.encode(image)
    decoded = vae.decode(latent)
    out["vae_class"] = type(vae.first_stage_model).__name__
    out["encode_shape"] = list(latent.shape)
    out["encode_finite"] = _finite(latent)
    out["decode_shape"] = list(decoded.shape)
    out["decode_finite"] = _finite(decoded)
    del vae, latent, decoded
    gc.collect()

    _m, _c, _v, clip_vision = comfy.sd.load_checkpoint_guess_config(
        str(path), output_vae=False, output_clip=False, output_model=False, output_clipvision=True
    )
    encoded = clip_vision.encode_image(image[:1])
    out["clip_vision_layers"] = len(clip_vision.model.vision_model.encoder.layers)
    out["clip_vision_embeds_shape"] = list(encoded.image_embeds.shape)
    out["clip_vision_finite"] = _finite(encoded.image_embeds) and _finite(
        encoded.penultimate_hidden_states
    )
    return out


def probe_ltxv(models: Path) -> dict[str, Any]:
    import comfy.sd
    import torch

    path = models / "checkpoints" / "ltx-video-2b-v0.9.5.safetensors"
    model, clip, vae, _cv = comfy.sd.load_checkpoint_guess_config(
        str(path), output_vae=True, output_clip=True
    )
    out: dict[str, Any] = {
        "model_config": type(model.model.model_config).__name__,
        "model_class": type(model.model).__name__,
        "clip_in_checkpoint": clip is not None,
        "num_layers": len(model.model.diffusion_model.transformer_blocks),
        "transformer_parameters": sum(p.numel() for p in model.model.parameters()),
    }
    image = torch.rand(9, 64, 64, 3, generator=torch.Generator().manual_seed(2))
    latent = vae.encode(image)
    decoded = vae.decode(latent)
    out["vae_class"] = type(vae.first_stage_model).__name__
    out["encode_shape"] = list(latent.shape)
    out["encode_finite"] = _finite(latent)
    out["decode_shape"] = list(decoded.shape)
    out["decode_finite"] = _finite(decoded)
    context = torch.randn(1, 8, 4096, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model.model.apply_model(
            latent, torch.full((1,), 0.5), c_crossattn=context, attention_mask=None, frame_rate=25
        )
    out["forward_shape"] = list(y.shape)
    out["forward_finite"] = _finite(y)
    return out


def probe_t5(models: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests" / "comfyui_nodes"))
    import comfy.sd
    import vidgen_tiny_encoders.t5 as tiny_t5

    path = models / "text_encoders" / "t5xxl_fp16.safetensors"
    if tiny_t5.tiny_t5_config(str(path)) is None:
        # never let ComfyUI allocate the 4.76 B parameter default for a file that is not ours
        raise SystemExit(f"{path} does not carry the tiny T5 metadata")
    tiny_t5.install()
    clip = comfy.sd.load_clip(ckpt_paths=[str(path)], clip_type=comfy.sd.CLIPType.LTXV)
    transformer = clip.cond_stage_model.t5xxl.transformer
    tokens = clip.tokenize("a slow zoom into a sunlit forest, cinematic")
    cond = clip.encode_from_tokens(tokens)
    # the same tensors without the tiny marker: the node must leave such a file alone
    from safetensors.torch import load_file, save_file

    with tempfile.TemporaryDirectory() as tmp:
        unmarked = Path(tmp) / "t5xxl_fp16.safetensors"
        save_file(dict(list(load_file(str(path)).items())[:2]), str(unmarked))
        unmarked_config = tiny_t5.tiny_t5_config(str(unmarked))
    return {
        "unmarked_file_config": unmarked_config,
        "clip_class": type(clip.cond_stage_model).__name__,
        "num_layers": len(transformer.encoder.block),
        "parameters": sum(p.numel() for p in transformer.parameters()),
        "max_token_id": max(t[0] for t in tokens["t5xxl"][0]),
        "cond_shape": list(cond.shape),
        "cond_finite": _finite(cond),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--comfyui-dir", type=Path, required=True)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("family", choices=["svd", "ltxv", "t5"])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tools.tiny_checkpoints.common import import_comfyui

    import_comfyui(args.comfyui_dir)
    warnings = _Warnings()
    logging.getLogger().addHandler(warnings)
    probe = {"svd": probe_svd, "ltxv": probe_ltxv, "t5": probe_t5}[args.family]
    result = probe(args.models)
    result["missing_key_warnings"] = [
        m for m in warnings.messages if "missing" in m.lower() and "torchaudio" not in m
    ]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
