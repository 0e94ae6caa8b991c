"""Tiny Wan-family checkpoints: UNets, lightx2v-style LoRAs, UMT5, VAEs and CLIP-H vision.

Every model is constructed by the pinned ComfyUI's own classes from the config its
detection code would derive (comfy/model_detection.py, the Wan branch), so key names and
shapes come from the code that will load them. What detection reads is kept (``dim`` a
multiple of 128 so heads = dim/128; ``in_dim``/``out_dim``; the camera adapter and the
CLIP image projection), everything else is as small as the code allows.
"""

from __future__ import annotations

import io
import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .common import (
    BuildContext,
    derive_seed,
    import_comfyui,
    init_module,
    save_safetensors,
    scaled_fp8_state_dict,
)

# Smallest Wan transformer that detection still reads as the intended class: one head of
# 128 (heads = dim // 128 in model_detection.py), two blocks so block counting is exercised.
TINY_DIM = 128
TINY_FFN = 256
TINY_LAYERS = 2

# UMT5-XXL: d_model and the 24 blocks are what detection looks at (sd.py detect_te_model:
# ``encoder.block.23...wi_1.weight`` with last dim 4096); the rest shrinks. The test node
# passes this config to ComfyUI as ``umt5xxl_model_config`` for files marked tiny.
TINY_UMT5_CONFIG: dict[str, Any] = {
    "d_ff": 16,
    "d_kv": 8,
    "d_model": 4096,
    "num_heads": 2,
    "num_layers": 24,
    "vocab_size": 384,
}
UMT5_CONFIG_METADATA_KEY = "vidgen_tiny_umt5xxl_config"

LORA_RANK = 4


def _wan_unet_config(*, in_dim: int, out_dim: int, model_type: str) -> dict[str, Any]:
    """The dict comfy/model_detection.py returns for a Wan state dict with these shapes."""
    return {
        "image_model": "wan2.1",
        "dim": TINY_DIM,
        "out_dim": out_dim,
        "num_heads": TINY_DIM // 128,
        "ffn_dim": TINY_FFN,
        "num_layers": TINY_LAYERS,
        "patch_size": (1, 2, 2),
        "freq_dim": 256,
        "window_size": (-1, -1),
        "qk_norm": True,
        "cross_attn_norm": True,
        "eps": 1e-6,
        "in_dim": in_dim,
        "model_type": model_type,
    }


def _wan_unet(
    ctx: BuildContext, name: str, unet_config: dict[str, Any], expect_class: str
) -> torch.nn.Module:
    """Build the diffusion model the way ComfyUI would for ``unet_config``, initialised."""
    import_comfyui(ctx.comfyui_dir)
    import comfy.model_detection

    model_config = comfy.model_detection.model_config_from_unet_config(dict(unet_config))
    found = type(model_config).__name__ if model_config is not None else None
    if found != expect_class:
        raise RuntimeError(f"{name}: ComfyUI maps this config to {found}, not {expect_class}")
    base = model_config.get_model({}, device=torch.device("cpu"))
    net: torch.nn.Module = base.diffusion_model
    init_module(net, derive_seed(ctx.seed, name))
    return net


def _cast(sd: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}


def _save_unet(
    ctx: BuildContext,
    out: Path,
    name: str,
    *,
    in_dim: int,
    out_dim: int,
    model_type: str,
    expect_class: str,
    dtype: torch.dtype,
    fp8_scaled: bool = False,
) -> None:
    cfg = _wan_unet_config(in_dim=in_dim, out_dim=out_dim, model_type=model_type)
    net = _wan_unet(ctx, name, cfg, expect_class)
    if fp8_scaled:
        sd = scaled_fp8_state_dict(net, dtype, marker_elements=2)
    else:
        sd = _cast(net.state_dict(), dtype)
    meta = ctx.metadata(vidgen_tiny_expected_class=expect_class)
    save_safetensors(sd, out, meta)


def build_ti2v_5b(ctx: BuildContext, out: Path) -> None:
    """Wan 2.2 TI2V 5B: out_dim 48 (the Wan 2.2 VAE's latent) makes it WAN22_T2V."""
    _save_unet(
        ctx,
        out,
        out.name,
        in_dim=48,
        out_dim=48,
        model_type="t2v",
        expect_class="WAN22_T2V",
        dtype=torch.float16,
    )


def build_fun_camera(ctx: BuildContext, out: Path) -> None:
    """Wan 2.1 Fun camera 1.3B: camera adapter + CLIP image projection, in_dim 32."""
    _save_unet(
        ctx,
        out,
        out.name,
        in_dim=32,
        out_dim=16,
        model_type="camera",
        expect_class="WAN21_Camera",
        dtype=torch.bfloat16,
    )


