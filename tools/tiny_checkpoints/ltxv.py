"""Tiny LTX-Video checkpoint (transformer + VAE) and tiny T5-XXL text encoder.

LTX-Video is the one family whose every size ComfyUI reads from the file: the
transformer's layer count from its keys and the rest from the safetensors metadata
``config`` (a JSON string whose ``transformer`` part overrides detection,
``comfy/model_detection.py``), and the VAE's block layout from the same JSON's ``vae``
part (``comfy/sd.py``, the "lightricks ltxv" branch). So both are small here: one
transformer layer of two 64-wide heads, and a VAE with one resnet layer per stage. What
stays fixed in ComfyUI code stays fixed here: 128 latent channels, 8x temporal and 32x
spatial compression (patch size 4 and three 2x2x2 stages), 128 base VAE channels, a
4096-wide caption input (T5-XXL's width).

T5-XXL has no size in its file: ComfyUI detects it by the key of block 23's gated
feed-forward with a 4096 input and builds the architecture from its fixed
``t5_config_xxl.json``. The tiny file keeps what detection reads (24 blocks, d_model
4096, vocabulary 32128, since the shipped tokenizer's ids reach about 32 k) and shrinks
heads, d_kv and d_ff; the test-only node ``tests/comfyui_nodes/vidgen_tiny_encoders``
passes that small config to ComfyUI, read from this file's metadata.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path

import torch

from tools.tiny_checkpoints.build_support import (
    prefixed_fp16,
    require_set_buffers,
)
from tools.tiny_checkpoints.common import (
    BuildContext,
    derive_seed,
    import_comfyui,
    init_module,
    save_safetensors,
)

CHECKPOINT = "ltx-video-2b-v0.9.5.safetensors"  # in models/checkpoints
T5XXL = "t5xxl_fp16.safetensors"  # in models/text_encoders

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "vae."

# metadata key under which the T5 file carries its own (small) architecture; the
# test-only node passes it to ComfyUI as model_options["t5xxl_model_config"]
T5_CONFIG_METADATA_KEY = "vidgen_tiny_t5xxl_model_config"

# merged over detection's values by ComfyUI (layers are counted from the keys: 1)
TRANSFORMER_CONFIG: dict[str, object] = {
    "num_attention_heads": 2,
    "attention_head_dim": 64,
    "cross_attention_dim": 128,
}

# the VideoVAE config ComfyUI reads from metadata: LTX-Video 0.9.5's layout (pixel norm,
# patch 4, uniform log-variance, timestep-conditioned decoder) with one layer per stage
VAE_CONFIG: dict[str, object] = {
    "_class_name": "CausalVideoAutoencoder",
    "dims": 3,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,
    "encoder_blocks": [
        ["res_x", {"num_layers": 1}],
        ["compress_all", {}],
        ["compress_all", {}],
        ["compress_all", {}],
        ["res_x", {"num_layers": 1}],
    ],
    "decoder_blocks": [
        ["res_x", {"num_layers": 1, "inject_noise": False}],
        ["compress_all", {"residual": True, "multiplier": 1}],
        ["compress_all", {"residual": True, "multiplier": 1}],
        ["compress_all", {"residual": True, "multiplier": 1}],
        ["res_x", {"num_layers": 1, "inject_noise": False}],
    ],
    "scaling_factor": 1.0,
    "norm_layer": "pixel_norm",
    "patch_size": 4,
    "latent_log_var": "uniform",
    "use_quant_conv": False,
    "causal_decoder": False,
    "timestep_conditioning": True,
}

# overrides of t5_config_xxl.json; d_model, num_layers and vocab_size stay as published
T5_TINY_OVERRIDES: dict[str, int] = {"num_heads": 2, "d_kv": 8, "d_ff": 16}


def checkpoint_metadata_config() -> str:
    """The ``config`` metadata string ComfyUI parses (JSON with transformer and vae)."""
    return json.dumps({"transformer": TRANSFORMER_CONFIG, "vae": VAE_CONFIG}, sort_keys=True)


def transformer_state_dict(ctx: BuildContext) -> dict[str, torch.Tensor]:
    """One-layer LTXV transformer built by the model class ComfyUI detects for it."""
    import_comfyui(ctx.comfyui_dir)
    import comfy.model_detection

    unet_config: dict[str, object] = {"image_model": "ltxv", "num_layers": 1}
    unet_config.update(TRANSFORMER_CONFIG)
    model_config = comfy.model_detection.model_config_from_unet_config(unet_config)
    if model_config is None or type(model_config).__name__ != "LTXV":
        raise RuntimeError(
            f"ComfyUI does not take this transformer config for LTXV: {model_config}"
        )
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model({}).diffusion_model
    init_module(model, derive_seed(ctx.seed, "ltxv/transformer"))
    require_set_buffers(model, set())
    out = prefixed_fp16(model.state_dict(), UNET_PREFIX)
    del model
    return out


def vae_state_dict(ctx: BuildContext) -> dict[str, torch.Tensor]:
    """The tiny VideoVAE; latent statistics set to the identity (std 1, mean 0)."""
    import_comfyui(ctx.comfyui_dir)
    from comfy.ldm.lightricks.vae.causal_video_autoencoder import VideoVAE

    vae = VideoVAE(config=json.loads(json.dumps(VAE_CONFIG)))
    init_module(vae, derive_seed(ctx.seed, "ltxv/vae"))
    stats = vae.per_channel_statistics
    # "std-of-means" divides the latent in encode: ones (torch.empty would be garbage)
    fixed = {
        "std-of-means": torch.ones(128),
        "mean-of-means": torch.zeros(128),
        "mean-of-stds": torch.ones(128),
        "mean-of-stds_over_std-of-means": torch.ones(128),
        "channel": torch.arange(128, dtype=torch.float32),
    }
    for name, value in fixed.items():
        stats.get_buffer(name).copy_(value)
    require_set_buffers(vae, {f"per_channel_statistics.{name}" for name in fixed})
    out = prefixed_fp16(vae.state_dict(), VAE_PREFIX)
    del vae
    return out


def build_ltxv(ctx: BuildContext, out_path: Path) -> None:
    """Write the tiny LTX-Video checkpoint (transformer + VAE, config in metadata)."""
    state: dict[str, torch.Tensor] = {}
    for part in (transformer_state_dict, vae_state_dict):
        state.update(part(ctx))
        gc.collect()
    meta = ctx.metadata(
        config=checkpoint_metadata_config(),
        vidgen_tiny_model="ltxv: 1-layer transformer, 2x64 heads; VAE one layer per stage",
    )
    save_safetensors(state, out_path, meta)


def t5xxl_config(comfyui_dir: Path) -> dict[str, object]:
    """ComfyUI's shipped T5-XXL config with the tiny overrides applied."""
    import_comfyui(comfyui_dir)
    import comfy.text_encoders.t5

    shipped = Path(comfy.text_encoders.t5.__file__).parent / "t5_config_xxl.json"
    config: dict[str, object] = json.loads(shipped.read_text())
    config.update(T5_TINY_OVERRIDES)
    return config


def build_t5xxl(ctx: BuildContext, out_path: Path) -> None:
    """Write the tiny T5-XXL encoder (ComfyUI's T5 class, keys as in t5xxl_fp16)."""
    import_comfyui(ctx.comfyui_dir)
    import comfy.ops
    import comfy.text_encoders.t5

    config = t5xxl_config(ctx.comfyui_dir)
    model = comfy.text_encoders.t5.T5(config, torch.float32, "cpu", comfy.ops.manual_cast)
    init_module(model, derive_seed(ctx.seed, "ltxv/t5xxl"))
    require_set_buffers(model, set())
    state = prefixed_fp16(model.state_dict(), "")
    del model
    meta = ctx.metadata(
        **{T5_CONFIG_METADATA_KEY: json.dumps(T5_TINY_OVERRIDES, sort_keys=True)},
        vidgen_tiny_model="t5xxl: 24 blocks, d_model 4096, vocab 32128; heads 2, d_kv 8, d_ff 16",
    )
    save_safetensors(state, out_path, meta)


BUILDERS: dict[str, Callable[[BuildContext, Path], None]] = {
    CHECKPOINT: build_ltxv,
    T5XXL: build_t5xxl,
}
