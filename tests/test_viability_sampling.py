"""The fast paths of the viability analysis read what the full-resolution measures would.

Issue 20's speed work computes the coarse (sigma 2) gradient at every other row and
column with fitted half-resolution filters, reads sharpness at those pixels and the
texture tiles on a quarter of their pixels. These tests hold each against a
straightforward full-resolution reference written here with OpenCV's own Gaussian
and Sobel, on real photographs at the analysis size.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import photo
from numpy.typing import NDArray

from comfy_vidgen import viability
from comfy_vidgen.viability import video_viability_score

F32 = NDArray[np.float32]
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")


def _at_analysis(name: str) -> NDArray[np.uint8]:
    im = photo(name)
    h, w = im.shape[:2]
    size = (1024, round(h * 1024 / w))
    interp = cv2.INTER_AREA if w > 1024 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(im, size, interpolation=interp))


def _gauss(y: NDArray[np.float32], sigma: float) -> F32:
    k = 2 * math.ceil(4 * sigma) + 1
    return np.asarray(
        cv2.GaussianBlur(y, (k, k), sigma, borderType=cv2.BORDER_REFLECT), dtype=np.float32
    )


def _grad(y: F32) -> F32:
    """Gradient magnitude, levels per px."""
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    return np.asarray(cv2.magnitude(gx, gy), dtype=np.float32)


def _luma(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


@pytest.mark.parametrize("name", PHOTOS)
def test_half_resolution_coarse_gradient_is_the_full_one_at_its_pixels(name: str) -> None:
    y = _luma(_at_analysis(name))
    full = _grad(_gauss(y.astype(np.float32), 2.0))[::2, ::2]
    half = viability._coarse_gradient(y) / 8.0
    assert half.shape == full.shape
    inner = (slice(8, -8), slice(8, -8))  # the filters' reflections differ at the border
    strong = full[inner] > np.percentile(full[inner], 90)
    ratio = half[inner][strong] / full[inner][strong]
    p5, p50, p95 = np.percentile(ratio, [5, 50, 95])
    assert 0.995 <= p50 <= 1.005 and p5 >= 0.985 and p95 <= 1.015, (p5, p50, p95)


def _reference_sharpness(y: NDArray[np.uint8]) -> float:
    """The definition at full resolution (no noise removal: these photos are clean)."""
    f = y.astype(np.float32)
    fine, coarse = _grad(_gauss(f, 0.7)), _grad(_gauss(f, 2.0))
    inner = coarse[1:-1, 1:-1]
    sel = coarse > max(float(np.percentile(inner, 97)), 2.0)
    return 100.0 * (float(np.median(fine[sel] / coarse[sel])) - 1.0)


def _reference_texture(y: NDArray[np.uint8], tile: int = 32) -> float:
    g = _grad(_gauss(y.astype(np.float32), 1.0))
    th, tw = g.shape[0] // tile, g.shape[1] // tile
    means = g[: th * tile, : tw * tile].reshape(th, tile, tw, tile).mean(axis=(1, 3))
    return float((means > 2.0).mean())


@pytest.mark.parametrize("name", PHOTOS)
def test_sharpness_and_texture_read_the_full_resolution_definitions(name: str) -> None:
    rgb = _at_analysis(name)
    m = video_viability_score(rgb).metrics
    y = _luma(rgb)
    ref = _reference_sharpness(y)
    assert abs(m["sharpness"] / ref - 1.0) <= 0.03, (m["sharpness"], ref)
    assert abs(m["texture"] - _reference_texture(y)) <= 0.02, (m["texture"], _reference_texture(y))


def test_coarse_noise_gain_is_white_noise_through_the_half_resolution_path() -> None:
    """The energy unit white noise leaves in the coarse gradient (it is removed from edges)."""
    rng = np.random.default_rng(7)
    noise = rng.standard_normal((1024, 1024)).astype(np.float32)
    half = np.asarray(cv2.pyrDown(noise, borderType=cv2.BORDER_REFLECT), dtype=np.float32)
    g = viability._coarse_from_half(half)[16:-16, 16:-16] / 8.0
    measured = float(np.mean(np.square(g, dtype=np.float64)))
    assert measured == pytest.approx(viability._noise_gain("coarse"), rel=0.03)