def _build_i2v_a14b(ctx: BuildContext, out: Path) -> None:
    """Wan 2.2 I2V A14B expert: in_dim 36 (16 noise + 4 mask + 16 image), no ``img_emb``.

    Without ``img_emb`` detection says model_type "t2v", and the first class in
    comfy/supported_models.py whose config matches is WAN21_T2V (WAN22_T2V needs out_dim
    48); model_base.WAN21.concat_cond fills the 20 extra input channels from the image.
    Written fp8-scaled like the published files, so ComfyUI's scaled-fp8 loading and the
    LoRA patching of fp8 weights run too.
    """
    _save_unet(
        ctx,
        out,
        out.name,
        in_dim=36,
        out_dim=16,
        model_type="t2v",
        expect_class="WAN21_T2V",
        dtype=torch.float16,
        fp8_scaled=True,
    )


def _lora_for(ctx: BuildContext, out: Path, unet_name: str) -> None:
    """A rank-4 LoRA in the key format of the published lightx2v Wan LoRAs.

    Keys are ``diffusion_model.<module>.lora_down.weight`` / ``.lora_up.weight`` /
    ``.alpha`` for every linear layer of the transformer blocks, ``.diff_b`` for their
    biases and ``.diff`` for the blocks' norm weights; ComfyUI's lora.py maps all of them
    through the generic ``diffusion_model.`` key map. The up matrices are small so the
    patched model stays close to the base one.
    """
    cfg = _wan_unet_config(in_dim=36, out_dim=16, model_type="t2v")
    base_sd = _wan_unet(ctx, unet_name, cfg, "WAN21_T2V").state_dict()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(derive_seed(ctx.seed, out.name))
    lora: dict[str, torch.Tensor] = {}
    for key in sorted(base_sd):
        if not key.startswith("blocks."):
            continue
        w = base_sd[key]
        stem = key.rsplit(".", 1)[0]
        if key.endswith(".weight") and w.dim() == 2:
            out_f, in_f = w.shape
            down = torch.randn((LORA_RANK, in_f), generator=gen) / math.sqrt(in_f)
            up = torch.randn((out_f, LORA_RANK), generator=gen) * 0.01
            lora[f"diffusion_model.{stem}.lora_down.weight"] = down.to(torch.bfloat16)
            lora[f"diffusion_model.{stem}.lora_up.weight"] = up.to(torch.bfloat16)
            lora[f"diffusion_model.{stem}.alpha"] = torch.tensor(float(LORA_RANK))
        elif (
            key.endswith(".bias")
            and f"{stem}.weight" in base_sd
            and base_sd[f"{stem}.weight"].dim() == 2
        ):
            diff_b = torch.randn(w.shape, generator=gen) * 0.01
            lora[f"diffusion_model.{stem}.diff_b"] = diff_b.to(torch.bfloat16)
        elif key.endswith(".weight") and w.dim() == 1:
            diff = torch.randn(w.shape, generator=gen) * 0.01
            lora[f"diffusion_model.{stem}.diff"] = diff.to(torch.bfloat16)
    meta = ctx.metadata(vidgen_tiny_lora_for=unet_name, vidgen_tiny_lora_rank=str(LORA_RANK))
    save_safetensors(lora, out, meta)


SPM_CORPUS_WORDS = (
    "a the camera slowly pans dolly push pull orbit crane tilt left right up down over "
    "across through along around toward away from scene shot frame light shadow sunset "
    "sunrise city street forest river mountain ocean beach desert snow rain fog night day "
    "person woman man child dog cat bird car train boat house tower bridge window door "
    "walks runs flies drives sits stands looks turns smiles waves red green blue gold "
    "white black warm cold soft sharp bright dark wide close detailed cinematic realistic "
    "static smooth steady handheld slow fast motion blur noise low quality worst blurry "
    "deformed distorted watermark text subtitles overexposed still picture"
).split()


def _train_spiece(seed: int, vocab_size: int) -> bytes:
    """Train a tiny sentencepiece model, deterministically, from a generated corpus.

    One thread and a fixed corpus make the serialized proto byte-identical between runs.
    ids 0/1 are pad/eos as UMT5XXlTokenizer expects (special_tokens end 1, pad 0); byte
    fallback lets any prompt character encode within the small vocabulary.
    """
    import sentencepiece as spm  # type: ignore[import-not-found,unused-ignore]

    rng = random.Random(seed)
    lines = [
        " ".join(rng.choice(SPM_CORPUS_WORDS) for _ in range(rng.randint(4, 14)))
        for _ in range(2000)
    ]
    # trained from an iterator into memory: with files, the proto records the temporary
    # corpus path and model prefix (trainer_spec), which made every build's bytes differ
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        byte_fallback=True,
        character_coverage=1.0,
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    return model.getvalue()


