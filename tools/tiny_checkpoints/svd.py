"""Tiny Stable Video Diffusion XT checkpoint: small UNet, full CLIP-H vision tower and VAE.

ComfyUI recognises SVD only by the exact UNet configuration of
``comfy.supported_models.SVD_img2vid`` (channels, depths, context and ADM sizes, temporal
layers); the one free choice is ``channel_mult``, so the UNet here is SVD's with
``channel_mult`` [1, 1, 1, 1] (about 212 M parameters instead of 1.5 B). The image
encoder (CLIP ViT-H/14, chosen by its layer count) and the video VAE have no size knob
in ComfyUI, so they are written full size in fp16, with random weights.

The file is laid out as the published ``svd_xt_1_1.safetensors`` is: the UNet under
``model.diffusion_model.``, the VAE under ``first_stage_model.``, and the vision tower
under ``conditioner.embedders.0.open_clip.model.visual.`` with open_clip's key names,
which ComfyUI converts to its own at load (``comfy.clip_vision.convert_to_transformers``).
Every module is built from the pinned ComfyUI's own classes, so key names and shapes
are the ones its loader expects.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable
from pathlib import Path

import torch

from tools.tiny_checkpoints.build_support import (
    prefixed_fp16,
    quiet_logging,
    require_set_buffers,
)
from tools.tiny_checkpoints.common import (
    BuildContext,
    derive_seed,
    import_comfyui,
    init_module,
    save_safetensors,
)

FILENAME = "svd_xt_1_1.safetensors"  # in models/checkpoints

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_VISION_PREFIX = "conditioner.embedders.0.open_clip.model.visual."

# What comfy.model_detection.detect_unet_config reads from an SVD XT checkpoint, with
# channel_mult [1, 1, 1, 1] instead of [1, 2, 4, 4]. Detection must give back exactly this.
SVD_TINY_UNET_CONFIG: dict[str, object] = {
    "use_checkpoint": False,
    "image_size": 32,
    "use_spatial_transformer": True,
    "legacy": False,
    "num_classes": "sequential",
    "adm_in_channels": 768,
    "in_channels": 8,
    "out_channels": 4,
    "model_channels": 320,
    "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "channel_mult": [1, 1, 1, 1],
    "transformer_depth_middle": 1,
    "use_linear_in_transformer": True,
    "context_dim": 1024,
    "extra_ff_mix_layer": True,
    "use_spatial_context": True,
    "merge_strategy": "learned_with_images",
    "merge_factor": 0.0,
    "video_kernel_size": [3, 1, 1],
    "use_temporal_resblock": True,
    "use_temporal_attention": True,
    "disable_temporal_crossattention": False,
}


def unet_state_dict(ctx: BuildContext) -> dict[str, torch.Tensor]:
    """The tiny SVD UNet, built by ComfyUI's detected model class, keys under its prefix."""
    import_comfyui(ctx.comfyui_dir)
    import comfy.model_detection

    model_config = comfy.model_detection.model_config_from_unet_config(
        json.loads(json.dumps(SVD_TINY_UNET_CONFIG))
    )
    if model_config is None or type(model_config).__name__ != "SVD_img2vid":
        raise RuntimeError(f"ComfyUI does not take this UNet config for SVD: {model_config}")
    model_config.set_inference_dtype(torch.float32, None)
    unet = model_config.get_model({}).diffusion_model
    init_module(unet, derive_seed(ctx.seed, "svd/unet"))
    require_set_buffers(unet, set())
    out = prefixed_fp16(unet.state_dict(), UNET_PREFIX)
    del unet
    return out


_LAYER_RENAMES = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}
_FIXED_RENAMES = {
    "vision_model.embeddings.class_embedding": "class_embedding",
    "vision_model.embeddings.patch_embedding.weight": "conv1.weight",
    "vision_model.embeddings.position_embedding.weight": "positional_embedding",
    "vision_model.post_layernorm.weight": "ln_post.weight",
    "vision_model.post_layernorm.bias": "ln_post.bias",
    "vision_model.pre_layrnorm.weight": "ln_pre.weight",
    "vision_model.pre_layrnorm.bias": "ln_pre.bias",
}
_LAYER_KEY = re.compile(r"vision_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)")


