"""QC judder metric: near-duplicate steps where the manifest's path moves smoothly."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import photo

from comfy_vidgen.camera import Pyramid
from comfy_vidgen.qc import analyze_frames
from comfy_vidgen.qc.judder import judder
from comfy_vidgen.qc.motion import Similarity, probe_points

SIZE = (256, 144)


def _pan(step_px: float, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    """n frames of a constant-velocity pan over a real photo, and their crop rects."""
    pyr = Pyramid(photo("astronaut"))
    rects = np.array([(40.0 + step_px * i, 150.0, 256.0, 144.0) for i in range(n)])
    return [pyr.render(r, SIZE) for r in rects], rects


@pytest.mark.parametrize("step_px", [0.5, 2.0])
def test_smooth_pan_has_no_judder_and_held_frames_are_counted(step_px: float) -> None:
    frames, rects = _pan(step_px, 31)
    st = analyze_frames(iter(frames), 30.0, rects=rects).metrics()["stability"]
    assert st["judder_steps"] == 30 and st["judder_near_duplicates"] == 0
    assert st["judder_step_dev"] < 0.2
    # RIFE-style stutter: every 5th frame is (nearly) its predecessor, then the camera
    # catches up; the path still says the motion is uniform
    held = list(frames)
    for k in range(3, 31, 5):
        held[k] = frames[k - 1]
    st = analyze_frames(iter(held), 30.0, rects=rects).metrics()["stability"]
    assert st["judder_near_duplicates"] == len(range(3, 31, 5))
    assert st["judder_step_dev"] > 0.3


def test_without_a_path_or_motion_nothing_is_judged() -> None:
    frames, _ = _pan(2.0, 6)
    st = analyze_frames(iter(frames), 30.0).metrics()["stability"]
    assert st["judder_near_duplicates"] is None and st["judder_steps"] == 0
    probe = probe_points(*SIZE)
    still = [Similarity(1.0, 0.0, 0.0)] * 10
    assert judder(still, still, probe)["judder_steps"] == 0


def test_a_slower_model_is_not_judder() -> None:
    """A clip that moves at 60 % of the path everywhere is uniform: no near-duplicates."""
    probe = probe_points(*SIZE)
    path = [Similarity(1.0, 2.0, 0.0)] * 20
    slow = [Similarity(1.0, 1.2, 0.0)] * 20
    got = judder(slow, path, probe)
    assert got["judder_near_duplicates"] == 0 and got["judder_step_dev"] < 1e-6
    stutter = [Similarity(1.0, 0.05 if k % 5 == 0 else 1.5, 0.0) for k in range(20)]
    assert judder(stutter, path, probe)["judder_near_duplicates"] == 4
