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
