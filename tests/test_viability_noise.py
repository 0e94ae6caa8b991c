"""The noise metric is calibrated at the analysis scale (issue 20, part 2).

Real photos (scikit-image's) are resampled to 0.7x..6x the analysis width, noise
is added, and ``noise`` (per-channel sigma at the analysis size; on the source
pixels when the source is smaller) must read the added noise within +-20 % after
the photo's own reading is removed in quadrature. The truth is the added noise
itself, carried to the analysis size by the same resampling, with the mean shift
that clipping at 0 and 255 causes removed (that shift is a brightness change,
not noise), in the flatter half of the frame. Run as a script to print the whole table for docs/viability.md.
"""

from __future__ import annotations

import io
import math
import sys

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from scipy.special import ndtr

from comfy_vidgen.viability import load_profile, video_viability_score

ANALYSIS = load_profile().analysis_long_side
SIGMAS = (2, 5, 10, 15, 25, 35)
F32 = NDArray[np.float32]


def _photo(name: str) -> NDArray[np.uint8]:
    from skimage import data

    img = getattr(data, name)()
    return np.ascontiguousarray(img[..., :3])


def _base(name: str, k: float) -> NDArray[np.uint8]:
    """The photo at k times the analysis width (Lanczos up, area down)."""
    im = _photo(name)
    w = round(ANALYSIS * k)
    h = round(im.shape[0] * w / im.shape[1])
    interp = cv2.INTER_LANCZOS4 if w > im.shape[1] else cv2.INTER_AREA
    return cv2.resize(im, (w, h), interpolation=interp)


def _clip_shift(x: F32, sd: F32 | float) -> F32:
    """E[clip(x + n, 0, 255)] - x for n ~ N(0, sd^2): the mean shift clipping causes."""
    a, b = (0.0 - x) / sd, (255.0 - x) / sd

    def phi(z: F32) -> F32:
        return np.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    e = x * (ndtr(b) - ndtr(a)) + sd * (phi(a) - phi(b)) + 255.0 * (1 - ndtr(b))
    return (e - x).astype(np.float32)


def _at_analysis(d: F32) -> F32:
    h, w = d.shape[:2]
    s = ANALYSIS / max(w, h)
    if s >= 1:
        return d
    size = (round(w * s), round(h * s))
    return np.asarray(cv2.resize(d, size, interpolation=cv2.INTER_AREA), dtype=np.float32)


def _noise_of(
    kind: str, shape: tuple[int, ...], base: F32, s: float, rng: np.random.Generator
) -> tuple[F32, F32 | float]:
    """(noise field, its per-pixel sd) of one kind with RMS ``s`` per channel."""
    z = rng.standard_normal(shape, dtype=np.float32)
    if kind == "gaussian":
        return z * np.float32(s), float(s)
    if kind == "sensor":  # Poisson-Gaussian: shot noise grows with the signal, read-noise floor
        sd = np.sqrt(0.7 * base / 255.0 + 0.3).astype(np.float32) * np.float32(s)
        return z * sd, sd
    if kind == "chroma":  # luma-light, chroma-heavy noise as from a demosaiced sensor
        y, cb, cr = (z[..., i] for i in range(3))
        n = np.stack([0.5 * y + 0.7 * cr, 0.5 * y - 0.17 * cb - 0.36 * cr, 0.5 * y + 0.89 * cb], -1)
        n *= np.float32(s / float(np.sqrt((n * n).mean())))
        return n.astype(np.float32), float(s)
    raise ValueError(kind)


