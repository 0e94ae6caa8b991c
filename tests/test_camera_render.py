"""Virtual camera: geometry exactness, sub-pixel pans, motion direction, anti-aliasing, post-pass."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import photo
from skimage.metrics import structural_similarity
from skimage.registration import phase_cross_correlation

from comfy_vidgen.camera import CameraError, CameraPath, Pyramid, render_frames, render_path


def _gray(a: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(dx, dy) of the content of b relative to a (positive = moved right/down), sub-pixel."""
    (dy, dx), _, _ = phase_cross_correlation(
        _gray(b), _gray(a), upsample_factor=1000, normalization=None
    )
    return float(dx), float(dy)


def _path(motion, start_px, end_px, size, easing="linear") -> CameraPath:
    w, h = size
    norm = lambda r: (r[0] / w, r[1] / h, r[2] / w, r[3] / h)  # noqa: E731
    return CameraPath.from_values(motion, norm(start_px), norm(end_px), easing, size)


def _pattern(w: int, h: int, period_x: float, period_y: float, seed: int = 0) -> np.ndarray:
    """A smooth test pattern, periodic with (period_x, period_y) image pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] + 0.5
    img = np.zeros((h, w))
    for _ in range(24):
        kx, ky = rng.integers(-10, 11, 2)
        img += np.cos(
            2 * np.pi * (kx * x / period_x + ky * y / period_y) + rng.uniform(0, 2 * np.pi)
        )
    img = 128 + 100 * img / np.abs(img).max()
    return np.repeat(np.clip(img + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_integer_aligned_crops_are_exact_on_a_synthetic_grid(scale: int) -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)
    img[::10] = 255  # grid lines
    img[:, ::10] = 0
    out = (48, 32)
    x, y = 20, 30
    rect = (x, y, out[0] * scale, out[1] * scale)
    frame = Pyramid(img).render(rect, out)
    crop = img[y : y + rect[3], x : x + rect[2]]
    expected = cv2.resize(crop, out, interpolation=cv2.INTER_AREA)
    assert np.abs(frame.astype(int) - expected.astype(int)).max() <= 1


def test_first_and_last_frames_equal_the_crops_on_a_real_photo() -> None:
    img = photo("coffee")  # 600x400
    out = (384, 216)
    start, end = (12, 38, 576, 324), (200, 100, 288, 162)  # 1.5x down, 0.75x (enlarged)
    frames = list(render_path(img, _path("zoom_in", start, end, (600, 400), "ease_in_out"), 5, out))
    assert len(frames) == 5 and frames[0].shape == (216, 384, 3) and frames[0].dtype == np.uint8
    for frame, (x, y, w, h), interp in (
        (frames[0], start, cv2.INTER_AREA),
        (frames[-1], end, cv2.INTER_CUBIC),
    ):
        ref = cv2.resize(img[y : y + h, x : x + w], out, interpolation=interp)
        assert structural_similarity(_gray(frame), _gray(ref), data_range=255) >= 0.99


@pytest.mark.parametrize("span", [0.8, 2.5, 6.0])
def test_sub_pixel_pan_moves_by_the_same_step_every_frame(span: float) -> None:
    out_w, out_h = 192, 108
    cw, ch = out_w * span, out_h * span
    size = (int(cw * 1.6) + 4, int(ch) + 2)
    img = _pattern(*size, cw, ch)
    step, n = 0.37, 10  # output pixels per frame
    path = _path("pan_right", (1.0, 1.0, cw, ch), (1.0 + step * span * (n - 1), 1.0, cw, ch), size)
    frames = list(render_path(img, path, n, (out_w, out_h)))
    for a, b in zip(frames[:-1], frames[1:], strict=True):
        dx, dy = _shift(a, b)
        assert dx == pytest.approx(-step, abs=0.05)  # camera right -> content left
        assert abs(dy) < 0.05


MOVES = {
    # motion: (start, end) in pixels of the 512x512 astronaut, 16:9 crops
    "pan_left": ((200, 100, 256, 144), (100, 100, 256, 144)),
    "pan_right": ((100, 100, 256, 144), (200, 100, 256, 144)),
    "tilt_up": ((100, 250, 256, 144), (100, 150, 256, 144)),
    "tilt_down": ((100, 150, 256, 144), (100, 250, 256, 144)),
    "zoom_in": ((0, 100, 512, 288), (128, 172, 256, 144)),
    "dolly_out": ((128, 172, 256, 144), (0, 100, 512, 288)),
}


@pytest.mark.parametrize("motion", sorted(MOVES))
def test_each_motion_type_moves_the_image_the_right_way(motion: str) -> None:
    img = photo("astronaut")
    start, end = MOVES[motion]
    frames = list(render_path(img, _path(motion, start, end, (512, 512)), 40, (256, 144)))
    a, b = frames[20], frames[21]
    if motion.startswith(("pan", "tilt")):
        dx, dy = _shift(a, b)
        expect = {"pan_left": (1, 0), "pan_right": (-1, 0), "tilt_up": (0, 1), "tilt_down": (0, -1)}
        ex, ey = expect[motion]
        assert np.sign(round(dx)) == ex and np.sign(round(dy)) == ey
        return
    # zoom: the left half drifts left and the right half right on a zoom in (expansion)
    a2, b2 = a, b
    left = _shift(a2[:, :96], b2[:, :96])[0]
    right = _shift(a2[:, 160:], b2[:, 160:])[0]
    top = _shift(a2[:48], b2[:48])[1]
    bottom = _shift(a2[96:], b2[96:])[1]
    sign = 1 if motion.endswith("_in") else -1
    assert sign * left < 0 < sign * right
    assert sign * top < 0 < sign * bottom


def test_downscaled_pan_does_not_shimmer() -> None:
    # a fine grating beyond the output's Nyquist, panned and shrunk 3x: point sampling turns
    # it into moving, flickering moire; a prefiltered render is a steady near-uniform grey
    h, w = 300, 1200
    x = np.arange(w) + 0.5
    row = 128 + 120 * np.sin(2 * np.pi * x / 2.3)
    img = np.repeat(np.tile(row, (h, 1)).astype(np.uint8)[..., None], 3, axis=2)
    out = (160, 90)
    path = _path("pan_right", (0, 15, 480, 270), (300, 15, 480, 270), (w, h))
    ours = [_gray(f) for f in render_path(img, path, 30, out)]
    point, supersampled = [], []
    for x0, y0, cw, ch in path.rects(30):
        for ss, frames in ((1, point), (8, supersampled)):
            sw, sh = out[0] * ss, out[1] * ss
            m = np.array(
                [[cw / sw, 0, x0 + 0.5 * cw / sw - 0.5], [0, ch / sh, y0 + 0.5 * ch / sh - 0.5]]
            )
            f = cv2.warpAffine(img, m, (sw, sh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
            frames.append(_gray(cv2.resize(f, out, interpolation=cv2.INTER_AREA)))

    def flicker(frames: list[np.ndarray]) -> float:
        return float(
            np.mean([np.abs(b - a).mean() for a, b in zip(frames[:-1], frames[1:], strict=True)])
        )

    def moire(frames: list[np.ndarray]) -> float:
        return float(np.mean([f.std() for f in frames]))

    # close to an 8x8-supersampled (box) render, and far steadier than point sampling
    assert flicker(ours) <= 1.6 * flicker(supersampled)
    assert moire(ours) <= 1.6 * moire(supersampled)
    assert flicker(ours) < flicker(point) / 2.5
    assert moire(ours) < moire(point) / 2.5


def test_post_pass_over_smaller_frames_matches_rendering_that_size() -> None:
    img = photo("coffee")
    path = _path("zoom_in", (0, 31, 600, 337.5), (150, 100, 300, 168.75), (600, 400))
    small = cv2.resize(img, (300, 200), interpolation=cv2.INTER_AREA)
    direct = list(render_path(small, path, 4, (160, 90)))
    post = list(render_frames([small] * 4, path, (160, 90)))
    for a, b in zip(direct, post, strict=True):
        np.testing.assert_array_equal(a, b)
    # a stream needs n_frames; each frame gets its own rectangle
    streamed = list(render_frames(iter([small] * 4), path, (160, 90), n_frames=4))
    np.testing.assert_array_equal(streamed[-1], direct[-1])


def test_post_pass_refuses_frames_that_do_not_show_the_keyframe() -> None:
    path = _path("static", (0, 31, 600, 337.5), (0, 31, 600, 337.5), (600, 400))
    frames = [np.zeros((90, 160, 3), np.uint8)] * 2
    with pytest.raises(CameraError, match="aspect ratios differ"):
        list(render_frames(frames, path, (160, 90)))
    with pytest.raises(CameraError, match="n_frames is required"):
        list(render_frames(iter(frames), path, (160, 90)))
    with pytest.raises(CameraError, match="expected 3 frames, got 2"):
        list(
            render_frames(
                iter([np.zeros((200, 300, 3), np.uint8)] * 2), path, (160, 90), n_frames=3
            )
        )


def test_progress_ticks_every_frame_and_can_cancel() -> None:
    img = photo("chelsea")
    path = CameraPath.from_values("static", (0, 0, 1, 0.8), (0, 0, 1, 0.8), "linear", (451, 300))
    ticks: list[tuple[int, int]] = []
    frames = list(
        render_path(img, path, 6, (64, 36), on_progress=lambda d, t: ticks.append((d, t)))
    )
    assert len(frames) == 6 and ticks == [(i, 6) for i in range(1, 7)]

    class Stop(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        list(render_path(img, path, 6, (64, 36), on_progress=cancel))


def test_bad_inputs_are_named() -> None:
    path = CameraPath.from_values("static", (0, 0, 1, 1), (0, 0, 1, 1), "linear", (64, 64))
    with pytest.raises(CameraError, match="keyframe must be a uint8"):
        render_path(np.zeros((64, 64, 3), np.float32), path, 2, (32, 32))  # type: ignore[arg-type]
    with pytest.raises(CameraError, match="HxWx3"):
        render_path(np.zeros((64, 64), np.uint8), path, 2, (32, 32))
    with pytest.raises(CameraError, match="n_frames must be >= 1"):
        render_path(np.zeros((64, 64, 3), np.uint8), path, 0, (32, 32))
    with pytest.raises(CameraError, match="out_size must be 1..16384"):
        render_path(np.zeros((64, 64, 3), np.uint8), path, 2, (0, 32))
