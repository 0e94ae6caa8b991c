"""The parameter table: every value a workflow takes from the manifest, declared once.

Each row is one output of ManifestLoader: its ComfyUI type, where its value lives in
the manifest, its tooltip, and which ComfyUI node inputs it may feed. Everything that
used to list these separately is derived from here: ManifestLoader's outputs (types,
names, tooltips, values), the workflow lint's governed inputs, the orchestrator's
managed inputs, the generation keys a workflow spec may declare, ``vidgen manifest
new``'s generation flags and the shootout's sweepable keys.

Rows are in ManifestLoader's output order (after ``keyframe`` and ``manifest``).
Released workflows address outputs by slot number in their API form, so a new row is
appended, never inserted; everything in this pack addresses them by name.

Adding a parameter: one row here, its field in the manifest model (with its default
there), and the workflow builder's link. Per-workflow generation defaults and bounds
live in that workflow's spec (``specs/<name>/v<N>.toml``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manifest import Manifest

#: ComfyUI type of a ManifestLoader output: a type name, or a combo's choices
ComfyType = str | tuple[str, ...]

#: NVENCEncode's bit_depth is a combo of these strings (an output of the same combo
#: type links to it; ComfyUI compares the two choice lists)
BIT_DEPTH_CHOICES: tuple[str, ...] = ("10", "8")


@dataclass(frozen=True)
class Parameter:
    """One manifest value as a ManifestLoader output."""

    name: str
    comfy_type: ComfyType
    #: dotted path in the manifest (``generation.seed``), or ``""`` for a derived value
    source: str
    tooltip: str
    #: (node class, input name) pairs this output may be linked to; a released
    #: workflow must link each of these inputs to this output, never a literal
    feeds: tuple[tuple[str, str], ...]
    #: how a derived value is computed (``source == ""``)
    derive: Callable[[Manifest], Any] | None = None
    #: ``vidgen manifest new`` option for a generation key (``None``: no option)
    flag: str | None = None
    #: a workflow whose spec does not declare this generation key may set the inputs
    #: as literals: the value is then part of that workflow's design, not the
    #: manifest's (Wan's sampling shift is 8.0 in wan22_ti2v_5b, 5.0 in wan21_fun_camera,
    #: released before the manifest could carry it)
    fixed_unless_declared: bool = False

    @property
    def generation_key(self) -> str | None:
        """The ``generation.<key>`` this row carries, if any."""
        section, _, key = self.source.partition(".")
        return key if section == "generation" else None

    def value(self, m: Manifest) -> Any:
        """The output value for a validated manifest (unused generation keys: 0 / '')."""
        if self.derive is not None:
            return self.derive(m)
        obj: Any = m
        for part in self.source.split("."):
            obj = getattr(obj, part)
        if obj is None:
            return _EMPTY[self.comfy_type if isinstance(self.comfy_type, str) else "STRING"]
        if isinstance(self.comfy_type, tuple):
            return str(obj)
        if self.comfy_type == "FLOAT":
            return float(obj)
        return obj


_EMPTY: dict[str, Any] = {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}


def native_frames(m: Manifest) -> int:
    """The model-native frame count: ``generation.frames`` (every released workflow
    requires it), else the delivered count (a workflow that renders every frame)."""
    return m.generation.frames if m.generation.frames is not None else m.output.frames


def model_fps(m: Manifest) -> float:
    """The frame rate the model's frames represent once retimed to the output.

    ``generation.frames`` span the same duration as ``output.frames`` after RIFE, so
    the model is conditioned on (N-1) * fps / (M-1) (SVD's ``fps``, LTXV's
    ``frame_rate``): 25 -> 120 frames at 30 fps is 6.05 fps.
    """
    return (native_frames(m) - 1) * m.output.fps / (m.output.frames - 1)


_SAMPLER_STEPS = (
    ("KSampler", "steps"),
    ("KSamplerAdvanced", "steps"),
    ("BasicScheduler", "steps"),
    ("LTXVScheduler", "steps"),
)
_SIZE_NODES = (
    "SVD_img2vid_Conditioning",
    "WanImageToVideo",
    "Wan22ImageToVideoLatent",
    "WanCameraImageToVideo",
    "LTXVImgToVideo",
    "CameraPathConditioner",
    "VirtualCamera",
)

PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "seed",
        "INT",
        "generation.seed",
        "generation.seed (uint64; ComfyUI samplers take it as is).",
        (("KSampler", "seed"), ("KSamplerAdvanced", "noise_seed"), ("RandomNoise", "noise_seed")),
    ),
    Parameter(
        "steps",
        "INT",
        "generation.steps",
        "generation.steps (0 when the workflow does not use it).",
        _SAMPLER_STEPS,
        flag="--steps",
    ),
    Parameter(
        "cfg",
        "FLOAT",
        "generation.cfg",
        "generation.cfg (0 when unused).",
        (("KSampler", "cfg"), ("KSamplerAdvanced", "cfg"), ("CFGGuider", "cfg")),
        flag="--cfg",
    ),
    Parameter(
        "min_cfg",
        "FLOAT",
        "generation.min_cfg",
        "generation.min_cfg (0 when unused).",
        (("VideoLinearCFGGuidance", "min_cfg"),),
        flag="--min-cfg",
    ),
    Parameter(
        "motion_bucket_id",
        "INT",
        "generation.motion_bucket_id",
        "generation.motion_bucket_id (0 when unused).",
        (("SVD_img2vid_Conditioning", "motion_bucket_id"),),
        flag="--motion-bucket",
    ),
    Parameter(
        "noise_aug_strength",
        "FLOAT",
        "generation.noise_aug_strength",
        "generation.noise_aug_strength (0 when unused).",
        (("SVD_img2vid_Conditioning", "augmentation_level"),),
        flag="--noise-aug",
    ),
    Parameter(
        "width",
        "INT",
        "output.width",
        "output.width in pixels.",
        tuple((node, "width") for node in _SIZE_NODES),
    ),
    Parameter(
        "height",
        "INT",
        "output.height",
        "output.height in pixels.",
        tuple((node, "height") for node in _SIZE_NODES),
    ),
    Parameter(
        "frames",
        "INT",
        "generation.frames",
        "generation.frames: the model-native frame count (e.g. 25).",
        (
            ("SVD_img2vid_Conditioning", "video_frames"),
            ("WanImageToVideo", "length"),
            ("Wan22ImageToVideoLatent", "length"),
            ("WanCameraImageToVideo", "length"),
            ("LTXVImgToVideo", "length"),
            ("CameraPathConditioner", "length"),
            ("VirtualCamera", "frames"),
        ),
        derive=native_frames,
        flag="--gen-frames",
    ),
    Parameter("fps", "INT", "output.fps", "output.fps.", (("NVENCEncode", "fps"),)),
    Parameter(
        "prompt",
        "STRING",
        "generation.prompt",
        "generation.prompt ('' when unused).",
        (("CLIPTextEncode", "text"),),
        flag="--prompt",
    ),
    Parameter(
        "negative_prompt",
        "STRING",
        "generation.negative_prompt",
        "generation.negative_prompt ('' when unused).",
        (("CLIPTextEncode", "text"),),
        flag="--negative-prompt",
    ),
    Parameter(
        "output_frames",
        "INT",
        "output.frames",
        "output.frames: the delivered frame count (RIFE's target, e.g. 120).",
        (("RIFEInterpolate", "target_frames"),),
    ),
    Parameter(
        "model_fps",
        "FLOAT",
        "",
        "The rate the model's frames represent after retiming: (frames-1)*fps/(output_frames-1).",
        (("LTXVConditioning", "frame_rate"),),
        derive=model_fps,
    ),
    Parameter(
        "model_fps_int",
        "INT",
        "",
        "model_fps rounded, for conditioning inputs that take an INT (SVD's fps).",
        (("SVD_img2vid_Conditioning", "fps"),),
        derive=lambda m: max(1, round(model_fps(m))),
    ),
    Parameter(
        "scene_cut_guard",
        "BOOLEAN",
        "interpolation.scene_cut_guard",
        "interpolation.scene_cut_guard for RIFEInterpolate.",
        (("RIFEInterpolate", "scene_cut_guard"),),
    ),
    Parameter(
        "quality",
        "INT",
        "output.quality",
        "output.quality: CRF (libx265) / CQ (NVENC) of the delivery encode.",
        (("NVENCEncode", "quality"),),
    ),
    Parameter(
        "bit_depth",
        BIT_DEPTH_CHOICES,
        "output.bit_depth",
        "output.bit_depth of the delivery encode ('10' or '8').",
        (("NVENCEncode", "bit_depth"),),
    ),
    Parameter(
        "camera",
        "VIDGEN_CAMERA",
        "camera",
        "The manifest's camera block (motion, easing, start and end crops) for "
        "CameraPathConditioner.",
        (("CameraPathConditioner", "camera"),),
    ),
    Parameter(
        "split_step",
        "INT",
        "generation.split_step",
        "generation.split_step: the step at which a two-expert schedule hands over from "
        "the high-noise to the low-noise model (0 when unused).",
        (("KSamplerAdvanced", "end_at_step"), ("KSamplerAdvanced", "start_at_step")),
        flag="--split-step",
    ),
    Parameter(
        "shift",
        "FLOAT",
        "generation.shift",
        "generation.shift: the flow-matching sampling shift (0 when unused).",
        (("ModelSamplingSD3", "shift"),),
        flag="--shift",
        fixed_unless_declared=True,
    ),
    Parameter(
        "lora_strength",
        "FLOAT",
        "generation.lora_strength",
        "generation.lora_strength: the strength of the workflow's LoRAs (0 when unused).",
        (("LoraLoaderModelOnly", "strength_model"),),
        flag="--lora-strength",
    ),
)


#: ManifestLoader's first two outputs, which are not parameters
LEADING_OUTPUTS: tuple[tuple[str, str, str], ...] = (
    ("keyframe", "IMAGE", "The keyframe as displayed (EXIF-oriented, sRGB), full resolution, [1,H,W,3]."),
    ("manifest", "VIDGEN_MANIFEST", "The validated manifest object for the vidgen nodes downstream."),
)  # fmt: skip


def by_name(name: str) -> Parameter:
    for p in PARAMETERS:
        if p.name == name:
            return p
    raise KeyError(f"no manifest parameter {name!r}")


def loader_output_names() -> tuple[str, ...]:
    """ManifestLoader's output names in slot order."""
    return (*(n for n, _, _ in LEADING_OUTPUTS), *(p.name for p in PARAMETERS))


