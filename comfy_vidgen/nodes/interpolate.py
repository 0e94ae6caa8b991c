"""RIFEInterpolate: an IMAGE batch retimed to exactly ``target_frames`` frames."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

MODEL_NAME = "rife-4.25"
FOLDER = "rife"
DTYPES = ("auto", "fp16", "bf16", "fp32")


def _model_files() -> list[str]:
    """Weight files in ComfyUI's ``rife`` folder (registered here), or the locked ones."""
    from ..models import comfy_folder_paths, load_lock, locate, register_comfy_folder

    fp = comfy_folder_paths()
    if fp is not None:
        register_comfy_folder(fp, FOLDER)
        return sorted(fp.get_filename_list(FOLDER))
    entry = load_lock().get(MODEL_NAME)
    return [entry.filename] if locate(entry) else []


def _model_path(name: str) -> str:
    from ..models import ModelsError, comfy_folder_paths, load_lock, search_dirs

    fp = comfy_folder_paths()
    if fp is not None:
        path = fp.get_full_path(FOLDER, name)
        if path:
            return str(path)
    entry = load_lock().get(MODEL_NAME)
    for d in search_dirs(entry):
        if (d / name).is_file():
            return str(d / name)
    raise ModelsError(
        f"model file {name!r} not found in the {FOLDER} model folder; "
        f"fetch it with `vidgen models fetch {MODEL_NAME}`"
    )


def _device_and_dtype(dtype: str) -> tuple[Any, Any]:
    import torch

    from ._comfy import _module

    mm = _module("comfy.model_management")
    device = mm.get_torch_device() if mm is not None else torch.device("cpu")
    if device.type != "cuda" or dtype == "fp32":
        return device, torch.float32
    return device, {"auto": torch.float16, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]


def _release_gpu_cache() -> None:
    from ._comfy import _module

    mm = _module("comfy.model_management")
    if mm is not None:
        mm.soft_empty_cache()


class RIFEInterpolate:
    """Exact-count RIFE 4.25 retime with feature reuse, batching and a scene-cut guard."""

    CATEGORY = "vidgen/interpolate"
    FUNCTION = "interpolate"
    DESCRIPTION = (
        "Retimes a frame batch to exactly target_frames frames with RIFE 4.25: output j sits "
        "at j*(N-1)/(M-1) on the input timeline; frames landing on inputs are copied "
        "bit-exactly. Every frame is placed at its true time: RIFE runs once per pair at "
        "t = 0.5 and its flows are re-timed (timing=arbitrary asks RIFE for each t, as "
        "the first release did). Encoder features are computed once per frame and samples run in "
        "batches; pairs that look like a hard cut take the nearest frame instead of warping."
    )
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("Exactly target_frames frames, float32 [M,H,W,3] in 0..1.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        from ..interpolate import DEFAULT_TIMING, TIMINGS

        files = _model_files() or ["rife-4.25.pkl"]
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "Input frames [N,H,W,3] (N >= 1), e.g. 25."}),
                "target_frames": (
                    "INT",
                    {
                        "default": 120,
                        "min": 2,
                        "max": 20000,
                        "tooltip": "Exact output frame count (2..20000), e.g. 120 for 4 s at 30 fps.",
                    },
                ),
                "model": (
                    files,
                    {
                        "tooltip": "RIFE 4.25 weights in models/rife (vidgen models fetch rife-4.25)."
                    },
                ),
                "dtype": (
                    list(DTYPES),
                    {"default": "auto", "tooltip": "GPU precision; auto = fp16. CPU always fp32."},
                ),
                "batch_size": (
                    "INT",
                    {
                        "default": 0,
                        "min": 0,
                        "max": 256,
                        "tooltip": "Timesteps per network call (0..256); 0 = sized from free memory.",
                    },
                ),
                "scene_cut_guard": (
                    "BOOLEAN",
                    {
                        "default": True,
                        "tooltip": "Use the nearest frame instead of warping across a hard cut.",
                    },
                ),
            },
            "optional": {
                "timing": (
                    list(TIMINGS),
                    {
                        "default": DEFAULT_TIMING,
                        "tooltip": "midpoint_gated: RIFE at t = 0.5 once per pair, its flows "
                        "re-timed so every frame sits at its true time (no near-duplicates, "
                        "faster), its fusion mask trusted in proportion to the motion. "
                        "midpoint: the same with RIFE's whole mask (the @2 graphs; slow zooms "
                        "lead slightly). arbitrary: RIFE asked for each frame's t (the first "
                        "release; it under-moves near the input frames).",
                    },
                ),
            },
        }

    def interpolate(
        self,
        frames: Any,
        target_frames: int,
        model: str,
        dtype: str = "auto",
        batch_size: int = 0,
        scene_cut_guard: bool = True,
        timing: str | None = None,
    ) -> tuple[Any]:
        from ..interpolate import RELEASED_GRAPH_TIMING, retime
        from ..interpolate.cache import cached_cpu_model, device_copy
        from ._comfy import progress_callback

        device, dt = _device_and_dtype(dtype)
        net = device_copy(cached_cpu_model(_model_path(model)), device, dt)
        try:
            result = retime(
                frames,
                int(target_frames),
                net,
                batch_size=int(batch_size) or None,
                scene_cut_guard=bool(scene_cut_guard),
                timing=str(timing or RELEASED_GRAPH_TIMING),
                on_progress=progress_callback(int(target_frames)),
            )
        finally:
            del net  # the device copy; the fp32 CPU master stays cached
            _release_gpu_cache()
        return (result.frames,)


NODE_CLASS_MAPPINGS = {"RIFEInterpolate": RIFEInterpolate}
NODE_DISPLAY_NAME_MAPPINGS = {"RIFEInterpolate": "RIFE Interpolate (exact count)"}
