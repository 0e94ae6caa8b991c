"""Viability pre-filter: is a keyframe worth a GPU-minute of image-to-video?

``video_viability_score`` measures, on the CPU and at a fixed analysis size, what
ruins a generation (blur, noise, clipped or dull exposure, JPEG blocking, too
few pixels for the camera path's crops, flat frames), checks each metric against
a profile (TOML), and combines one factor per check into a monotone score:

    z = (value - fail) / (good - fail)          # 1 at `good`, 0 at `fail`
    f(z) = 1                      if z >= 1
           0.5 + 0.5 * z * (2-z)  if 0 <= z < 1
           0.5 * exp(2 z)         if z < 0      # smooth at 0 and 1
    score = product of f over the profile's checks

Each f falls strictly as its metric worsens past `good`, and the product is at
most its smallest factor, so any failed check gives a score below 0.5. Broken
files are reports (score 0, passed false, reason), never exceptions.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from .errors import UsageError
from .images import MAX_PIXELS, ImageError, decode_for_analysis
from .paths import PRESETS_DIR
from .tomlfile import check_finite

if TYPE_CHECKING:
    from PIL import Image

    from .manifest import Camera, Manifest

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
F32 = NDArray[np.float32]
U8 = NDArray[np.uint8]

DEFAULT_PROFILE = "viability-default.toml"
_TOP_KEYS = {
    "name": str,
    "min_score": float,
    "analysis_long_side": int,
    "output_width": int,
    "output_height": int,
    "max_megapixels": float,
}
_CHECK_KEYS = {"metric", "fail", "good", "label"}


class ProfileError(UsageError):
    """A viability profile file is unreadable or has an out-of-range value (exit 2)."""


# --------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class Check:
    """One rule: ``metric`` must stay on the ``good`` side of ``fail``."""

    name: str
    metric: str
    fail: float
    good: float
    label: str

    @property
    def higher_is_better(self) -> bool:
        return self.good > self.fail

    def factor(self, value: float) -> float:
        """The check's factor in the score (documented in the module docstring)."""
        z = (value - self.fail) / (self.good - self.fail)
        if z >= 1.0:
            return 1.0
        if z >= 0.0:
            return 0.5 + 0.5 * z * (2.0 - z)
        return 0.5 * math.exp(max(2.0 * z, -700.0))

    def failed(self, value: float) -> bool:
        return value < self.fail if self.higher_is_better else value > self.fail

    def reason(self, value: float) -> str:
        op = "<" if self.higher_is_better else ">"
        shown = _past(value, self.fail, below=self.higher_is_better, fmt="g")
        return f"{self.label}: {self.metric} {shown} {op} {self.fail:g}"


def _past(value: float, limit: float, *, below: bool, fmt: str) -> str:
    """``value`` with 3 digits, or as many more as it takes to read past ``limit``.

    "score 0.500 < 0.5" or "sharpness 10 < 10" reads as a contradiction; such a value
    is shown as 0.4998 or 9.996.
    """
    for digits in range(3, 10):
        text = f"{value:.{digits}{fmt}}"
        if (float(text) < limit) if below else (float(text) > limit):
            return text
    return repr(value)


@dataclass(frozen=True)
class Profile:
    """Thresholds and analysis settings; see ``presets/viability-default.toml``."""

    name: str
    min_score: float
    analysis_long_side: int
    output_width: int
    output_height: int
    max_megapixels: float
    checks: tuple[Check, ...]

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1e6)


def _default_toml() -> dict[str, Any]:
    text = (PRESETS_DIR / DEFAULT_PROFILE).read_text("utf-8")
    return tomllib.loads(text)


def _profile_from_dict(data: Mapping[str, Any], source: str) -> Profile:
    def bad(msg: str) -> ProfileError:
        return ProfileError(f"viability profile {source}: {msg}")

    unknown = set(data) - set(_TOP_KEYS) - {"checks"}
    if unknown:
        raise bad(
            f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(_TOP_KEYS)}, checks"
        )
    top: dict[str, Any] = {}
    for key, kind in _TOP_KEYS.items():
        v = data[key]
        if kind is str:
            if not isinstance(v, str):
                raise bad(f"{key} must be a string")
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise bad(f"{key} must be a finite number, got {v!r}")
        elif kind is int and not float(v).is_integer():
            raise bad(f"{key} must be a whole number, got {v!r}")
        top[key] = kind(v)
    if not 0.0 <= top["min_score"] <= 1.0:
        raise bad(f"min_score must be in 0..1, got {top['min_score']}")
    if not 128 <= top["analysis_long_side"] <= 4096:
        raise bad(f"analysis_long_side must be in 128..4096, got {top['analysis_long_side']}")
    for key in ("output_width", "output_height"):
        if not 16 <= top[key] <= 8192:
            raise bad(f"{key} must be in 16..8192, got {top[key]}")
    if not 0.01 <= top["max_megapixels"] <= MAX_PIXELS / 1e6:
        raise bad(
            f"max_megapixels must be in 0.01..{MAX_PIXELS / 1e6:g}, got {top['max_megapixels']}"
        )
    checks = []
    for name, spec in data.get("checks", {}).items():
        if not isinstance(spec, Mapping):
            raise bad(f"checks.{name} must be a table")
        extra = set(spec) - _CHECK_KEYS
        if extra:
            raise bad(f"checks.{name}: unknown key(s) {', '.join(sorted(extra))}")
        metric = spec.get("metric", name)
        if metric not in METRIC_NAMES:
            raise bad(f"checks.{name}: unknown metric {metric!r}; known: {', '.join(METRIC_NAMES)}")
        vals = {}
        for k in ("fail", "good"):
            v = spec.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise bad(f"checks.{name}.{k} must be a finite number, got {v!r}")
            vals[k] = float(v)
        if vals["fail"] == vals["good"]:
            raise bad(f"checks.{name}: fail and good must differ (both {vals['fail']})")
        checks.append(Check(name, metric, vals["fail"], vals["good"], str(spec.get("label", name))))
    return Profile(checks=tuple(checks), **top)


