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
from typing import TYPE_CHECKING, Any

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
        return f"{self.label}: {self.metric} {value:.3g} {op} {self.fail:g}"


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


def _grad(y: F32, sigma: float) -> F32:
    """Gradient magnitude (levels per pixel) of ``y`` smoothed by a Gaussian of ``sigma``."""
    g = cv2.GaussianBlur(y, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    out: F32 = np.asarray(cv2.magnitude(gx, gy), dtype=np.float32)
    return out


_NOISE_GAIN: dict[float, float] = {}


def _noise_gain(sigma: float) -> float:
    """E|grad|^2 that unit white noise produces through ``_grad`` (from its impulse response)."""
    if sigma not in _NOISE_GAIN:
        d = np.zeros((65, 65), np.float32)
        d[32, 32] = 1.0
        g = cv2.GaussianBlur(d, (0, 0), sigma)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
        _NOISE_GAIN[sigma] = float((gx * gx).sum() + (gy * gy).sum())
    return _NOISE_GAIN[sigma]


def _compensate(g: F32, sigma: float, noise: float) -> F32:
    """Remove the expected noise energy from a gradient magnitude (never below 0)."""
    e = np.float32(_noise_gain(sigma) * noise * noise)
    out: F32 = np.sqrt(np.maximum(g * g - e, np.float32(0.0)))
    return out


def _quantile(a: F32, q: float) -> float:
    """The q-quantile (lower element) in O(n), not a full sort."""
    flat = a.ravel()
    k = min(flat.size - 1, int(q * (flat.size - 1)))
    return float(np.partition(flat, k)[k])


def _noise(y: F32, coarse: F32) -> tuple[float, float]:
    """Immerkaer's Laplacian-difference noise estimate (luma, as if white), flatter half.

    Used only to remove the noise energy from the gradients of ``_sharpness`` and
    ``_texture``, which see the same filtered luma; the reported ``noise`` metric is
    ``_channel_noise``. Also returns the flat/structured split of ``coarse`` (its median).
    """
    r = cv2.filter2D(y, cv2.CV_32F, _LAPLACE, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    c = coarse[1:-1, 1:-1]
    median = _quantile(c, 0.5)
    flat = (c <= median).astype(np.uint8)
    mean_abs = cv2.mean(np.abs(r), mask=flat)[0]
    return float(math.sqrt(math.pi / 2.0) / 6.0 * mean_abs), median


# Immerkaer (1996), "Fast noise variance estimation": this kernel is the difference
# of two Laplacians; on white noise of sigma s its response has variance 36 s^2.
_LAPLACE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_SECOND_DIFF = np.array([1.0, -2.0, 1.0])


@functools.lru_cache(maxsize=32)
def _resample_gain(n_in: int, n_out: int) -> float:
    """Var of [1,-2,1] on area-resampled white noise over the noise's own variance (one axis).

    White noise gives 6. ``cv2.INTER_AREA`` makes neighbouring output pixels share
    input pixels, so resampled noise is correlated and its second difference is
    smaller; dividing by this (instead of 6) keeps the estimate equal to the
    noise's standard deviation at the analysis size. Exact for OpenCV's weights:
    they are read off by resampling an identity matrix.
    """
    if n_in == n_out:
        return 6.0
    w = cv2.resize(np.eye(n_in, dtype=np.float32), (n_out, n_in), interpolation=cv2.INTER_AREA)
    w64 = w.astype(np.float64)
    c0 = (w64 * w64).sum(axis=0)  # var of output j, per unit input variance
    c1 = (w64[:, :-1] * w64[:, 1:]).sum(axis=0)  # cov(j, j+1)
    c2 = (w64[:, :-2] * w64[:, 2:]).sum(axis=0)  # cov(j, j+2)
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
    return float(v.mean() / c0.mean())


def _channel_noise(
    rgb: NDArray[np.uint8], gain: float, coarse: F32 | None = None, flat_below: float | None = None
) -> float:
    """Noise sigma per colour channel (RMS over R, G, B), 8-bit levels, in flat unclipped areas.

    Per channel, so that noise of the same sigma reads the same whether it is grey,
    independent per channel or chroma-only (luma would read an independent sigma
    as 0.66 of it). ``gain`` is the product of both axes' ``_resample_gain``.
    Flat: the half of the frame with the least luma gradient at sigma 2 px
    (``coarse`` below ``flat_below``, both computed here when not given). Unclipped: no channel of a 3x3
    neighbourhood at 0..2 or 253..255, where clipping would hide the noise.
    Fine texture left in the flat half reads as noise too (0.3-3 levels on clean
    photos); it is what the ``good`` level of the check allows for.
    """
    if coarse is None:
        coarse = _grad(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), 2.0)
    k3 = np.ones((3, 3), np.uint8)
    r8, g8, b8 = cv2.split(rgb)
    lo = cv2.erode(cv2.min(cv2.min(r8, g8), b8), k3)
    hi = cv2.dilate(cv2.max(cv2.max(r8, g8), b8), k3)
    ok = (lo > 2) & (hi < 253)
    ok[0, :] = ok[-1, :] = ok[:, 0] = ok[:, -1] = False
    if int(np.count_nonzero(ok)) < 64:
        return 0.0
    if flat_below is None:
        flat_below = _quantile(coarse, 0.5)
    flat = (ok & (coarse <= flat_below)).astype(np.uint8)
    r = cv2.filter2D(rgb, cv2.CV_32F, _LAPLACE, borderType=cv2.BORDER_REFLECT)
    # mean square, not Immerkaer's mean absolute value: variances of independent
    # texture and noise add, so a photo's own texture is removed exactly by
    # subtracting its clean reading in quadrature (measured: within 6 % for added
    # sigma 2..35, against up to 23 % with the mean absolute value)
    ms = np.array(cv2.mean(cv2.multiply(r, r), mask=flat)[:3], dtype=np.float64)
    sig = np.sqrt(ms / gain)
    return float(np.sqrt(np.mean(sig * sig)))


def _sharpness(y: F32, noise: float, coarse: F32) -> float:
    """Edge acutance: fine vs coarse gradient on the strongest edges, noise removed, x100.

    A step edge already blurred by b px has fine/coarse = sqrt(b^2+2^2)/sqrt(b^2+0.7^2),
    so the number falls strictly with blur and does not depend on contrast.
    """
    fine = _compensate(_grad(y, 0.7), 0.7, noise)
    coarse_c = _compensate(coarse, 2.0, noise)
    thr = max(_quantile(coarse_c, 0.97), 2.0)
    m = coarse_c > thr
    if not m.any():
        return 0.0
    return 100.0 * max(0.0, float(np.median(fine[m] / coarse_c[m])) - 1.0)


def _texture(y: F32, noise: float, tile: int = 32) -> float:
    g = _compensate(_grad(y, 1.0), 1.0, noise)
    h, w = g.shape
    th, tw = h // tile, w // tile
    if th == 0 or tw == 0:
        return 0.0
    tiles = g[: th * tile, : tw * tile].reshape(th, tile, tw, tile).mean(axis=(1, 3))
    return float((tiles > 2.0).mean())


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


def _clip_fraction(mask: NDArray[np.bool_]) -> float:
    """Fraction of the frame inside clipped areas (3x3 erosion drops isolated pixels)."""
    eroded = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    return float(eroded.mean())


#: all three channels at or above this level: the sensor or the JPEG tone curve clipped
BLOWN_LEVEL = 250
#: near-white (all channels at or above this) with no texture also counts as blown
NEAR_WHITE_LEVEL = 245
#: "no texture": luma standard deviation over 5x5 pixels at most this many levels
FLAT_STD = 1.0
#: a blown region counts from this fraction of the analysis frame (0.05 %: about
#: 19x19 px of a 1024x683 frame); smaller ones are specular glints and lamps
MIN_BLOWN_REGION = 0.0005


def _blown(lo: NDArray[np.uint8], y: F32) -> tuple[float, float]:
    """(area, largest region) of blown highlights as fractions of the frame.

    Blown means detail is gone: every channel clipped (``lo``, the per-pixel
    minimum of R, G, B, >= ``BLOWN_LEVEL``), or near-white with no texture. A 3x3
    erosion drops isolated pixels, and only 8-connected regions of at least
    ``MIN_BLOWN_REGION`` of the frame count, so a saturated red flower, a blue sky,
    a bright sky with detail, glints and lamps are not blown.
    """
    near = lo >= NEAR_WHITE_LEVEL
    rows = np.flatnonzero(near.any(axis=1))
    if rows.size == 0:
        return 0.0, 0.0
    cols = np.flatnonzero(near.any(axis=0))
    # only the box around the near-white pixels (plus the 5x5 window) is filtered
    r0, r1 = max(0, rows[0] - 2), min(lo.shape[0], rows[-1] + 3)
    c0, c1 = max(0, cols[0] - 2), min(lo.shape[1], cols[-1] + 3)
    yb = y[r0:r1, c0:c1]
    m = cv2.blur(yb, (5, 5))
    var = cv2.blur(yb * yb, (5, 5)) - m * m
    lob = lo[r0:r1, c0:c1]
    mask = (lob >= BLOWN_LEVEL) | (near[r0:r1, c0:c1] & (var <= FLAT_STD * FLAT_STD))
    mask8 = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask8, connectivity=8)
    areas = stats[1:n, cv2.CC_STAT_AREA]
    frame = lo.size
    big = areas[areas >= MIN_BLOWN_REGION * frame]
    if big.size == 0:
        return 0.0, 0.0
    return float(big.sum() / frame), float(big.max() / frame)


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
    crops: _Crops | None,
    profile: Profile,
    timings: dict[str, float],
) -> dict[str, float]:
    clock = time.perf_counter
    t = clock()
    sw, sh = source_size
    h, w = rgb.shape[:2]
    long_side = profile.analysis_long_side
    f = long_side / max(sw, sh)
    # blocking on the decoded grid (period 8/reduction), only where blocks would
    # still be >= 3 px at the analysis size; smaller ones cannot show
    period = 8 // reduction
    g_dec = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    y_dec: F32 = g_dec.astype(np.float32)
    timings["luma"] = clock() - t
    t = clock()
    blockiness = _blockiness(y_dec, period) if 8 * f >= 3 and period >= 2 else 1.0
    timings["blockiness"] = clock() - t
    t = clock()
    scale = long_side / max(w, h)
    aw, ah = max(1, round(w * scale)), max(1, round(h * scale))
    if (aw, ah) != (w, h):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        small: NDArray[np.uint8] = np.asarray(
            cv2.resize(rgb, (aw, ah), interpolation=interp), dtype=np.uint8
        )
        g8 = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        y: F32 = g8.astype(np.float32)
    else:
        small, g8, y = rgb, g_dec, y_dec
    timings["resize"] = clock() - t
    t = clock()
    coarse = _grad(y, 2.0)
    noise, flat_below = _noise(y, coarse)
    if scale < 1:
        gain = _resample_gain(w, aw) * _resample_gain(h, ah)
        channel_noise = _channel_noise(small, gain, coarse, flat_below)
    else:  # an upscaled frame only interpolates the source's grain: measure it there
        channel_noise = _channel_noise(rgb, 36.0)
    timings["noise"] = clock() - t
    t = clock()
    sharp = _sharpness(y, noise, coarse)
    timings["sharpness"] = clock() - t
    t = clock()
    texture = _texture(y, noise)
    timings["texture"] = clock() - t
    t = clock()
    # per-pixel max/min of the channels: cv2 on the planes is ~10x numpy's max(axis=2)
    r, g, b = cv2.split(small)
    hi = cv2.max(cv2.max(r, g), b)
    blown, blown_largest = _blown(np.asarray(cv2.min(cv2.min(r, g), b), dtype=np.uint8), y)
    saturated = _clip_fraction(hi >= 250)
    shadow = _clip_fraction(hi <= 8)
    # luma in whole levels 0..255: percentiles from the histogram, no sort
    cdf = np.cumsum(np.bincount(g8.ravel(), minlength=256))
    lo_p, hi_p = (float(np.searchsorted(cdf, q * cdf[-1])) for q in (0.01, 0.99))
    timings["exposure"] = clock() - t
    m = {
        "sharpness": sharp,
        "noise": channel_noise,
        "highlight_clip": blown,
        "highlight_region": blown_largest,
        "saturated_channels": saturated,
        "shadow_clip": shadow,
        "luma_mean": float(y.mean()),
        "luma_spread": float(y.std()),
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
            f"overall score {score:.3f} < {profile.min_score:g}: several metrics near their "
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
        rgb, size, red, q = dec.rgb, (dec.width, dec.height), dec.reduction, dec.jpeg_quality
    else:
        rgb = _to_uint8_rgb(image_or_path)
        size, red, q = (rgb.shape[1], rgb.shape[0]), 1, None
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