def measure(
    name: str, k: float, kind: str = "gaussian", jpeg: int | None = None
) -> dict[int, tuple[float, float]]:
    """sigma -> (estimated added noise, true added noise) at the analysis size."""
    base = _base(name, k)

    def score(im: NDArray[np.uint8]) -> float:
        if jpeg is not None:
            buf = io.BytesIO()
            Image.fromarray(im).save(buf, "JPEG", quality=jpeg)
            im = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        return video_viability_score(im).metrics["noise"], im

    e0, base_seen = score(base)
    # the truth is taken where the metric looks: the flatter half of the clean frame
    # (least luma gradient at sigma 2 px, analysis size). For raw noise that is the
    # same as the whole frame; after JPEG it leaves out the texture's requantisation
    y = cv2.cvtColor(_at_analysis(base_seen.astype(np.float32)), cv2.COLOR_RGB2GRAY)
    g = cv2.GaussianBlur(y, (0, 0), 2.0)
    grad = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    flat = grad <= np.median(grad)
    basef = base.astype(np.float32)
    rng = np.random.default_rng(int(k * 10) + len(name))
    out = {}
    for s in SIGMAS:
        n, sd = _noise_of(kind, base.shape, basef, s, rng)
        noisy = np.clip(basef + n + 0.5, 0, 255).astype(np.uint8)
        e, seen = score(noisy)
        # the shift depends on the clean level only (sd is a function of it): a table
        levels = np.arange(256, dtype=np.float32)
        sd_lut = sd if isinstance(sd, float) else np.sqrt(0.7 * levels / 255.0 + 0.3) * s
        shift = _clip_shift(levels, sd_lut)[base]
        d = seen.astype(np.float32) - base_seen.astype(np.float32) - shift
        da = _at_analysis(d)[flat]
        truth = float(np.sqrt(da.var(axis=0).mean()))
        out[s] = (math.sqrt(max(e * e - e0 * e0, 0.0)), truth)
    return out


CASES = [
    ("coffee", 0.7, "gaussian", None),
    ("coffee", 1.0, "gaussian", None),
    ("coffee", 1.5, "gaussian", None),
    ("coffee", 3.0, "gaussian", None),
    ("coffee", 6.0, "gaussian", None),
    ("rocket", 1.0, "gaussian", None),
    ("rocket", 3.0, "gaussian", None),
    ("chelsea", 1.5, "sensor", None),
    ("chelsea", 1.0, "chroma", None),
    ("astronaut", 1.0, "gaussian", 85),
]


#: after q85 JPEG, sigma 2 and 5 survive in flat areas mostly as differences of
#: block averages (quantised high frequencies are gone), which a Laplacian does not
#: see: read 0.23 against 1.39 and 1.00 against 2.66 (docs/viability.md)
JPEG_MIN_SIGMA = 10


@pytest.mark.parametrize(("name", "k", "kind", "jpeg"), CASES)
def test_added_noise_is_read_within_20_percent(
    name: str, k: float, kind: str, jpeg: int | None
) -> None:
    res = measure(name, k, kind, jpeg)
    low = JPEG_MIN_SIGMA if jpeg else 0
    errs = {s: est / truth - 1 for s, (est, truth) in res.items() if s >= low}
    assert all(abs(e) <= 0.20 for e in errs.values()), {s: round(e, 3) for s, e in errs.items()}


def test_sigma_25_near_the_analysis_size_is_rejected() -> None:
    """The issue's miss: sigma 25 on photos 0.9x..1.3x the analysis width read 6.5-9.2 and passed."""
    rng = np.random.default_rng(25)
    for name, k in (("coffee", 0.9), ("chelsea", 1.1), ("astronaut", 1.3)):
        base = _base(name, k).astype(np.float32)
        noisy = np.clip(base + rng.normal(0, 25, base.shape) + 0.5, 0, 255).astype(np.uint8)
        r = video_viability_score(noisy)
        assert not r.passed and any(s.startswith("too noisy") for s in r.reasons), (name, r.reasons)


if __name__ == "__main__":
    print("| photo | size | noise | " + " | ".join(f"sigma {s}" for s in SIGMAS) + " |")
    print("|---" * (3 + len(SIGMAS)) + "|")
    for name, k, kind, jpeg in CASES:
        res = measure(name, k, kind, jpeg)
        cells = [f"{est:.2f}/{t:.2f} ({est / t - 1:+.0%})" for est, t in res.values()]
        label = kind + (f", then JPEG q{jpeg}" if jpeg else "")
        print(f"| {name} | {k}x | {label} | " + " | ".join(cells) + " |", flush=True)
    sys.exit(0)
