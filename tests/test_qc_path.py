"""Camera-path adherence and the full gate on real encodes of known paths."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import photo
from PIL import Image

from comfy_vidgen.camera import CameraPath, render_path
from comfy_vidgen.cli import main
from comfy_vidgen.encode import encode
from comfy_vidgen.manifest import Manifest, build_manifest, dumps_pretty
from comfy_vidgen.qc import run_qc

W, H, N = 256, 144, 30


def keyframe(root: Path, name: str = "coffee") -> tuple[Path, np.ndarray]:
    img = photo(name)
    img = cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2), interpolation=cv2.INTER_CUBIC)
    path = root / f"{name}.png"
    Image.fromarray(img).save(path)
    return path, img


def make_manifest(root: Path, kf: Path, motion: str, start: dict, end: dict) -> Manifest:
    return build_manifest(
        keyframe=kf,
        input_root=root,
        motion_type=motion,
        start=start,
        end=end,
        workflow="camera_only@1",
        seed=7,
        size=(W, H),
        easing="ease_in_out",
        output={"frames": N},
    )


def render_clip(m: Manifest, img: np.ndarray, out: Path, reverse: bool = False) -> Path:
    frames = list(render_path(img, CameraPath.from_manifest(m), N, (W, H)))
    if reverse:
        frames = frames[::-1]
    encode(frames, out, fps=30, encoder="libx265", sidecar=False)
    return out


def crop(x: float, y: float, w: float, img: np.ndarray) -> dict[str, float]:
    ih, iw = img.shape[:2]
    h = w * iw / ih * H / W
    return {"x": x, "y": y, "w": w, "h": h}


@pytest.fixture
def scene(input_root: Path) -> tuple[Path, Path, np.ndarray]:
    kf, img = keyframe(input_root)
    return input_root, kf, img


@pytest.mark.parametrize("motion", ["pan_right", "zoom_in", "tilt_down"])
def test_known_paths_recovered_within_half_a_pixel(
    scene: tuple[Path, Path, np.ndarray], tmp_path: Path, motion: str
) -> None:
    root, kf, img = scene
    start, end = {
        "pan_right": (crop(0.05, 0.2, 0.6, img), crop(0.3, 0.2, 0.6, img)),
        "zoom_in": (crop(0.1, 0.1, 0.8, img), crop(0.3, 0.3, 0.4, img)),
        "tilt_down": (crop(0.2, 0.05, 0.6, img), crop(0.2, 0.3, 0.6, img)),
    }[motion]
    m = make_manifest(root, kf, motion, start, end)
    video = render_clip(m, img, tmp_path / f"{motion}.mp4")
    report = run_qc(video, manifest=m, input_root=root)
    path = report.metrics["path"]
    assert path["measured_steps"] >= N - 3
    assert path["mean_px"] < 0.5, path
    assert path["direction_ok"] is True
    assert report.metrics["structure"]["passed"], report.metrics["structure"]
    assert report.metrics["fidelity"]["ssim"] > 0.9
    assert report.metrics["fidelity"]["psnr_db"] > 30
    assert report.passed, report.reasons
    assert 0.5 < report.score <= 1.0


def test_wrong_direction_pan_is_flagged(
    scene: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    root, kf, img = scene
    m = make_manifest(root, kf, "pan_right", crop(0.05, 0.2, 0.6, img), crop(0.3, 0.2, 0.6, img))
    video = render_clip(m, img, tmp_path / "backwards.mp4", reverse=True)
    report = run_qc(video, manifest=m, input_root=root)
    path = report.metrics["path"]
    assert path["direction_ok"] is False
    assert path["mean_px"] > 1.0
    assert not report.passed
    assert any(r.startswith("path.direction_ok") for r in report.reasons)
    # the reversed clip starts on the end crop: fidelity sees it too
    assert report.metrics["fidelity"]["ssim"] < 0.9


def test_structure_mismatch_and_cli_exit_codes(
    scene: tuple[Path, Path, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, kf, img = scene
    m = make_manifest(root, kf, "pan_right", crop(0.05, 0.2, 0.6, img), crop(0.3, 0.2, 0.6, img))
    video = render_clip(m, img, tmp_path / "ok.mp4")
    mpath = tmp_path / "m.json"
    mpath.write_text(dumps_pretty(m))
    plot = tmp_path / "curves.png"
    args = ["qc", str(video), "--manifest", str(mpath), "--input-root", str(root)]
    assert main([*args, "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"passed", "score", "reasons", "warnings", "metrics"}
    assert out["passed"] is True and out["reasons"] == []
    png = cv2.imread(str(plot))
    assert png is not None and png.shape[0] > 400 and png.shape[1] > 600

    # the same clip against a manifest that asks for 40 frames: rejected, exit 1
    other = make_manifest(
        root, kf, "pan_right", crop(0.05, 0.2, 0.6, img), crop(0.3, 0.2, 0.6, img)
    ).model_dump(mode="json", by_alias=True, exclude_none=True)
    other["output"]["frames"] = 40
    (tmp_path / "m40.json").write_text(json.dumps(other))
    assert main(["qc", str(video), "--manifest", str(tmp_path / "m40.json"), "--json",
                 "--input-root", str(root)]) == 1  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is False
    assert any("frames 30 != manifest 40" in p for p in out["metrics"]["structure"]["problems"])
    assert any(r.startswith("structure.passed") for r in out["reasons"])