def to_open_clip(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """ComfyUI's CLIP vision keys -> open_clip's (the inverse of ``convert_to_transformers``)."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, value in sd.items():
        if key in _FIXED_RENAMES:
            out[_FIXED_RENAMES[key]] = value
            continue
        if key == "visual_projection.weight":
            out["proj"] = value.transpose(0, 1).contiguous()
            continue
        match = _LAYER_KEY.fullmatch(key)
        if match is None:
            raise RuntimeError(f"no open_clip name for CLIP vision key {key}")
        layer, name, kind = int(match.group(1)), match.group(2), match.group(3)
        if name in _LAYER_RENAMES:
            out[f"transformer.resblocks.{layer}.{_LAYER_RENAMES[name]}.{kind}"] = value
        elif name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
            qkv.setdefault((layer, kind), {})[name[-6]] = value
        else:
            raise RuntimeError(f"no open_clip name for CLIP vision key {key}")
    for (layer, kind), parts in qkv.items():
        fused = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
        out[f"transformer.resblocks.{layer}.attn.in_proj_{kind}"] = fused
    return out


def clip_vision_state_dict(ctx: BuildContext) -> dict[str, torch.Tensor]:
    """CLIP ViT-H/14 vision tower (ComfyUI's class and config), open_clip keys, fp16."""
    import_comfyui(ctx.comfyui_dir)
    import comfy.clip_model
    import comfy.clip_vision
    import comfy.ops

    config_path = Path(comfy.clip_vision.__file__).parent / "clip_vision_config_h.json"
    config = json.loads(config_path.read_text())
    # fp16 parameters: init samples in float32 and copies, so the values are the same as
    # an fp32 build rounded, at half the memory of a 632 M parameter tower
    model = comfy.clip_model.CLIPVisionModelProjection(
        config, torch.float16, "cpu", comfy.ops.manual_cast
    )
    init_module(model, derive_seed(ctx.seed, "svd/clip_vision"))
    require_set_buffers(model, set())
    native = {k: v.detach() for k, v in model.state_dict().items()}
    del model
    converted = to_open_clip(native)
    # the loader's own conversion must give back exactly the module's keys and shapes
    roundtrip = comfy.clip_vision.convert_to_transformers(
        {CLIP_VISION_PREFIX + k: v for k, v in converted.items()}, CLIP_VISION_PREFIX
    )
    if {k: tuple(v.shape) for k, v in roundtrip.items()} != {
        k: tuple(v.shape) for k, v in native.items()
    }:
        raise RuntimeError("open_clip CLIP vision keys do not convert back to ComfyUI's")
    del native, roundtrip
    return prefixed_fp16(converted, CLIP_VISION_PREFIX)


def vae_state_dict(ctx: BuildContext) -> dict[str, torch.Tensor]:
    """SVD's video VAE, the module ComfyUI builds when it sees SVD's VAE keys."""
    import_comfyui(ctx.comfyui_dir)
    import comfy.sd

    # "decoder.mid.block_1.mix_factor" is the key by which comfy.sd.VAE picks SVD's
    # AutoencodingEngine with the temporal VideoDecoder; let it build the module
    # (it warns about every other key missing, which is expected here: silenced)
    marker = {"decoder.mid.block_1.mix_factor": torch.zeros(1)}
    with quiet_logging():
        vae = comfy.sd.VAE(sd=marker, dtype=torch.float32)
    module = vae.first_stage_model
    init_module(module, derive_seed(ctx.seed, "svd/vae"))
    require_set_buffers(module, set())
    out = prefixed_fp16(module.state_dict(), VAE_PREFIX)
    del vae, module
    return out


def build_svd_xt(ctx: BuildContext, out_path: Path) -> None:
    """Write the tiny SVD XT checkpoint to ``out_path``."""
    state: dict[str, torch.Tensor] = {}
    for part in (unet_state_dict, vae_state_dict, clip_vision_state_dict):
        state.update(part(ctx))
        gc.collect()
    meta = ctx.metadata(
        vidgen_tiny_model="svd_xt: UNet channel_mult [1,1,1,1]; CLIP-H vision and VAE full size"
    )
    save_safetensors(state, out_path, meta)


BUILDERS: dict[str, Callable[[BuildContext, Path], None]] = {FILENAME: build_svd_xt}