def loader_slot(name: str) -> int:
    """ManifestLoader's output slot of ``name`` (what an API-format link carries)."""
    try:
        return loader_output_names().index(name)
    except ValueError:
        raise KeyError(f"ManifestLoader has no output {name!r}") from None


def generation_keys() -> tuple[str, ...]:
    """The ``generation.*`` keys a workflow spec may declare (besides ``workflow``)."""
    return tuple(k for p in PARAMETERS if (k := p.generation_key) is not None)


@cache
def bound_inputs() -> dict[tuple[str, str], tuple[str, ...]]:
    """(node class, input) -> the ManifestLoader outputs it may be linked to."""
    bound: dict[tuple[str, str], tuple[str, ...]] = {}
    for p in PARAMETERS:
        for target in p.feeds:
            bound[target] = (*bound.get(target, ()), p.name)
    return bound


def flagged() -> tuple[tuple[str, str, Parameter], ...]:
    """(option, generation key, row) of every parameter ``vidgen manifest new`` takes."""
    return tuple(
        (p.flag, key, p)
        for p in PARAMETERS
        if p.flag is not None and (key := p.generation_key) is not None
    )


def python_type(p: Parameter) -> type:
    """The Python type of a parameter's value (for command-line parsing)."""
    if isinstance(p.comfy_type, tuple):
        return str
    return {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}[p.comfy_type]


def values(m: Manifest) -> dict[str, Any]:
    """Every parameter's value for a validated manifest, by output name."""
    return {p.name: p.value(m) for p in PARAMETERS}
