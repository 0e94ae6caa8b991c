"""Per-frame image statistics for temporal stability (SSIM, luma, histograms)."""

from __future__ import annotations

from typing import Any

import cv2 as _cv2
import numpy as np
from numpy.typing import NDArray

# OpenCV's bundled stubs type arrays as Mat | UMat unions; treat the module as
# untyped here and type our own results explicitly.
cv2: Any = _cv2

F32 = NDArray[np.float32]

# Wang, Bovik, Sheikh, Simoncelli (2004): Gaussian window sigma 1.5, K1 0.01, K2 0.03
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


class SSIMFrame:
    """A grey frame with the blurred moments SSIM needs, computed once and reused."""

    __slots__ = ("f", "mu", "sq")

    def __init__(self, gray: NDArray[np.uint8]) -> None:
        self.f = gray.astype(np.float32)
        self.mu = cv2.GaussianBlur(self.f, (11, 11), 1.5)
        self.sq = cv2.GaussianBlur(self.f * self.f, (11, 11), 1.5) - self.mu * self.mu


def ssim(a: SSIMFrame, b: SSIMFrame) -> float:
    """Mean SSIM of two grey frames of the same size (0..1 for natural images)."""
    cov = cv2.GaussianBlur(a.f * b.f, (11, 11), 1.5) - a.mu * b.mu
    num = (2 * a.mu * b.mu + _C1) * (2 * cov + _C2)
    den = (a.mu * a.mu + b.mu * b.mu + _C1) * (a.sq + b.sq + _C2)
    return float((num / den).mean())


def ssim_images(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    return ssim(SSIMFrame(a), SSIMFrame(b))


def psnr(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """PSNR in dB of two 8-bit images (inf-safe: identical images give 100 dB)."""
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    if mse <= 1e-10:
        return 100.0
    return float(10.0 * np.log10(255.0**2 / mse))


def luma_hist(gray: NDArray[np.uint8]) -> F32:
    h: F32 = cv2.calcHist([gray], [0], None, [32], [0, 256])
    cv2.normalize(h, h, 1.0, 0.0, cv2.NORM_L1)
    return h


def hist_distance(a: F32, b: F32) -> float:
    """Bhattacharyya distance of two luma histograms: 0 same, 1 disjoint."""
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def worst_window(values: list[float], size: int) -> tuple[int, float]:
    """Start index and mean of the window of ``size`` values with the lowest mean."""
    if not values:
        return 0, float("nan")
    size = max(1, min(size, len(values)))
    c = np.cumsum(np.concatenate([[0.0], np.asarray(values, np.float64)]))
    means = (c[size:] - c[:-size]) / size
    i = int(np.argmin(means))
    return i, float(means[i])


def ssim_inner(a: SSIMFrame, b: SSIMFrame, margin: int) -> float:
    """Mean SSIM over the frame minus ``margin`` px on every side (warped borders)."""
    cov = cv2.GaussianBlur(a.f * b.f, (11, 11), 1.5) - a.mu * b.mu
    num = (2 * a.mu * b.mu + _C1) * (2 * cov + _C2)
    den = (a.mu * a.mu + b.mu * b.mu + _C1) * (a.sq + b.sq + _C2)
    h, w = a.f.shape
    m = max(0, min(margin, h // 2 - 4, w // 2 - 4))
    return float((num / den)[m : h - m, m : w - m].mean())
