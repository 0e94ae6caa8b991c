"""Load tiny Wan checkpoints with ComfyUI's own loaders and run each once; print JSON.

Run with ComfyUI's interpreter by tests/test_tiny_checkpoints.py:

    python tests/tiny_checkpoints_probe.py COMFYUI_DIR KEY_DIR NAME...

For every lock file name it reports the class ComfyUI detected, the output shape, whether
the output is finite, the warnings ComfyUI logged while loading, and load/run seconds.
A separate process because ComfyUI's modules hold global state (device, memory manager).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

COMFYUI_DIR = Path(sys.argv[1]).resolve()
KEY_DIR = Path(sys.argv[2])
NAMES = sys.argv[3:]
NODES_DIR = Path(__file__).resolve().parent / "comfyui_nodes"

sys.path.insert(0, str(COMFYUI_DIR))
sys.path.insert(0, str(NODES_DIR))
import comfy.cli_args  # noqa: E402

comfy.cli_args.args.cpu = True
import comfy.clip_vision  # noqa: E402
import comfy.model_management  # noqa: E402
import comfy.sd  # noqa: E402
import comfy.utils  # noqa: E402
import torch  # noqa: E402
import vidgen_tiny_encoders  # noqa: E402,F401  (installs the tiny-config hooks, as in a test ComfyUI)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


CAPTURE = _Capture()
logging.getLogger().addHandler(CAPTURE)
logging.getLogger().setLevel(logging.INFO)


def find(name: str) -> Path:
    hits = sorted(KEY_DIR.glob(f"*/{name}"))
    if len(hits) != 1:
        raise SystemExit(f"{name}: expected one file under {KEY_DIR}, found {len(hits)}")
    return hits[0]


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t.float()).all())


def unet_forward(model: Any, *, in_dim: int, clip_fea: bool = False) -> torch.Tensor:
    net = model.model.diffusion_model
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((1, in_dim, 2, 8, 8), generator=gen)
    t = torch.tensor([500.0])
    context = torch.randn((1, 8, 4096), generator=gen)
    kwargs: dict[str, Any] = {}
    if clip_fea:
        kwargs["clip_fea"] = torch.randn((1, 257, 1280), generator=gen)
    with torch.no_grad():
        out: torch.Tensor = net(x, t, context, **kwargs)
    return out


def probe_unet(name: str, in_dim: int, clip_fea: bool = False) -> dict[str, Any]:
    start = time.monotonic()
    model = comfy.sd.load_diffusion_model(str(find(name)))
    loaded = time.monotonic()
    out = unet_forward(model, in_dim=in_dim, clip_fea=clip_fea)
    return {
        "class": type(model.model.model_config).__name__,
        "model_base": type(model.model).__name__,
        "unet_config": {
            k: v
            for k, v in model.model.model_config.unet_config.items()
            if isinstance(v, int | str)
        },
        "params": sum(p.numel() for p in model.model.diffusion_model.parameters()),
        "shape": list(out.shape),
        "finite": _finite(out),
        "load_s": round(loaded - start, 3),
        "run_s": round(time.monotonic() - loaded, 3),
    }


def probe_lora(name: str, unet_name: str) -> dict[str, Any]:
    start = time.monotonic()
    model = comfy.sd.load_diffusion_model(str(find(unet_name)))
    base_out = unet_forward(model, in_dim=36)
    lora = comfy.utils.load_torch_file(str(find(name)), safe_load=True)
    before = len(CAPTURE.messages)
    patched, _ = comfy.sd.load_lora_for_models(model, None, lora, 1.0, 0)
    warnings = CAPTURE.messages[before:]
    patched.patch_model()
    loaded = time.monotonic()
    out = unet_forward(patched, in_dim=36)
    patched.unpatch_model()
    return {
        "lora_keys": len(lora),
        "patches": len(patched.patches),
        "not_loaded": [m for m in warnings if "lora key not loaded" in m],
        "changed": bool((out - base_out).abs().max() > 0),
        "shape": list(out.shape),
        "finite": _finite(out),
        "load_s": round(loaded - start, 3),
        "run_s": round(time.monotonic() - loaded, 3),
    }


def probe_umt5(name: str) -> dict[str, Any]:
    start = time.monotonic()
    clip = comfy.sd.load_clip([str(find(name))], clip_type=comfy.sd.CLIPType.WAN)
    loaded = time.monotonic()
    tokens = clip.tokenize("a camera slowly pans across a city street at sunset, cinematic")
    cond = clip.encode_from_tokens_scheduled(tokens)[0][0]
    return {
        "class": type(clip.cond_stage_model).__name__,
        "params": sum(p.numel() for p in clip.cond_stage_model.parameters()),
        "tokens": len(tokens["umt5xxl"][0]),
        "shape": list(cond.shape),
        "finite": _finite(cond),
        "load_s": round(loaded - start, 3),
        "run_s": round(time.monotonic() - loaded, 3),
    }


def probe_vae(name: str, frames: int) -> dict[str, Any]:
    start = time.monotonic()
    before = len(CAPTURE.messages)
    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(find(name))))
    warnings = CAPTURE.messages[before:]
    loaded = time.monotonic()
    gen = torch.Generator().manual_seed(0)
    pixels = torch.rand((frames, 32, 32, 3), generator=gen)
    latent = vae.encode(pixels)
    decoded = vae.decode(latent)
    return {
        "class": type(vae.first_stage_model).__module__
        + "."
        + type(vae.first_stage_model).__name__,
        "latent_channels": vae.latent_channels,
        "missing_warnings": [m for m in warnings if "missing" in m.lower()],
        "latent_shape": list(latent.shape),
        "shape": list(decoded.shape),
        "finite": _finite(latent) and _finite(decoded),
        "load_s": round(loaded - start, 3),
        "run_s": round(time.monotonic() - loaded, 3),
    }


def probe_clip_vision(name: str) -> dict[str, Any]:
    start = time.monotonic()
    before = len(CAPTURE.messages)
    cv = comfy.clip_vision.load(str(find(name)))
    warnings = CAPTURE.messages[before:]
    loaded = time.monotonic()
    image = torch.rand((1, 224, 224, 3), generator=torch.Generator().manual_seed(0))
    out = cv.encode_image(image)
    hidden = out["penultimate_hidden_states"]
    return {
        "class": type(cv.model).__name__,
        "hidden_size": cv.model.vision_model.embeddings.class_embedding.shape[0],
        "num_layers": len(cv.model.vision_model.encoder.layers),
        "missing_warnings": [m for m in warnings if "missing" in m.lower()],
        "shape": list(hidden.shape),
        "finite": _finite(hidden) and _finite(out["image_embeds"]),
        "load_s": round(loaded - start, 3),
        "run_s": round(time.monotonic() - loaded, 3),
    }


A14B_HIGH = "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"
A14B_LOW = "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"
PROBES: dict[str, Callable[[str], dict[str, Any]]] = {
    "wan2.2_ti2v_5B_fp16.safetensors": lambda n: probe_unet(n, 48),
    "wan2.1_fun_camera_v1.1_1.3B_bf16.safetensors": lambda n: probe_unet(n, 32, clip_fea=True),
    A14B_HIGH: lambda n: probe_unet(n, 36),
    A14B_LOW: lambda n: probe_unet(n, 36),
    "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors": lambda n: probe_lora(n, A14B_HIGH),
    "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors": lambda n: probe_lora(n, A14B_LOW),
    "umt5_xxl_fp8_e4m3fn_scaled.safetensors": probe_umt5,
    "wan_2.1_vae.safetensors": lambda n: probe_vae(n, 5),
    "wan2.2_vae.safetensors": lambda n: probe_vae(n, 5),
    "clip_vision_h.safetensors": probe_clip_vision,
}


def main() -> None:
    results = {}
    for name in NAMES:
        # ComfyUI executes every node under inference mode (execution.py); patching fp8
        # weights with a LoRA fails outside it (stochastic rounding writes with out=)
        with torch.inference_mode():
            results[name] = PROBES[name](name)
        comfy.model_management.unload_all_models()
        comfy.model_management.soft_empty_cache()
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
