"""Motion uniformity (judder): does each frame move as far as the smooth camera path says?

A retime that asks RIFE for arbitrary timesteps leaves a near-duplicate frame
about every fifth output of a 25 -> 120 clip (RIFE under-moves near t = 0 and 1,
docs/interpolate.md): the camera stops for one frame and then jumps. Where the
manifest's path moves the picture smoothly, each measured step should be a steady
fraction of the path's step. A generative model may move slower or faster than
the path as a whole, so each step is compared with the median of its neighbours
rather than with the path alone:

* ``r_k`` = projection of the measured step's displacement on the path's step
  (over the 3x3 probe grid), divided by the path step's squared length;
* ``q_k = r_k / median(r)`` over the steps within ``WINDOW`` of k;
* a step with ``q_k < NEAR_DUPLICATE`` is a near-duplicate (the benchmark's
  definition: under 25 % of the true step); ``step_dev`` is the RMS of ``q_k - 1``.

Steps whose path displacement is below ``MIN_STEP_PX`` (held or nearly static
camera) and steps whose motion could not be measured are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .motion import F64, Similarity

#: a step moving less than this fraction of its neighbours' median is a near-duplicate
NEAR_DUPLICATE = 0.25
#: path steps shorter than this (output px, largest over the probes) are not judged
MIN_STEP_PX = 0.25
#: neighbours on each side for the local median
WINDOW = 5


def step_ratios(
    steps: Sequence[Similarity | None], expected: Sequence[Similarity], probe: F64
) -> list[tuple[int, float]]:
    """(step index, measured / path step length along the path's direction) where judged."""
    out: list[tuple[int, float]] = []
    for k, (est, exp) in enumerate(zip(steps, expected, strict=False)):
        if est is None:
            continue
        de = exp.displacement(probe)
        if float(np.abs(de).max()) < MIN_STEP_PX:
            continue
        dm = est.displacement(probe)
        out.append((k, float(np.sum(dm * de) / np.sum(de * de))))
    return out


def judder(
    steps: Sequence[Similarity | None], expected: Sequence[Similarity] | None, probe: F64
) -> dict[str, Any]:
    """``judder_*`` stability metrics; None values without a path or judged steps."""
    none: dict[str, Any] = {
        "judder_steps": 0,
        "judder_near_duplicates": None,
        "judder_step_dev": None,
        "judder_step_min": None,
    }
    if expected is None:
        return none
    ratios = step_ratios(steps, expected, probe)
    if len(ratios) < 3:
        return {**none, "judder_steps": len(ratios)}
    r = np.array([v for _, v in ratios])
    q = np.empty_like(r)
    for i in range(len(r)):
        med = float(np.median(r[max(0, i - WINDOW) : i + WINDOW + 1]))
        q[i] = r[i] / med if med > 1e-6 else 1.0
    return {
        "judder_steps": len(r),
        "judder_near_duplicates": int(np.sum(q < NEAR_DUPLICATE)),
        "judder_step_dev": round(float(np.sqrt(np.mean((q - 1.0) ** 2))), 4),
        "judder_step_min": round(float(q.min()), 4),
    }