def load_profile(path: str | os.PathLike[str] | None = None) -> Profile:
    """The default profile, or a TOML file's keys merged over it.

    A check can be disabled in a custom profile by giving it an empty table
    with ``fail`` and ``good`` far apart; removing checks is deliberate work.
    """
    data = _default_toml()
    source = f"<builtin {DEFAULT_PROFILE}>"
    if path is not None:
        source = str(path)
        try:
            user = tomllib.loads(Path(path).read_text("utf-8"))
        except FileNotFoundError:
            raise ProfileError(f"viability profile {path}: no such file") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ProfileError(f"viability profile {path}: cannot read TOML ({e})") from None
        check_finite(user, f"viability profile {path}", ProfileError)
        checks = {k: dict(v) for k, v in data["checks"].items()}
        user_checks = user.pop("checks", {})
        if not isinstance(user_checks, Mapping):
            raise ProfileError(f"viability profile {path}: checks must be a table")
        for name, spec in user_checks.items():
            if not isinstance(spec, Mapping):
                raise ProfileError(f"viability profile {path}: checks.{name} must be a table")
            checks.setdefault(name, {}).update(spec)
        data = {**data, **user, "checks": checks}
    return _profile_from_dict(data, source)


# --------------------------------------------------------------------------- report


@dataclass
class ViabilityReport:
    """What was measured, the verdict, and why."""

    path: str | None
    score: float
    passed: bool
    reasons: list[str]
    metrics: dict[str, float]
    #: seconds spent per stage (decode, resize, each metric); for benchmarks
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON line of ``vidgen viability --json``."""
        return {
            "path": self.path,
            "score": round(self.score, 4),
            "passed": self.passed,
            "reasons": list(self.reasons),
            "metrics": {k: round(v, 4) for k, v in self.metrics.items()},
        }


def rejected(path: str | None, reason: str) -> ViabilityReport:
    return ViabilityReport(path, 0.0, False, [reason], {})


# --------------------------------------------------------------------------- metrics

METRIC_NAMES = (
    "sharpness",
    "noise",
    "highlight_clip",
    "highlight_region",
    "saturated_channels",
    "shadow_clip",
    "luma_mean",
    "luma_spread",
    "white_point",
    "black_point",
    "blockiness",
    "jpeg_quality",
    "texture",
    "upscale",
)


#: Gaussian blurs reach this many sigma (OpenCV's default for float images)
BLUR_SIGMAS = 4.0
#: the smoothing scales at the analysis size: fine edges (sharpness), texture; the
#: coarse structure (sigma 2) is measured at half resolution (``_coarse_gradient``)
FINE_SIGMA, TEXTURE_SIGMA = 0.7, 1.0


def _gaussian(sigma: float) -> NDArray[np.float64]:
    k = 2 * math.ceil(BLUR_SIGMAS * sigma - 1e-9) + 1
    return np.asarray(cv2.getGaussianKernel(k, sigma, cv2.CV_64F), dtype=np.float64).ravel()


def _blur(y: NDArray[Any], sigma: float) -> F32:
    """Gaussian blur to float32 (8-bit input is read as it is: a third faster than float)."""
    g = _gaussian(sigma).astype(np.float32)
    out = cv2.sepFilter2D(y, cv2.CV_32F, g, g, borderType=cv2.BORDER_REFLECT)
    return np.asarray(out, dtype=np.float32)


def _fine_and_texture_blurs(y: NDArray[Any]) -> tuple[F32, F32]:
    """``y`` at ``FINE_SIGMA``, and at ``TEXTURE_SIGMA`` from it (Gaussians compose: 7 + 7 taps)."""
    fine = _blur(y, FINE_SIGMA)
    return fine, _blur(fine, math.sqrt(TEXTURE_SIGMA**2 - FINE_SIGMA**2))


def _grad8(g: F32) -> tuple[F32, F32]:
    """8x the x and y gradient (levels per pixel) of a blurred image ``g``.

    Sobel's 1/8 normalisation is left out: OpenCV's Sobel is twice as fast without
    a scale, and a power of two scales floating point exactly, so the callers
    compare with 8x (or 64x, squared) thresholds and get the same results.
    """
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(gx, dtype=np.float32), np.asarray(gy, dtype=np.float32)


def _sq(gx: F32, gy: F32) -> F32:
    sq: F32 = np.asarray(cv2.multiply(gx, gx), dtype=np.float32)
    cv2.accumulateSquare(gy, sq)
    return sq


# The coarse gradient, Sobel of the sigma-2 blur, has next to no detail above a
# quarter of the sampling rate (a Gaussian of sigma 2 keeps 0.7 % there), so it is
# computed at every other row and column: pyrDown's [1 4 6 4 1]/16, then one
# separable 9x9 filter per component at half resolution. The filter is the least-
# squares fit, over a 1/f random field (the spectrum of natural images), of the
# full-resolution Sobel of the sigma-2 blur at the pixels (2i, 2j); it comes out
# separable (second singular value 5e-4 of the first). Fitted on photographs
# instead, the taps differ by < 0.003. On the labelled set the magnitude at the
# selected edge pixels is within 0.3 % of the full-resolution one (5th-95th
# percentile), at a third of the cost. A Gaussian chosen to match the smoothing
# only to second order in the frequency was within 1.5 %, and its different choice
# of "strongest edges" moved sharpness by up to 5 % (``docs/viability.md``).
_COARSE_ALONG_HALF = (0.6565, 0.208259, 0.0186456, -0.000325651)  # taps 1..4 (0: zero)
_COARSE_ACROSS_HALF = (0.754445, 0.42965, 0.0740368, 0.00608503, -0.000370173)  # taps 0..4
_COARSE_ALONG = np.array(
    [-v for v in _COARSE_ALONG_HALF[::-1]] + [0.0] + list(_COARSE_ALONG_HALF), np.float32
)
_COARSE_ACROSS = np.array(list(_COARSE_ACROSS_HALF[:0:-1]) + list(_COARSE_ACROSS_HALF), np.float32)


def _coarse_gradient(g8: U8) -> F32:
    """8x the gradient magnitude (levels per px) of ``g8`` at sigma 2 px, at pixels (2i, 2j).

    Shape ``((h + 1) // 2, (w + 1) // 2)``; see the note above for the filters.
    """
    half = cv2.pyrDown(g8.astype(np.float32), borderType=cv2.BORDER_REFLECT)
    return _coarse_from_half(np.asarray(half, dtype=np.float32))


def _coarse_from_half(half: F32) -> F32:
    gx = cv2.sepFilter2D(
        half, cv2.CV_32F, _COARSE_ALONG, _COARSE_ACROSS, borderType=cv2.BORDER_REFLECT
    )
    gy = cv2.sepFilter2D(
        half, cv2.CV_32F, _COARSE_ACROSS, _COARSE_ALONG, borderType=cv2.BORDER_REFLECT
    )
    return np.asarray(cv2.magnitude(gx, gy), dtype=np.float32)


@functools.cache
def _noise_gain(scale: Literal["fine", "texture", "coarse"]) -> float:
    """E|grad|^2 (levels per px) that unit white noise gives at one of the three scales.

    From impulse responses; the coarse gradient is sampled at every other pixel, so
    its gain sums the responses to an impulse at each of the four phases.
    """
    if scale == "coarse":
        total = 0.0
        for oy in (0, 1):
            for ox in (0, 1):
                d = np.zeros((66, 66), np.float32)
                d[32 + oy, 32 + ox] = 1.0
                half = np.asarray(cv2.pyrDown(d, borderType=cv2.BORDER_REFLECT), np.float32)
                total += float(np.square(_coarse_from_half(half)).sum()) / 64.0
        return total
    d = np.zeros((65, 65), np.float32)
    d[32, 32] = 1.0
    fine, texture = _fine_and_texture_blurs(d)
    gx, gy = _grad8(fine if scale == "fine" else texture)
    return float((gx * gx).sum() + (gy * gy).sum()) / 64.0


def _compensate(g: float, energy: float) -> float:
    """A gradient magnitude with the expected noise energy removed (never below 0)."""
    return math.sqrt(max(g * g - energy, 0.0))


def _quantiles(a: F32, qs: tuple[float, ...]) -> list[float]:
    """The q-quantiles (lower element, ``qs`` ascending) of ``a`` in O(n), no sort."""
    part = np.array(a, dtype=np.float32).ravel()  # a copy, partitioned in place
    ks = [min(part.size - 1, int(q * (part.size - 1))) for q in qs]
    part.partition(ks[0])
    # numpy's multi-kth partition is ~10x slower than one: partition the tail again
    for k0, k1 in zip(ks, ks[1:], strict=False):
        part[k0:].partition(k1 - k0)
    return [float(part[k]) for k in ks]


# Immerkaer (1996), "Fast noise variance estimation": this kernel is the difference
# of two Laplacians, the outer product of [1, -2, 1] with itself (so it is applied
# as two 1-D passes); on white noise of sigma s its response has variance 36 s^2.
_SECOND_DIFF = np.array([1.0, -2.0, 1.0])
_SECOND_DIFF_F32 = _SECOND_DIFF.astype(np.float32)


def _laplace16(img: NDArray[np.uint8]) -> NDArray[np.int16]:
    """Immerkaer's Laplacian difference of 8-bit pixels, exact in int16 (|value| <= 4080)."""
    k = _SECOND_DIFF_F32
    out: NDArray[np.int16] = np.asarray(
        cv2.sepFilter2D(img, cv2.CV_16S, k, k, borderType=cv2.BORDER_REFLECT), dtype=np.int16
    )
    return out


#: a bilinear resample averages every source pixel while the reduction is at most
#: 2x (its 2-px footprint spans the step between output pixels); beyond that it
#: would skip pixels, and ``INTER_AREA`` is used. Bilinear costs 1.7 ms on a
#: 1500x1000 frame against 11 ms for ``INTER_AREA``.
LINEAR_MAX_REDUCTION = 2.0


def _interpolation(n_in: int, n_out: int) -> int:
    """The analysis resampler for a reduction of ``n_in / n_out`` (or an enlargement)."""
    if n_out > n_in:
        return cv2.INTER_CUBIC
    return cv2.INTER_LINEAR if n_in <= LINEAR_MAX_REDUCTION * n_out else cv2.INTER_AREA


def _weights(n_in: int, n_out: int, interp: int) -> NDArray[np.float64]:
    """OpenCV's 1-D resampling weights (n_in x n_out), read off a resampled identity matrix."""
    w = cv2.resize(np.eye(n_in, dtype=np.float32), (n_out, n_in), interpolation=interp)
    return np.asarray(w, dtype=np.float64)


@functools.lru_cache(maxsize=32)
def _resample_gain(n_in: int, n_out: int, interp: int = cv2.INTER_AREA) -> float:
    """Var of [1,-2,1] on resampled white noise over its variance after an area resample (one axis).

    White noise gives 6. A reduction makes neighbouring output pixels share input
    pixels, so resampled noise is correlated and its second difference smaller;
    dividing by this (instead of 6) keeps the estimate equal to the noise's
    standard deviation at the analysis size. The reference is ``INTER_AREA``,
    whatever resampler measures: a bilinear reduction keeps more of the noise
    (at 1.46x, 1.2x the variance in 2-D), and the metric keeps meaning what an
    area average, the output's downscale, leaves. Exact for OpenCV's weights.
    """
    if n_in == n_out:
        return 6.0
    w = _weights(n_in, n_out, interp)
    area = w if interp == cv2.INTER_AREA else _weights(n_in, n_out, cv2.INTER_AREA)
    c0 = (w * w).sum(axis=0)  # var of output j, per unit input variance
    c1 = (w[:, :-1] * w[:, 1:]).sum(axis=0)  # cov(j, j+1)
    c2 = (w[:, :-2] * w[:, 2:]).sum(axis=0)  # cov(j, j+2)
    a = _SECOND_DIFF
    # var(x[j-1] - 2 x[j] + x[j+1]) for j = 1 .. n_out-2
    v = (
        a[0] ** 2 * c0[:-2]
        + a[1] ** 2 * c0[1:-1]
        + a[2] ** 2 * c0[2:]
        + 2 * a[0] * a[1] * c1[:-1]
        + 2 * a[1] * a[2] * c1[1:]
        + 2 * a[0] * a[2] * c2
    )
    return float(v.mean() / (area * area).sum(axis=0).mean())


def _extremes(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Per-pixel minimum and maximum of R, G, B (OpenCV on the planes: ~10x numpy's axis=2)."""
    r, g, b = cv2.split(rgb)
    lo = np.asarray(cv2.min(cv2.min(r, g), b), dtype=np.uint8)
    hi = np.asarray(cv2.max(cv2.max(r, g), b), dtype=np.uint8)
    return lo, hi


_K3 = np.ones((3, 3), np.uint8)


def _cmp(a: NDArray[Any], value: float, op: int) -> U8:
    """255 where ``a <op> value`` holds, else 0: one OpenCV pass, no boolean array."""
    return np.asarray(cv2.compare(a, value, op), dtype=np.uint8)  # type: ignore[call-overload]


def _min3(a: U8) -> U8:
    """3x3 minimum (the frame's edge does not count)."""
    return np.asarray(cv2.erode(a, _K3), dtype=np.uint8)


def _max3(a: U8) -> U8:
    """3x3 maximum (the frame's edge does not count)."""
    return np.asarray(cv2.dilate(a, _K3), dtype=np.uint8)


def _flat_half(coarse: F32, median: float, width: int, rows: NDArray[np.intp]) -> U8:
    """255 in the flatter half of the frame at full-size ``rows`` (``_noise_rows``), else 0.

    ``coarse`` (at every other pixel, ``_coarse_gradient``) <= its ``median``; each
    full-size pixel takes the value of the sample at its 2x2 block's corner. Pixels
    whose 3x3 neighbourhood leaves the frame or its band are 0 (``_clear_edges``).
    """
    half = _cmp(coarse, median, cv2.CMP_LE)[rows // 2]
    # columns j -> j // 2: OpenCV's nearest neighbour from ceil(w / 2) to w columns
    flat = np.asarray(
        cv2.resize(half, (width, len(rows)), interpolation=cv2.INTER_NEAREST), dtype=np.uint8
    )
    _clear_edges(flat, rows)
    return flat


def _masked(a: NDArray[Any], mask: U8) -> NDArray[Any]:
    """``a`` where ``mask`` is set, 0 elsewhere (norms with a mask are 3x slower in OpenCV)."""
    out = np.zeros_like(a)
    cv2.copyTo(a, mask, out)
    return out


#: both noise estimates are read on every other band of this many rows: half the
#: frame, spread evenly over it, for half the cost. A band's first and last rows
#: are left out (their Laplacian reaches into the next band), so 16 rows of every
#: 36 count, all 16 phases of a JPEG block or MCU grid equally.
NOISE_BAND = 18
#: frames with fewer rows are read whole (small sources: cheap, and half their
#: pixels would make a texture-dominated reading swing by 10-20 %)
NOISE_BANDS_FROM = 512


def _noise_rows(h: int) -> NDArray[np.intp]:
    """The rows both noise estimates read, in order: alternate ``NOISE_BAND``-row bands.

    All rows for frames of fewer than ``NOISE_BANDS_FROM`` rows.
    """
    if h < NOISE_BANDS_FROM:
        return np.arange(h)
    starts = np.arange(h // (2 * NOISE_BAND)) * (2 * NOISE_BAND)
    return (starts[:, None] + np.arange(NOISE_BAND)[None, :]).ravel()


def _pick(a: NDArray[Any], rows: NDArray[np.intp]) -> NDArray[Any]:
    """``a``'s ``rows``, stacked (``a`` itself when they are all of them)."""
    return a if len(rows) == a.shape[0] else np.ascontiguousarray(a[rows])


def _clear_edges(mask: U8, rows: NDArray[np.intp]) -> None:
    """0 where a 3x3 neighbourhood leaves the frame or, on stacked bands, its band."""
    mask[:, 0] = mask[:, -1] = 0
    if rows[-1] == len(rows) - 1:  # the whole frame
        mask[0] = mask[-1] = 0
    else:
        mask[::NOISE_BAND] = 0
        mask[NOISE_BAND - 1 :: NOISE_BAND] = 0


def _luma_noise(g8: NDArray[np.uint8], flat: NDArray[np.uint8], rows: NDArray[np.intp]) -> float:
    """Immerkaer's Laplacian-difference noise estimate on luma (as if white), flatter half.

    Read on ``rows`` (``_noise_rows``), where ``flat`` is given (``_flat_half``). Used
    only to remove the noise energy from the gradients of ``_sharpness`` and
    ``_texture``, which see the same luma; the reported ``noise`` metric is
    ``_channel_noise``.
    """
    n = cv2.countNonZero(flat)
    if n == 0:
        return 0.0
    mean_abs = cv2.norm(_masked(_laplace16(_pick(g8, rows)), flat), cv2.NORM_L1) / n
    return float(math.sqrt(math.pi / 2.0) / 6.0 * mean_abs)


def _channel_noise(
    rgb: NDArray[np.uint8],
    gain: float,
    flat: NDArray[np.uint8],
    lo3: NDArray[np.uint8],
    hi3: NDArray[np.uint8],
    rows: NDArray[np.intp],
) -> float:
    """Noise sigma per colour channel (RMS over R, G, B), 8-bit levels, in flat unclipped areas.

    Per channel, so that noise of the same sigma reads the same whether it is grey,
    independent per channel or chroma-only (luma would read an independent sigma
    as 0.66 of it). ``gain`` is the product of both axes' ``_resample_gain``.
    Read on ``rows`` (``_noise_rows``: alternate row bands), where ``flat`` is given;
    the other arrays are whole frames.
    Flat: ``flat``, the half of the frame with the least luma gradient at sigma 2 px.
    Unclipped: no channel of a 3x3 neighbourhood at 0..2 or 253..255, where
    clipping would hide the noise (``lo3``/``hi3``: the 3x3 minimum of the
    channels' minimum, maximum of their maximum). Fine texture left in the flat
    half reads as noise too (0.3-3 levels on clean photos); it is what the
    ``good`` level of the check allows for.
    """
    lo3, hi3 = _pick(lo3, rows), _pick(hi3, rows)
    ok = np.asarray(
        cv2.bitwise_and(_cmp(lo3, 2, cv2.CMP_GT), _cmp(hi3, 253, cv2.CMP_LT)), dtype=np.uint8
    )
    _clear_edges(ok, rows)
    if cv2.countNonZero(ok) < 64:
        return 0.0
    mask = np.asarray(cv2.bitwise_and(ok, flat), dtype=np.uint8)
    n = cv2.countNonZero(mask)
    if n == 0:
        return 0.0
    # mean square, not Immerkaer's mean absolute value: variances of independent
    # texture and noise add, so a photo's own texture is removed exactly by
    # subtracting its clean reading in quadrature (measured: within 6 % for added
    # sigma 2..35, against up to 23 % with the mean absolute value). The RMS over
    # channels of per-channel sigmas is the root of the mean square over all three.
    ss = cv2.norm(_masked(_laplace16(_pick(rgb, rows)), mask), cv2.NORM_L2SQR)
    return float(math.sqrt(ss / (3.0 * n) / gain))


def _sobel_at(f: F32, ys: NDArray[np.intp], xs: NDArray[np.intp]) -> NDArray[np.float64]:
    """64x the squared gradient of ``f`` at the pixels (``ys``, ``xs``): Sobel, reflected edges."""
    h, w = f.shape
    y0, y2 = np.maximum(ys - 1, 0), np.minimum(ys + 1, h - 1)
    x0, x2 = np.maximum(xs - 1, 0), np.minimum(xs + 1, w - 1)
    a, b, c = f[y0, x0], f[y0, xs], f[y0, x2]
    d, e = f[ys, x0], f[ys, x2]
    g, k, m = f[y2, x0], f[y2, xs], f[y2, x2]
    gx = (c + 2.0 * e + m - a - 2.0 * d - g).astype(np.float64)
    gy = (g + 2.0 * k + m - a - 2.0 * b - c).astype(np.float64)
    out: NDArray[np.float64] = gx * gx + gy * gy
    return out


def _sharpness(fine: F32, noise: float, coarse8: F32, q97: float) -> float:
    """Edge acutance: fine vs coarse gradient on the strongest edges, noise removed, x100.

    A step edge already blurred by b px has fine/coarse = sqrt(b^2+2^2)/sqrt(b^2+0.7^2),
    so the number falls strictly with blur and does not depend on contrast.
    The strongest edges: the noise-compensated coarse gradient above its 97th
    percentile and above 2 levels/px, among the pixels (2i, 2j) where ``coarse8``
    (8x the coarse gradient) is sampled; ``q97`` is its percentile. Compensation is
    monotone, so the percentile is that of ``coarse8`` compensated, and only the
    selected pixels are compensated, and their fine gradient computed.
    """
    e_coarse = _noise_gain("coarse") * noise * noise
    thr = max(_compensate(q97 / 8.0, e_coarse), 2.0)
    idx = np.flatnonzero(coarse8.ravel() > np.float32(8.0 * math.sqrt(thr * thr + e_coarse)))
    if idx.size == 0:
        return 0.0
    yi, xi = np.divmod(idx, coarse8.shape[1])
    fine_sq = _sobel_at(fine, 2 * yi, 2 * xi) / 64.0
    fine_c = np.sqrt(np.maximum(fine_sq - _noise_gain("fine") * noise * noise, 0.0))
    coarse = np.sqrt(np.maximum((coarse8.ravel()[idx] / 8.0) ** 2 - e_coarse, 0.0))
    return 100.0 * max(0.0, float(np.median(fine_c / coarse)) - 1.0)


def _texture(b1: F32, noise: float, tile: int = 32) -> float:
    """Fraction of ``tile`` x ``tile`` tiles whose noise-compensated mean gradient is > 2 levels/px.

    ``b1``: luma blurred at ``TEXTURE_SIGMA``. A tile's mean is read on its pixels
    (2i, 2j), a quarter of them: the gradient itself is computed at full
    resolution, so this only samples it (tile fractions move by <= 0.006 on the
    labelled set, docs/viability.md).
    """
    h, w = b1.shape
    th, tw = h // tile, w // tile
    if th == 0 or tw == 0:
        return 0.0
    gx, gy = _grad8(b1)
    g = _sq(  # 64x the squared gradient, at (2i, 2j) of whole tiles
        np.ascontiguousarray(gx[: th * tile : 2, : tw * tile : 2]),
        np.ascontiguousarray(gy[: th * tile : 2, : tw * tile : 2]),
    )
    cv2.subtract(g, 64.0 * _noise_gain("texture") * noise * noise, dst=g)  # type: ignore[call-overload]
    cv2.threshold(g, 0.0, 0.0, cv2.THRESH_TOZERO, dst=g)  # below 0 -> 0
    cv2.sqrt(g, dst=g)
    # an integer reduction: OpenCV's exact block mean
    tiles = cv2.resize(g, (tw, th), interpolation=cv2.INTER_AREA)
    return float(np.count_nonzero(tiles > 8.0 * 2.0) / tiles.size)


def _fold(d: NDArray[np.float64], period: int) -> float:
    n = len(d) // period * period
    if n < 4 * period:
        return 1.0
    ph = d[:n].reshape(-1, period).mean(axis=0)
    return float(ph.max() / (np.median(ph) + 1e-3))


def _blockiness(y: F32, period: int) -> float:
    """Strength of the JPEG block grid: the strongest column/row phase vs the typical one."""
    dx = np.abs(np.diff(y, axis=1)).mean(axis=0, dtype=np.float64)
    dy = np.abs(np.diff(y, axis=0)).mean(axis=1, dtype=np.float64)
    return 0.5 * (_fold(dx, period) + _fold(dy, period))


def _fraction(mask: NDArray[np.uint8]) -> float:
    return cv2.countNonZero(mask) / mask.size


#: all three channels at or above this level: the sensor or the JPEG tone curve clipped
BLOWN_LEVEL = 250
#: near-white (all channels at or above this) with no texture also counts as blown
NEAR_WHITE_LEVEL = 245
#: "no texture": luma standard deviation over 5x5 pixels at most this many levels
FLAT_STD = 1.0
#: a blown region counts from this fraction of the analysis frame (0.05 %: about
#: 19x19 px of a 1024x683 frame); smaller ones are specular glints and lamps
MIN_BLOWN_REGION = 0.0005


def _blown(lo: U8, g8: U8) -> tuple[float, float]:
    """(area, largest region) of blown highlights as fractions of the frame.

    Blown means detail is gone: every channel clipped (``lo``, the per-pixel
    minimum of R, G, B, >= ``BLOWN_LEVEL``), or near-white with no texture. A 3x3
    erosion drops isolated pixels, and only 8-connected regions of at least
    ``MIN_BLOWN_REGION`` of the frame count, so a saturated red flower, a blue sky,
    a bright sky with detail, glints and lamps are not blown.
    """
    frame = lo.size
    min_area = MIN_BLOWN_REGION * frame
    # blown pixels are near-white, so only those whose 3x3 is all near-white can
    # survive the erosion: when too few are, no region can count
    core = _min3(_cmp(lo, NEAR_WHITE_LEVEL, cv2.CMP_GE))
    if cv2.countNonZero(core) < min_area:
        return 0.0, 0.0
    # a blown region lies inside one 8-connected region of the core: only core
    # regions of at least the minimum area can hold one (scattered near-white
    # pixels, a textured bright sky, stop here)
    big = _big_regions(core, min_area)
    if big is None:
        return 0.0, 0.0
    # only the box around them is filtered: 1 px more for the 3x3 erosion and 2
    # for the 5x5 window, so inside the box the result is that of the whole frame
    bx, by, bw, bh = cv2.boundingRect(big)
    r0, r1 = max(0, by - 3), min(lo.shape[0], by + bh + 3)
    c0, c1 = max(0, bx - 3), min(lo.shape[1], bx + bw + 3)
    yb = g8[r0:r1, c0:c1].astype(np.float32)
    m = cv2.blur(yb, (5, 5))
    var = cv2.sqrBoxFilter(yb, -1, (5, 5)) - m * m
    lob = lo[r0:r1, c0:c1]
    mask = cv2.bitwise_or(
        _cmp(lob, BLOWN_LEVEL, cv2.CMP_GE),
        cv2.bitwise_and(
            _cmp(lob, NEAR_WHITE_LEVEL, cv2.CMP_GE), _cmp(var, FLAT_STD**2, cv2.CMP_LE)
        ),
    )
    # the erosion at the box's edge sees no neighbours beyond it: keep the core only
    mask8 = cv2.bitwise_and(_min3(np.asarray(mask, dtype=np.uint8)), core[r0:r1, c0:c1])
    if cv2.countNonZero(mask8) < min_area:
        return 0.0, 0.0
    areas = _region_areas(np.asarray(mask8, dtype=np.uint8))
    counted = areas[areas >= min_area]
    if counted.size == 0:
        return 0.0, 0.0
    return float(counted.sum() / frame), float(counted.max() / frame)


def _labels(mask: U8) -> tuple[NDArray[np.int32], NDArray[np.intp]]:
    """8-connected labels of ``mask`` and the area of each label (0: background).

    Areas by counting labels: ``connectedComponentsWithStats`` costs ~5 ms on a
    1024x683 frame even when it is empty, the labels alone 0.6 ms.
    """
    n, labels = cv2.connectedComponents(mask, connectivity=8, ltype=cv2.CV_32S)
    lab: NDArray[np.int32] = np.asarray(labels, dtype=np.int32)
    return lab, np.bincount(lab.ravel(), minlength=n)


def _region_areas(mask: U8) -> NDArray[np.intp]:
    """Areas of the 8-connected regions of ``mask``."""
    return _labels(mask)[1][1:]


def _big_regions(mask: U8, min_area: float) -> U8 | None:
    """``mask`` without its 8-connected regions smaller than ``min_area`` (None if none is left)."""
    bx, by, bw, bh = cv2.boundingRect(mask)
    labels, areas = _labels(np.ascontiguousarray(mask[by : by + bh, bx : bx + bw]))
    keep = areas >= min_area
    keep[0] = False
    if not keep.any():
        return None
    out = np.zeros_like(mask)
    out[by : by + bh, bx : bx + bw] = np.where(keep[labels], np.uint8(255), np.uint8(0))
    return out


@dataclass(frozen=True)
class _Crops:
    """Normalised crop sizes (w, h) of a camera path and the output size."""

    sizes: tuple[tuple[float, float], ...]
    out_w: int
    out_h: int
    #: the keyframe size the crops refer to, when known (manifest)
    source: tuple[int, int] | None = None


def _camera_crops(
    camera: Manifest | Camera | None, output_size: tuple[int, int] | None, profile: Profile
) -> _Crops | None:
    if camera is None:
        # no path: the largest crop of the requested (or the profile's) output aspect
        return None if output_size is None else _Crops((), output_size[0], output_size[1])
    from .manifest import Camera, Manifest

    if isinstance(camera, Manifest):
        cam = camera.camera
        out = (camera.output.width, camera.output.height)
        src: tuple[int, int] | None = (camera.keyframe.width, camera.keyframe.height)
    elif isinstance(camera, Camera):
        cam, src = camera, None
        out = output_size or (profile.output_width, profile.output_height)
    else:
        raise TypeError(f"camera must be a Manifest or a Camera, got {type(camera).__name__}")
    sizes = tuple((c.w, c.h) for c in (cam.start_frame, cam.end_frame))
    return _Crops(sizes, out[0], out[1], src)


def _upscale(width: int, height: int, crops: _Crops | None, profile: Profile) -> float:
    """Output pixels per source pixel for the smallest crop (the largest upscale)."""
    if crops is None or not crops.sizes:
        ow, oh = (
            (crops.out_w, crops.out_h) if crops else (profile.output_width, profile.output_height)
        )
        cw = min(float(width), height * ow / oh)
        return ow / cw
    sw, sh = crops.source or (width, height)
    return max(max(crops.out_w / (w * sw), crops.out_h / (h * sh)) for w, h in crops.sizes)


def _to_uint8_rgb(image: Any) -> NDArray[np.uint8]:
    arr = np.asarray(image)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must be HxW, HxWx3 or HxWx4, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.uint16:
        return (arr.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    f = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return (np.clip(f, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _measure(
    rgb: NDArray[np.uint8],
    *,
    source_size: tuple[int, int],
    reduction: int,
    jpeg_quality: float | None,
    order: str,
    crops: _Crops | None,
    profile: Profile,
    timings: dict[str, float],
) -> dict[str, float]:
    """The metrics of ``rgb`` (channels in ``order``: every measure but luma is symmetric in them)."""
    to_gray = cv2.COLOR_BGR2GRAY if order == "BGR" else cv2.COLOR_RGB2GRAY
    clock = time.perf_counter
    t = clock()
    sw, sh = source_size
    h, w = rgb.shape[:2]
    long_side = profile.analysis_long_side
    f = long_side / max(sw, sh)
    # blocking on the decoded grid (period 8/reduction), only where blocks would
    # still be >= 3 px at the analysis size; smaller ones cannot show
    period = 8 // reduction
    blockiness = 1.0
    if 8 * f >= 3 and period >= 2:
        y_dec = cv2.cvtColor(rgb, to_gray).astype(np.float32)
        blockiness = _blockiness(y_dec, period)
    timings["blockiness"] = clock() - t
    t = clock()
    scale = long_side / max(w, h)
    aw, ah = max(1, round(w * scale)), max(1, round(h * scale))
    interp = _interpolation(max(w, h), long_side)
    small = rgb
    if (aw, ah) != (w, h):
        small = np.asarray(cv2.resize(rgb, (aw, ah), interpolation=interp), dtype=np.uint8)
    g8 = np.asarray(cv2.cvtColor(small, to_gray), dtype=np.uint8)
    lo, hi = _extremes(small)
    timings["resize"] = clock() - t
    t = clock()
    coarse8 = _coarse_gradient(g8)
    # the quantiles from the interior (the flat half leaves the border out)
    flat_below, q97 = _quantiles(coarse8[1:-1, 1:-1], (0.5, 0.97))
    rows = _noise_rows(ah)
    flat = _flat_half(coarse8, flat_below, aw, rows)
    noise = _luma_noise(g8, flat, rows)
    lo3, hi3 = _min3(lo), _max3(hi)
    if scale <= 1:  # at scale 1 ``small`` is ``rgb`` and the gain is white noise's 36
        gain = _resample_gain(w, aw, interp) * _resample_gain(h, ah, interp)
        channel_noise = _channel_noise(small, gain, flat, lo3, hi3, rows)
    else:  # an upscaled frame only interpolates the source's grain: measure it there
        src_lo, src_hi = _extremes(rgb)
        src_coarse = _coarse_gradient(np.asarray(cv2.cvtColor(rgb, to_gray), dtype=np.uint8))
        src_median = _quantiles(src_coarse[1:-1, 1:-1], (0.5,))[0]
        src_rows = _noise_rows(h)
        src_flat = _flat_half(src_coarse, src_median, w, src_rows)
        channel_noise = _channel_noise(rgb, 36.0, src_flat, _min3(src_lo), _max3(src_hi), src_rows)
    timings["noise"] = clock() - t
    t = clock()
    fine, b1 = _fine_and_texture_blurs(g8)
    sharp = _sharpness(fine, noise, coarse8, q97)
    timings["sharpness"] = clock() - t
    t = clock()
    texture = _texture(b1, noise)
    timings["texture"] = clock() - t
    t = clock()
    blown, blown_largest = _blown(lo, g8)
    # a 3x3 erosion of "every pixel >= 250" is "the 3x3 minimum >= 250", and so on
    saturated = _fraction(_cmp(_min3(hi), 250, cv2.CMP_GE))
    shadow = _fraction(_cmp(hi3, 8, cv2.CMP_LE))
    # luma in whole levels 0..255: percentiles from the histogram, no sort
    hist = cv2.calcHist([g8], [0], None, [256], [0, 256]).ravel()
    cdf = np.cumsum(hist.astype(np.float64))
    lo_p, hi_p = (float(np.searchsorted(cdf, q * cdf[-1])) for q in (0.01, 0.99))
    mean, std = cv2.meanStdDev(g8)
    timings["exposure"] = clock() - t
    m = {
        "sharpness": sharp,
        "noise": channel_noise,
        "highlight_clip": blown,
        "highlight_region": blown_largest,
        "saturated_channels": saturated,
        "shadow_clip": shadow,
        "luma_mean": float(mean[0, 0]),
        "luma_spread": float(std[0, 0]),
        "white_point": float(hi_p),
        "black_point": float(lo_p),
        "blockiness": blockiness,
        "texture": texture,
        "upscale": _upscale(sw, sh, crops, profile),
        "source_megapixels": sw * sh / 1e6,
    }
    if jpeg_quality is not None:
        m["jpeg_quality"] = jpeg_quality
    return m


def judge(metrics: Mapping[str, float], profile: Profile) -> tuple[float, list[str]]:
    """Score and reasons for measured metrics (checks whose metric is absent are skipped)."""
    score = 1.0
    failed: list[tuple[float, str]] = []
    near: list[tuple[float, str]] = []
    for check in profile.checks:
        if check.metric not in metrics:
            continue
        value = metrics[check.metric]
        fac = check.factor(value)
        score *= fac
        if check.failed(value):
            failed.append((fac, check.reason(value)))
        elif fac < 1.0:
            near.append((fac, f"{check.metric} {value:.3g}"))
    reasons = [r for _, r in sorted(failed, key=lambda x: x[0])]
    if not reasons and score < profile.min_score:
        lowest = ", ".join(r for _, r in sorted(near)[:3])
        reasons.append(
            f"overall score {_past(score, profile.min_score, below=True, fmt='f')} < "
            f"{profile.min_score:g}: several metrics near their "
            f"limits ({lowest})"
        )
    return score, reasons


def video_viability_score(
    image_or_path: str | os.PathLike[str] | NDArray[Any] | Image.Image,
    profile: Profile | str | os.PathLike[str] | None = None,
    camera: Manifest | Camera | None = None,
    *,
    output_size: tuple[int, int] | None = None,
    reduced_decode: bool = True,
) -> ViabilityReport:
    """Score one keyframe (a path, an HxWxC array in uint8 or 0..1 floats, or a PIL image).

    ``camera``: a Manifest (crops, output size and keyframe size from it) or a
    Camera (with ``output_size``, default the profile's). Without one the largest
    crop of the profile's output aspect is assumed. A path that cannot be read
    gives a report with score 0 and the reason; it never raises.
    """
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    crops = _camera_crops(camera, output_size, prof)
    timings: dict[str, float] = {}
    path: str | None = None
    t = time.perf_counter()
    if isinstance(image_or_path, (str, os.PathLike)):
        path = os.fspath(image_or_path)
        try:
            dec = decode_for_analysis(
                path,
                prof.analysis_long_side,
                reduced=reduced_decode,
                max_pixels=prof.max_pixels,
            )
        except ImageError as e:
            return rejected(path, str(e))
        except Exception as e:  # a decoder bug on a hostile file must not stop a batch
            log.debug("decode of %s failed", path, exc_info=True)
            return rejected(path, f"{path}: cannot decode image ({type(e).__name__}: {e})")
        rgb, size, red, q = dec.pixels, (dec.width, dec.height), dec.reduction, dec.jpeg_quality
        order = dec.order
    else:
        rgb = _to_uint8_rgb(image_or_path)
        size, red, q, order = (rgb.shape[1], rgb.shape[0]), 1, None, "RGB"
        if size[0] * size[1] > prof.max_pixels:
            return rejected(None, f"image {size[0]}x{size[1]} exceeds {prof.max_megapixels:g} MP")
    timings["decode"] = time.perf_counter() - t
    if min(rgb.shape[:2]) < 8:
        return rejected(
            path, f"{path or 'image'}: {size[0]}x{size[1]} is too small to analyse (min 8 px)"
        )
    metrics = _measure(
        rgb,
        source_size=size,
        reduction=red,
        jpeg_quality=q,
        order=order,
        crops=crops,
        profile=prof,
        timings=timings,
    )
    score, reasons = judge(metrics, prof)
    passed = not reasons and score >= prof.min_score
    return ViabilityReport(path, score, passed, reasons, metrics, timings)


# --------------------------------------------------------------------------- batches

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"}
)


def find_images(paths: Iterable[str | os.PathLike[str]], recursive: bool = False) -> list[Path]:
    """Files named explicitly, plus image files (by suffix) in named folders; sorted per folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            it = p.rglob("*") if recursive else p.iterdir()
            found = sorted(
                q
                for q in it
                if q.suffix.lower() in IMAGE_SUFFIXES and not q.name.startswith(".") and q.is_file()
            )
            out.extend(found)
        elif p.exists() or p.is_symlink():
            out.append(p)
        else:
            raise UsageError(f"{p}: no such file or folder")
    return out


def _worker_init() -> None:
    cv2.setNumThreads(1)


def _score_one(args: tuple[str, Profile]) -> ViabilityReport:
    path, profile = args
    try:
        return video_viability_score(path, profile)
    except Exception as e:  # the batch never stops on one file
        log.debug("scoring %s failed", path, exc_info=True)
        return rejected(path, f"{path}: analysis failed ({type(e).__name__}: {e})")


def score_files(
    paths: Iterable[str | os.PathLike[str]],
    profile: Profile | None = None,
    *,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
) -> Iterator[ViabilityReport]:
    """Score files in input order, ``workers`` processes (default: all cores).

    ``on_progress(done, total)`` ticks once per file; it is also the interrupt
    point (raise from it to stop).
    """
    prof = profile or load_profile()
    items = [(os.fspath(p), prof) for p in paths]
    total = len(items)
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise UsageError(f"workers must be >= 1, got {n}")
    n = min(n, max(total, 1))
    if n == 1:
        before = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            for i, item in enumerate(items, 1):
                yield _score_one(item)
                if on_progress:
                    on_progress(i, total)
        finally:
            cv2.setNumThreads(before)
        return
    with ProcessPoolExecutor(max_workers=n, initializer=_worker_init) as pool:
        results = pool.map(_score_one, items, chunksize=1)
        try:
            for i, report in enumerate(results, 1):
                yield report
                if on_progress:
                    on_progress(i, total)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