def build_umt5(ctx: BuildContext, out: Path) -> None:
    """Tiny UMT5-XXL text encoder with its tokenizer inside (``spiece_model`` uint8 tensor)."""
    import_comfyui(ctx.comfyui_dir)
    import comfy.ops
    import comfy.text_encoders.t5

    full = json.loads(
        (Path(ctx.comfyui_dir) / "comfy" / "text_encoders" / "umt5_config_xxl.json").read_text()
    )
    config = {**full, **TINY_UMT5_CONFIG}
    model = comfy.text_encoders.t5.T5(
        config, torch.float32, torch.device("cpu"), comfy.ops.disable_weight_init
    )
    init_module(model, derive_seed(ctx.seed, out.name))
    # fp8-scaled linears like the published file, everything else float32: ComfyUI computes
    # in the dtype of ``encoder.final_layer_norm`` (sd3_clip.py t5_xxl_detect), and fp16
    # matmuls on a CPU took 1.6x as long for the 512-token encode every Wan prompt pays
    sd = scaled_fp8_state_dict(model, torch.float32, marker_elements=0)
    proto = _train_spiece(derive_seed(ctx.seed, out.name + ":spiece"), config["vocab_size"])
    sd["spiece_model"] = torch.frombuffer(bytearray(proto), dtype=torch.uint8)
    meta = ctx.metadata(**{UMT5_CONFIG_METADATA_KEY: json.dumps(TINY_UMT5_CONFIG, sort_keys=True)})
    save_safetensors(sd, out, meta)


def _full_size_fp16(ctx: BuildContext, out: Path, make: Callable[[], torch.nn.Module]) -> None:
    """Build a model that cannot shrink on the meta device, then materialise it in fp16.

    Building on ``meta`` and materialising in fp16 keeps peak memory at the fp16 size
    (1.4 GB for the Wan 2.2 VAE) instead of fp32 plus a copy.
    """
    with torch.device("meta"):
        model = make()
    model = model.to(torch.float16).to_empty(device="cpu")
    init_module(model, derive_seed(ctx.seed, out.name))
    sd = model.state_dict()
    save_safetensors(sd, out, ctx.metadata(vidgen_tiny_full_size="1"))


# ddconfigs as comfy/sd.py's VAE.__init__ builds them for the two Wan VAEs (sd.py:484, 496)
WAN21_VAE_CONFIG: dict[str, Any] = {
    "dim": 96,
    "z_dim": 16,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "dropout": 0.0,
}
WAN22_VAE_CONFIG: dict[str, Any] = {**WAN21_VAE_CONFIG, "dim": 160, "z_dim": 48}


def build_wan21_vae(ctx: BuildContext, out: Path) -> None:
    import_comfyui(ctx.comfyui_dir)
    import comfy.ldm.wan.vae

    _full_size_fp16(ctx, out, lambda: comfy.ldm.wan.vae.WanVAE(**WAN21_VAE_CONFIG))


def build_wan22_vae(ctx: BuildContext, out: Path) -> None:
    import_comfyui(ctx.comfyui_dir)
    import comfy.ldm.wan.vae2_2

    _full_size_fp16(ctx, out, lambda: comfy.ldm.wan.vae2_2.WanVAE(**WAN22_VAE_CONFIG))


def build_clip_vision_h(ctx: BuildContext, out: Path) -> None:
    """CLIP-H vision (ViT-H/14), from ComfyUI's own clip_vision_config_h.json."""
    import_comfyui(ctx.comfyui_dir)
    import comfy.clip_vision
    import comfy.ops

    config = json.loads((Path(ctx.comfyui_dir) / "comfy" / "clip_vision_config_h.json").read_text())
    model_class = comfy.clip_vision.IMAGE_ENCODERS[config.get("model_type", "clip_vision_model")]
    _full_size_fp16(
        ctx,
        out,
        lambda: model_class(config, torch.float16, torch.device("meta"), comfy.ops.manual_cast),
    )


BUILDERS: dict[str, Callable[[BuildContext, Path], None]] = {
    "wan2.2_ti2v_5B_fp16.safetensors": build_ti2v_5b,
    "wan2.1_fun_camera_v1.1_1.3B_bf16.safetensors": build_fun_camera,
    "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors": _build_i2v_a14b,
    "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors": _build_i2v_a14b,
    "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors": lambda ctx, out: _lora_for(
        ctx, out, "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"
    ),
    "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors": lambda ctx, out: _lora_for(
        ctx, out, "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"
    ),
    "umt5_xxl_fp8_e4m3fn_scaled.safetensors": build_umt5,
    "wan_2.1_vae.safetensors": build_wan21_vae,
    "wan2.2_vae.safetensors": build_wan22_vae,
    "clip_vision_h.safetensors": build_clip_vision_h,
}
