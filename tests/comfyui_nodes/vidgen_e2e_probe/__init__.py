"""Test-only ComfyUI custom node: reports what the generation workflows really loaded and ran.

Linked into the end-to-end test's ComfyUI (``tests/test_generation_e2e.py``), never
installed for real use. It adds no nodes. On import it wraps a few ComfyUI functions so
the log says, one JSON object per ``vidgen-probe:`` line:

- ``unet``: the ``supported_models`` class ComfyUI's model detection chose for every
  diffusion model or checkpoint (``SVD_img2vid``, ``WAN22_T2V``, ``WAN21_Camera``,
  ``LTXV``, ``WAN21_T2V``) with the detected config (in_dim, out_dim, dim, layers);
- ``te``: the text-encoder kind detected (``TEModel``), the CLIP type asked for, the
  tokenizer and model classes and the parameter count;
- ``clip_vision``: the config file the CLIP vision loader picked;
- ``vae``: the VAE's first-stage class and latent channels;
- ``sample`` / ``decode``: whether every sampler output and every decoded frame batch
  is finite, with its shape and range (a NaN becomes a black frame once quantised,
  which no check on the delivered video could tell from a dark clip);
- ``node``: each executed node's id, class, wall seconds and the ComfyUI process's CPU
  seconds meanwhile (ComfyUI itself only logs the whole prompt's time; on a shared
  machine the CPU time is the steadier figure).

This is what the test reads instead of ``/object_info`` (which lists node types, not
what a loader found in a file). Nothing here changes a value ComfyUI computes.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

NODE_CLASS_MAPPINGS: dict[str, Any] = {}


def _emit(kind: str, **fields: Any) -> None:
    logging.info("vidgen-probe: %s", json.dumps({"kind": kind, **fields}, default=str))


def _tensor_facts(t: Any) -> dict[str, Any]:
    import torch

    if not isinstance(t, torch.Tensor):
        return {"type": type(t).__name__}
    f = t.detach().float()
    finite = bool(torch.isfinite(f).all())
    return {
        "shape": list(t.shape),
        "finite": finite,
        "min": float(f.min()) if finite and f.numel() else None,
        "max": float(f.max()) if finite and f.numel() else None,
        "std": float(f.std()) if finite and f.numel() > 1 else None,
    }


def _install() -> None:
    import comfy.clip_vision
    import comfy.model_detection
    import comfy.sample
    import comfy.sd
    import execution

    detect = comfy.model_detection.model_config_from_unet

    def model_config_from_unet(state_dict: Any, prefix: str, *a: Any, **kw: Any) -> Any:
        cfg = detect(state_dict, prefix, *a, **kw)
        if cfg is not None:
            uc = cfg.unet_config
            keys = ("image_model", "model_type", "in_dim", "out_dim", "dim", "num_layers",
                    "in_channels", "model_channels", "channel_mult", "attention_head_dim")  # fmt: skip
            _emit("unet", cls=type(cfg).__name__, config={k: uc.get(k) for k in keys if k in uc})
        return cfg

    comfy.model_detection.model_config_from_unet = model_config_from_unet

    detect_te = comfy.sd.detect_te_model
    load_te = comfy.sd.load_text_encoder_state_dicts
    seen_te: list[str] = []

    def detect_te_model(sd: Any) -> Any:
        kind = detect_te(sd)
        seen_te.append(getattr(kind, "name", str(kind)))
        return kind

    def load_text_encoder_state_dicts(*a: Any, **kw: Any) -> Any:
        seen_te.clear()
        clip = load_te(*a, **kw)
        model = clip.cond_stage_model
        _emit(
            "te",
            detected=list(seen_te),
            clip_type=getattr(kw.get("clip_type"), "name", str(kw.get("clip_type"))),
            tokenizer=type(clip.tokenizer).__name__,
            model_mro=[c.__name__ for c in type(model).__mro__][:4],
            parameters=sum(p.numel() for p in model.parameters()),
        )
        return clip

    comfy.sd.detect_te_model = detect_te_model
    comfy.sd.load_text_encoder_state_dicts = load_text_encoder_state_dicts

    cv_init = comfy.clip_vision.ClipVisionModel.__init__

    def clip_vision_init(self: Any, json_config: str, *a: Any, **kw: Any) -> None:
        cv_init(self, json_config, *a, **kw)
        _emit("clip_vision", config=str(json_config).replace("\\", "/").rsplit("/", 1)[-1])

    comfy.clip_vision.ClipVisionModel.__init__ = clip_vision_init  # type: ignore[method-assign]

    vae_init = comfy.sd.VAE.__init__
    vae_decode = comfy.sd.VAE.decode

    def init_vae(self: Any, *a: Any, **kw: Any) -> None:
        vae_init(self, *a, **kw)
        fsm = getattr(self, "first_stage_model", None)
        _emit(
            "vae",
            cls=type(fsm).__name__,
            latent_channels=getattr(self, "latent_channels", None),
            parameters=sum(p.numel() for p in fsm.parameters()) if fsm is not None else 0,
        )

    def decode(self: Any, samples: Any, *a: Any, **kw: Any) -> Any:
        out = vae_decode(self, samples, *a, **kw)
        _emit("decode", latent=_tensor_facts(samples), image=_tensor_facts(out))
        return out

    comfy.sd.VAE.__init__ = init_vae  # type: ignore[method-assign]
    comfy.sd.VAE.decode = decode  # type: ignore[method-assign]

    sample = comfy.sample.sample

    def sample_logged(*a: Any, **kw: Any) -> Any:
        out = sample(*a, **kw)
        _emit("sample", out=_tensor_facts(out))
        return out

    comfy.sample.sample = sample_logged

    run = execution.execute

    async def execute(server: Any, dynprompt: Any, caches: Any, current_item: str,
                      *a: Any, **kw: Any) -> Any:  # fmt: skip
        t0, c0 = time.perf_counter(), time.process_time()
        result = await run(server, dynprompt, caches, current_item, *a, **kw)
        cpu = time.process_time() - c0
        try:
            cls = dynprompt.get_node(current_item)["class_type"]
        except Exception:  # a node id the prompt does not hold: report it unnamed
            cls = "?"
        _emit(
            "node",
            id=current_item,
            cls=cls,
            seconds=round(time.perf_counter() - t0, 3),
            cpu_seconds=round(cpu, 3),
        )
        return result

    execution.execute = execute


_install()
_emit("installed")
