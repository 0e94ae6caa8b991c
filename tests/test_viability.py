"""video_viability_score: API, profile, bad input, decode tolerance, camera paths, batches."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import photo
from PIL import Image

from comfy_vidgen.manifest import Camera, Crop, build_manifest
from comfy_vidgen.viability import (
    Check,
    ProfileError,
    find_images,
    judge,
    load_profile,
    score_files,
    video_viability_score,
)


@pytest.fixture(scope="module")
def profile():  # type: ignore[no-untyped-def]
    return load_profile()


def _camera_like(path: Path, name: str = "coffee", size: tuple[int, int] = (2400, 1600)) -> Path:
    """A real photo upscaled with fine texture and noise, saved like a camera JPEG (q92)."""
    im = cv2.resize(photo(name), size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur(rng.normal(0, 1, im.shape[:2]).astype(np.float32), (0, 0), 0.8)
    im += (6.0 * tex)[..., None] + rng.normal(0, 1.5, im.shape).astype(np.float32)
    Image.fromarray(np.clip(im, 0, 255).astype(np.uint8)).save(path, quality=92)
    return path


def test_report_fields_and_reason_format(tmp_path: Path, profile) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "blur.jpg"
    im = cv2.GaussianBlur(cv2.resize(photo("coffee"), (1024, 683)), (0, 0), 5)
    Image.fromarray(im).save(p, quality=95)
    r = video_viability_score(p, profile)
    assert 0.0 <= r.score < 0.5 and r.passed is False
    assert r.reasons[0].startswith("too blurry: sharpness ")
    value, limit = r.reasons[0].split("sharpness ")[1].split(" < ")
    assert float(value) < float(limit) == 10.0
    assert {"sharpness", "noise", "highlight_clip", "upscale", "jpeg_quality"} <= set(r.metrics)
    d = r.as_dict()
    assert set(d) == {"path", "score", "passed", "reasons", "metrics"}
    assert d["path"] == str(p)


def test_check_factor_is_monotone_and_half_at_fail() -> None:
    hi = Check("s", "sharpness", fail=10, good=60, label="x")
    lo = Check("n", "noise", fail=11, good=3, label="y")
    xs = np.linspace(-50, 120, 400)
    f = [hi.factor(x) for x in xs]
    assert all(a <= b for a, b in zip(f, f[1:], strict=False))
    assert hi.factor(10) == 0.5 and hi.factor(60) == 1.0 and hi.factor(100) == 1.0
    assert lo.factor(11) == 0.5 and lo.factor(2) == 1.0 and lo.factor(20) < lo.factor(12)
    assert hi.failed(9.99) and not hi.failed(10) and lo.failed(11.01)


def test_any_failed_check_pulls_score_below_half(profile) -> None:  # type: ignore[no-untyped-def]
    good = {c.metric: c.good for c in profile.checks}
    score, reasons = judge(good, profile)
    assert score == 1.0 and reasons == []
    for check in profile.checks:
        bad = dict(good)
        bad[check.metric] = check.fail + 0.01 * (check.fail - check.good)
        score, reasons = judge(bad, profile)
        assert score < 0.5 and reasons and reasons[0].startswith(check.label), check


def test_reduced_decode_changes_the_score_by_at_most_002(tmp_path: Path, profile) -> None:  # type: ignore[no-untyped-def]
    for name, size in (("coffee", (2400, 1600)), ("chelsea", (4512, 3000))):
        p = _camera_like(tmp_path / f"{name}.jpg", name, size)
        fast = video_viability_score(p, profile)
        full = video_viability_score(p, profile, reduced_decode=False)
        assert abs(fast.score - full.score) <= 0.02, (name, fast.metrics, full.metrics)
        assert abs(fast.metrics["sharpness"] - full.metrics["sharpness"]) < 3.0


def test_sharpness_is_measured_at_a_fixed_analysis_size(tmp_path: Path, profile) -> None:  # type: ignore[no-untyped-def]
    """The same scene at 2 MP and 11 MP gives about the same numbers."""
    small = video_viability_score(_camera_like(tmp_path / "s.jpg", "coffee", (1800, 1200)), profile)
    large = video_viability_score(_camera_like(tmp_path / "l.jpg", "coffee", (4200, 2800)), profile)
    assert abs(small.metrics["sharpness"] - large.metrics["sharpness"]) < 8.0
    assert abs(small.score - large.score) < 0.05


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty file"),
        (b"PK\x03\x04 this is a zip, not a photo", "not a recognised image format"),
    ],
)
def test_bad_files_are_reports_not_exceptions(tmp_path: Path, content: bytes, why: str) -> None:
    p = tmp_path / "x.jpg"
    p.write_bytes(content)
    r = video_viability_score(p)
    assert (r.score, r.passed) == (0.0, False) and why in r.reasons[0]


def test_truncated_missing_and_bomb_are_reports(tmp_path: Path) -> None:
    good = _camera_like(tmp_path / "g.jpg", size=(900, 600))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    bomb = tmp_path / "bomb.png"
    Image.new("L", (16000, 14000)).save(bomb, compress_level=1)  # 224 MP > 200 MP
    for p, why in (
        (cut, "cannot decode"),
        (tmp_path / "nope.jpg", "no such file"),
        (bomb, "exceeds"),
    ):
        r = video_viability_score(p)
        assert (r.score, r.passed, r.metrics) == (0.0, False, {}) and why in r.reasons[0], r
    assert good.exists() and cut.exists() and bomb.exists()  # nothing moved or deleted


def test_arrays_float_tensors_and_pil_images_score_like_the_file(tmp_path: Path) -> None:
    im = cv2.resize(photo("astronaut"), (1024, 1024))
    p = tmp_path / "a.png"
    Image.fromarray(im).save(p)
    ref = video_viability_score(p).score
    assert video_viability_score(im).score == pytest.approx(ref, abs=1e-6)
    assert video_viability_score(im.astype(np.float32) / 255).score == pytest.approx(ref, abs=1e-6)
    assert video_viability_score(Image.fromarray(im)).score == pytest.approx(ref, abs=1e-6)
    assert video_viability_score(im[None].astype(np.float32) / 255).score == pytest.approx(
        ref, abs=1e-6
    )


def test_effective_resolution_follows_the_camera_path(tmp_path: Path, profile) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path
    p = _camera_like(root / "k.jpg", size=(2400, 1600))
    assert video_viability_score(p, profile).metrics["upscale"] == pytest.approx(1024 / 2400)
    # zoom to a crop 1/4 of the width: 600 source px for 1024 output px -> 1.71x, rejected
    start = {"x": 0.0, "y": 0.0, "w": 1.0, "h": 0.84375}
    end = {"x": 0.375, "y": 0.39453125, "w": 0.25, "h": 0.2109375}
    m = build_manifest(
        keyframe=p,
        input_root=root,
        motion_type="zoom_in",
        start=start,
        end=end,
        workflow="camera_only@1",
        seed=1,
    )
    r = video_viability_score(p, profile, camera=m)
    assert r.metrics["upscale"] == pytest.approx(1024 / 600)
    assert not r.passed and r.reasons[0].startswith("too few pixels for the output: upscale 1.71")
    # the same path on a Camera with an explicit output size
    cam = Camera(motion_type="zoom_in", start_frame=Crop(**start), end_frame=Crop(**end))
    r2 = video_viability_score(p, profile, camera=cam, output_size=(512, 288))
    assert r2.metrics["upscale"] == pytest.approx(512 / 600) and r2.passed


def test_default_output_assumes_largest_crop_and_allows_1_5x(profile) -> None:  # type: ignore[no-untyped-def]
    im = cv2.resize(photo("coffee"), (720, 480), interpolation=cv2.INTER_AREA)
    r = video_viability_score(im, profile)
    assert r.metrics["upscale"] == pytest.approx(1024 / 720)  # 1.42x: allowed
    assert not any(s.startswith("too few pixels") for s in r.reasons)
    r = video_viability_score(cv2.resize(im, (600, 400)), profile)
    assert any(s.startswith("too few pixels") for s in r.reasons)


def test_profile_override_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "strict.toml"
    p.write_text('name = "strict"\nmin_score = 0.9\n[checks.sharpness]\nfail = 30.0\n')
    prof = load_profile(p)
    assert prof.name == "strict" and prof.min_score == 0.9
    sharp = next(c for c in prof.checks if c.name == "sharpness")
    assert (sharp.fail, sharp.good) == (30.0, 60.0)
    for text, msg in (
        ("min_score = 2\n", "min_score must be in 0..1"),
        ("colour = 1\n", "unknown key"),
        ("[checks.sharpness]\nfail = 60.0\n", "fail and good must differ"),
        ("[checks.foo]\nmetric = 'nope'\nfail = 1\ngood = 2\n", "unknown metric"),
        ("min_score = [", "cannot read TOML"),
    ):
        p.write_text(text)
        with pytest.raises(ProfileError, match=msg):
            load_profile(p)
    with pytest.raises(ProfileError, match="no such file"):
        load_profile(tmp_path / "missing.toml")
    assert ProfileError("x").exit_code == 2


def test_min_score_changes_the_verdict_not_the_score(profile) -> None:  # type: ignore[no-untyped-def]
    im = cv2.resize(photo("chelsea"), (1024, 681))
    r = video_viability_score(im, profile)
    strict = dataclasses.replace(profile, min_score=min(1.0, r.score + 0.01))
    r2 = video_viability_score(im, strict)
    assert r2.score == r.score and r.passed and not r2.passed
    assert r2.reasons[0].startswith("overall score")


def test_batch_keeps_order_survives_broken_files_and_reports_progress(tmp_path: Path) -> None:
    good = _camera_like(tmp_path / "a_good.jpg", size=(900, 600))
    (tmp_path / "b_empty.jpg").write_bytes(b"")
    (tmp_path / "c_text.png").write_text("hello")
    (tmp_path / "notes.txt").write_text("not picked up from a folder")
    sub = tmp_path / "sub"
    sub.mkdir()
    Image.fromarray(photo("rocket")).save(sub / "d.jpg", quality=95)
    files = find_images([tmp_path])
    assert [f.name for f in files] == ["a_good.jpg", "b_empty.jpg", "c_text.png"]
    files_r = find_images([tmp_path], recursive=True)
    assert [f.name for f in files_r] == ["a_good.jpg", "b_empty.jpg", "c_text.png", "d.jpg"]
    ticks: list[tuple[int, int]] = []
    for workers in (1, 2):
        ticks.clear()
        reps = list(
            score_files(files_r, workers=workers, on_progress=lambda d, t: ticks.append((d, t)))
        )
        assert [Path(r.path or "").name for r in reps] == [f.name for f in files_r]
        assert reps[0].passed and reps[0].path == str(good)
        assert [r.score for r in reps[1:3]] == [0.0, 0.0]
        assert ticks == [(i, 4) for i in range(1, 5)]


def test_output_size_without_camera_sets_the_upscale_reference() -> None:
    """A 600x400 photo is enough for 384x216 but not for the default 1024x576."""
    from conftest import photo

    from comfy_vidgen.viability import video_viability_score

    rgb = photo("coffee")
    small = video_viability_score(rgb, output_size=(384, 216))
    default = video_viability_score(rgb)
    assert small.metrics["upscale"] == pytest.approx(384 / 600)
    assert default.metrics["upscale"] == pytest.approx(1024 / 600)
    assert not any("too few pixels" in r for r in small.reasons)
    assert any("too few pixels" in r for r in default.reasons)


def test_reasons_never_print_a_value_on_the_wrong_side_of_its_limit(profile) -> None:  # type: ignore[no-untyped-def]
    """A score of 0.49992 printed as "0.500 < 0.5" reads as a contradiction (it was)."""
    check = Check("sharpness", "sharpness", 10.0, 60.0, "too blurry")
    assert check.reason(9.9996) == "too blurry: sharpness 9.9996 < 10"
    assert check.reason(7.104) == "too blurry: sharpness 7.1 < 10"
    noisy = Check("noise", "noise", 9.0, 3.0, "too noisy")
    assert noisy.reason(9.00004) == "too noisy: noise 9.00004 > 9"
    # two checks at factor sqrt(0.49995) each: none fails, the score is 0.49995
    f = math.sqrt(0.49995)
    value = 10.0 + 50.0 * (1.0 - math.sqrt(1.0 - 2.0 * (f - 0.5)))
    two = dataclasses.replace(profile, checks=(check, dataclasses.replace(check, name="again")))
    score, reasons = judge({"sharpness": value}, two)
    assert score == pytest.approx(0.49995) and score < two.min_score == 0.5
    assert reasons[0].startswith("overall score 0.49995 < 0.5"), reasons
