"""Temporal stability separates a clean clip from the same clip with injected defects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import photo
from PIL import Image

from comfy_vidgen.camera import CameraPath
from comfy_vidgen.camera import render_path as render
from comfy_vidgen.encode import encode
from comfy_vidgen.manifest import Manifest, build_manifest
from comfy_vidgen.qc import analyze_frames, gate, run_qc

W, H, N, K = 256, 144, 45, 22  # K: the frame the defects are injected at


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Manifest, list[np.ndarray]]:
    root = tmp_path_factory.mktemp("input")
    img = cv2.resize(photo("astronaut"), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(img).save(root / "astronaut.png")
    m = build_manifest(
        keyframe=root / "astronaut.png",
        input_root=root,
        motion_type="pan_right",
        start={"x": 0.05, "y": 0.2, "w": 0.6, "h": 0.6 * H / W},
        end={"x": 0.2, "y": 0.2, "w": 0.6, "h": 0.6 * H / W},
        workflow="camera_only@1",
        seed=1,
        size=(W, H),
        output={"frames": N},
    )
    return m, list(render(img, CameraPath.from_manifest(m), N, (W, H)))


def inject(frames: list[np.ndarray], defect: str) -> list[np.ndarray]:
    out = [f.copy() for f in frames]
    if defect == "flicker":  # one frame 10% brighter
        out[K] = np.clip(out[K].astype(np.float32) * 1.10 + 4, 0, 255).astype(np.uint8)
    elif defect == "drop":
        del out[K]
    elif defect == "duplicate":
        out[K + 1] = out[K].copy()
    elif defect == "shuffle":
        out[K], out[K + 1] = out[K + 1], out[K]
    return out


def metrics(m: Manifest, frames: list[np.ndarray]) -> dict:
    rects = CameraPath.from_manifest(m).rects(N) if len(frames) == N else None
    met = analyze_frames(frames, 30, rects=rects).metrics()
    met["structure"] = {"motion_type": m.camera.motion_type}
    return met


# the metric that must see each defect, and how much worse than clean it must be
EXPECT = {
    "flicker": ("stability.luma_spike_max", "stability.flicker_hf_max"),
    "drop": ("stability.motion_jerk_px",),
    "duplicate": ("stability.motion_jerk_px",),
    "shuffle": ("stability.motion_jerk_px",),
}


def test_clean_clip_passes_the_stability_rules(clean: tuple[Manifest, list[np.ndarray]]) -> None:
    m, frames = clean
    met = metrics(m, frames)
    result = gate(met)
    assert result.passed, result.reasons
    st = met["stability"]
    assert st["ssim_mean"] > 0.95 and st["frozen_frames"] == 0 and st["scene_cuts"] == 0
    assert st["motion_jerk_px"] < 0.5


@pytest.mark.parametrize("defect", sorted(EXPECT))
def test_injected_defect_is_caught(clean: tuple[Manifest, list[np.ndarray]], defect: str) -> None:
    m, frames = clean
    base = metrics(m, frames)
    bad = metrics(m, inject(frames, defect))
    result = gate(bad)
    assert not result.passed
    for key in EXPECT[defect]:
        section, name = key.split(".")
        assert bad[section][name] > 3 * base[section][name] + 1e-3, (key, bad[section][name])
    assert any(r.split(" ")[0] in EXPECT[defect] for r in result.reasons), result.reasons
    if defect == "duplicate":
        assert bad["stability"]["frozen_frames"] == 1
    if defect == "shuffle":  # the swapped pair is a backwards step: a sharp SSIM dip too
        assert bad["stability"]["ssim_dip_max"] >= base["stability"]["ssim_dip_max"]


def test_flicker_is_caught_through_a_real_encode(
    clean: tuple[Manifest, list[np.ndarray]], tmp_path: Path
) -> None:
    m, frames = clean
    video = tmp_path / "flicker.mp4"
    encode(inject(frames, "flicker"), video, fps=30, encoder="libx265", sidecar=False)
    report = run_qc(video)
    assert not report.passed
    assert any("luma_spike_max" in r or "flicker_hf_max" in r for r in report.reasons)


def test_black_frames_and_scene_cuts(clean: tuple[Manifest, list[np.ndarray]]) -> None:
    m, frames = clean
    other = cv2.resize(photo("coffee"), (W, H), interpolation=cv2.INTER_AREA)
    cut = frames[:K] + [other] * (N - K)
    st = analyze_frames(cut, 30).metrics()["stability"]
    assert st["scene_cuts"] == 1 and st["scene_cut_frames"] == [K]
    black = frames[:K] + [np.zeros_like(frames[0])] * 3 + frames[K + 3 :]
    st = analyze_frames(black, 30).metrics()["stability"]
    assert st["black_frames"] == 3


def test_still_clip_is_caught_unless_the_manifest_is_static(
    clean: tuple[Manifest, list[np.ndarray]],
) -> None:
    m, frames = clean
    met = analyze_frames([frames[0]] * 20, 30).metrics()
    assert met["motion"]["mean_px"] < 0.05 and met["stability"]["frozen_frames"] == 19
    met["structure"] = {"motion_type": "pan_right"}
    reasons = gate(met).reasons
    assert any(r.startswith("motion.mean_px") for r in reasons)
    assert any(r.startswith("stability.frozen_frames") for r in reasons)
    met["structure"] = {"motion_type": "static"}
    assert gate(met).passed
