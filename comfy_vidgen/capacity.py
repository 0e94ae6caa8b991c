"""Throughput planning: clips per day for each rack topology from per-stage GPU seconds.

``symmetric``: every GPU runs the whole workflow (generation, RIFE, encode) one
clip after another. ``split``: some GPUs only generate, the others interpolate
and encode; the split that maximises throughput is chosen. Stages on one GPU are
assumed not to overlap (a conservative bound: NVENC could overlap the next
generation).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError

SECONDS_PER_DAY = 86_400
DEFAULT_TARGET = 1000
TOPOLOGIES = ("symmetric", "split")


@dataclass(frozen=True)
class StageSeconds:
    """GPU seconds per clip for each stage, measured on one GPU."""

    gen: float
    interp: float
    encode: float

    def __post_init__(self) -> None:
        for name, v in (("gen", self.gen), ("interp", self.interp), ("encode", self.encode)):
            if not math.isfinite(v) or v < 0:
                raise UsageError(f"--{name}-seconds must be a finite number >= 0, got {v}")
        if self.gen + self.interp + self.encode <= 0:
            raise UsageError("at least one stage must take more than 0 seconds")


@dataclass(frozen=True)
class TopologyResult:
    clips_per_day: int
    bottleneck: str
    gen_gpus: int = 0
    post_gpus: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"clips_per_day": self.clips_per_day, "bottleneck": self.bottleneck}


def _per_day(rate_per_s: float) -> int:
    return int(math.floor(rate_per_s * SECONDS_PER_DAY + 1e-9))


def symmetric(t: StageSeconds, gpus: int) -> TopologyResult:
    per_clip = t.gen + t.interp + t.encode
    stages = {"generation": t.gen, "interpolation": t.interp, "encode": t.encode}
    return TopologyResult(
        clips_per_day=_per_day(gpus / per_clip),
        bottleneck=max(stages, key=lambda k: stages[k]),
        gen_gpus=gpus,
        post_gpus=gpus,
    )


def split(t: StageSeconds, gpus: int) -> TopologyResult:
    if gpus < 2:
        return TopologyResult(0, "split needs at least 2 GPUs")
    post = t.interp + t.encode
    best: tuple[float, int] = (-1.0, 1)
    for k in range(1, gpus):
        gen_rate = math.inf if t.gen == 0 else k / t.gen
        post_rate = math.inf if post == 0 else (gpus - k) / post
        rate = min(gen_rate, post_rate)
        if rate > best[0]:
            best = (rate, k)
    rate, k = best
    gen_rate = math.inf if t.gen == 0 else k / t.gen
    post_rate = math.inf if post == 0 else (gpus - k) / post
    bottleneck = "generation" if gen_rate <= post_rate else "interpolation+encode"
    return TopologyResult(_per_day(rate), bottleneck, gen_gpus=k, post_gpus=gpus - k)


def plan(t: StageSeconds, gpus: int, target: int = DEFAULT_TARGET) -> dict[str, Any]:
    """The ``vidgen capacity --json`` object."""
    if gpus < 1:
        raise UsageError(f"--gpus must be >= 1, got {gpus}")
    if target < 1:
        raise UsageError(f"--target must be >= 1 clips/day, got {target}")
    return {
        "target": target,
        "topologies": {
            "symmetric": symmetric(t, gpus).to_dict(),
            "split": split(t, gpus).to_dict(),
        },
    }


def budget_seconds(gpus: int, target: int = DEFAULT_TARGET) -> float:
    """GPU seconds one clip may take, all stages together, for ``target`` clips/day on
    ``gpus`` GPUs running the whole workflow (symmetric): 2 GPUs, 1000/day -> 172.8 s."""
    if gpus < 1 or target < 1:
        raise UsageError(f"--gpus and --target must be >= 1, got {gpus} and {target}")
    return gpus * SECONDS_PER_DAY / target


@dataclass(frozen=True)
class PublishedTime:
    """A generation time per clip someone published for a workflow's model: what to
    expect before our own shootout measures it on the rack. Not our measurement."""

    workflow: str
    seconds: float
    gpu: str
    #: the setting it was measured at (size, frames, steps, precision)
    setting: str
    source: str
    note: str = ""


#: the published per-clip generation times we found for each generation workflow
#: (docs/qc.md, "Published per-clip times", says how they compare with the budget)
PUBLISHED: dict[str, PublishedTime] = {
    t.workflow: t
    for t in (
        PublishedTime(
            "wan22_i2v_a14b_4step",
            71.0,
            "RTX 4090D 24 GB",
            "640x640, 81 frames, fp8 scaled + lightx2v 4-step LoRAs (97 s on the first run)",
            "ComfyUI's official template video_wan2_2_14B_i2v (its VRAM Usage note; "
            "comfyui-workflow-templates 0.1.95)",
        ),
        PublishedTime(
            "wan22_ti2v_5b",
            540.0,
            "RTX 4090 24 GB",
            "720p (1280x704), 121 frames at 24 fps, the reference sampler",
            "Wan-AI's Wan2.2 README: a 5 s 720p clip in under 9 minutes on one 4090",
            "an upper bound ('under 9 minutes')",
        ),
        PublishedTime(
            "wan21_fun_camera",
            240.0,
            "RTX 4090 24 GB",
            "480p, 5 s (81 frames), no optimisation",
            "Wan-AI's Wan2.1 README, for Wan2.1 T2V-1.3B (about 4 minutes)",
            "the 1.3B base model; the Fun camera model is that backbone plus a camera adapter",
        ),
        PublishedTime(
            "svd_xt",
            25.0,
            "RTX 4090 24 GB",
            "1024x576, 25 frames, fp16",
            "gigagpu.com, 'RTX 4090 24GB Stable Video Diffusion benchmark' (18 s with fp8)",
            "a hosting vendor's benchmark",
        ),
        PublishedTime(
            "ltxv_i2v",
            2.0,
            "H100 80 GB",
            "768x512, 121 frames (5 s at 24 fps)",
            "the LTX-Video paper (arXiv:2501.00103): 5 s of video in 2 s on an H100",
            "no RTX 4090 figure found; an H100 is several times faster",
        ),
    )
}


def load_measurements(path: str | os.PathLike[str]) -> StageSeconds:
    """Stage seconds from a shootout's ``measurements.json`` (gen/interp/encode_seconds)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text("utf-8"))
        return StageSeconds(
            gen=float(data["gen_seconds"]),
            interp=float(data["interp_seconds"]),
            encode=float(data["encode_seconds"]),
        )
    except FileNotFoundError:
        raise UsageError(f"{p}: no such measurements file") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(
            f"{p}: not a measurements file (needs gen_seconds, interp_seconds, "
            f"encode_seconds numbers): {e}"
        ) from None
