"""The virtual camera: exact, anti-aliased rendering of a camera path.

Geometry: output pixel centre ``u + 0.5`` samples the image at
``x + (u + 0.5) * w / out_w`` (pixel ``i`` spans ``[i, i+1)``), so a crop is
reproduced to a fraction of a pixel, with no rounding of the rectangle.

Anti-aliasing: a pyramid of area-averaged levels a half octave apart (exact 2x2
boxes for whole octaves, an exact 1/sqrt(2) area resize for the levels between)
is built once per image, lazily (only the levels a path needs). A frame is one
bilinear sample per output pixel from the level on which an output pixel spans
sqrt(3)..sqrt(6) level pixels, blended with the next coarser level. On such a
level, the level pixel's box plus the bilinear tent has (phase-averaged) the
variance of a box one output pixel wide, i.e. the area filter a supersampled
render converges to; the blend weight keeps that variance constant across
levels, so the prefilter changes continuously during a zoom (no popping) and a
pan does not shimmer. Two 1x warps cost half of one 2x-supersampled warp.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from .path import CameraError, CameraPath, FloatArray

log = logging.getLogger(__name__)

Image = NDArray[np.uint8]
ProgressFn = Callable[[int, int], None]

#: an output pixel spans MIN_SPAN..MIN_SPAN*sqrt(2) pixels of the finer of the two
#: levels blended: at sqrt(3) a level pixel's box (variance a^2/12) plus the bilinear
#: tent (a^2/6) has the variance of a one-output-pixel box (1/12), a = 1/span
MIN_SPAN = math.sqrt(3.0)
#: below this span (image px per output px) a single bicubic sample is used instead
CUBIC_BELOW = 1.25
#: aspect mismatch allowed between an image and the path's image size
IMAGE_ASPECT_TOLERANCE = 0.02
_MIN_BLEND = 1.0 / 256
_HALF = 2.0**-0.5


def _u8(a: object) -> Image:
    """cv2 results typed as uint8 images (no copy)."""
    return np.asarray(a, dtype=np.uint8)


def _check_image(img: NDArray[np.uint8], what: str) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
        raise CameraError(
            f"{what} must be a uint8 numpy array, got {getattr(img, 'dtype', type(img))}"
        )
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise CameraError(f"{what} must be HxWx3 (RGB), got shape {img.shape}")


def check_out_size(out_size: tuple[int, int]) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in out_size)
    except (TypeError, ValueError):
        raise CameraError(f"out_size must be (width, height), got {out_size!r}") from None
    if not (1 <= w <= 16384 and 1 <= h <= 16384):
        raise CameraError(f"out_size must be 1..16384 on each axis, got {w}x{h}")
    return w, h


class Pyramid:
    """Area-averaged levels of one image, a half octave apart, built on demand and kept.

    Level ``k`` has exactly ``2**(-k/2)`` of the image's resolution. Even levels
    are 2x2 box averages of the previous even level (odd sizes padded by
    replicating the edge, so level pixel ``i`` spans image pixels
    ``[i * 2**(k/2), (i + 1) * 2**(k/2))``); odd levels are an exact area resize
    of the even level below by ``1/sqrt(2)`` (cv2 ``INTER_AREA`` with that scale
    factor, not a rounded size), so the geometry stays exact on every level.
    """

    def __init__(self, image: Image) -> None:
        _check_image(image, "image")
        self.image = np.ascontiguousarray(image)
        h, w = image.shape[:2]
        self._levels: dict[int, Image] = {0: self.image}
        # the coarsest useful level is about 8 pixels on its short side
        self.max_level = max(0, int(math.floor(2 * math.log2(max(min(w, h), 1) / 8))))

    @staticmethod
    def scale(k: int) -> float:
        """Level ``k``'s resolution relative to the image."""
        return float(2.0 ** -(k // 2) * (_HALF if k % 2 else 1.0))

    def level(self, k: int) -> Image:
        """Pixels of level ``k`` (scale ``2**(-k/2)``)."""
        k = min(max(0, k), self.max_level)
        if k not in self._levels:
            if k % 2:
                src = self.level(k - 1)
                self._levels[k] = _u8(
                    cv2.resize(src, None, fx=_HALF, fy=_HALF, interpolation=cv2.INTER_AREA)
                )
            else:
                src = self.level(k - 2)
                hh, ww = src.shape[:2]
                if ww % 2 or hh % 2:
                    src = _u8(cv2.copyMakeBorder(src, 0, hh % 2, 0, ww % 2, cv2.BORDER_REPLICATE))
                    hh, ww = src.shape[:2]
                self._levels[k] = _u8(
                    cv2.resize(src, (ww // 2, hh // 2), interpolation=cv2.INTER_AREA)
                )
        return self._levels[k]

    def choose(self, span: float) -> tuple[int, float]:
        """Level and blend weight toward the next level for ``span`` image px per output px.

        On level ``k`` an output pixel spans ``s`` level pixels; with weight ``t``
        on level ``k+1`` (where it spans ``s/sqrt(2)``) the filter's variance is
        ``(1 + t) / (4 s^2)`` output px^2, which ``t = s^2/3 - 1`` holds at 1/12.
        """
        if span <= MIN_SPAN:
            return 0, 0.0
        k = int(math.floor(2 * math.log2(span / MIN_SPAN)))
        if k >= self.max_level:
            return self.max_level, 0.0
        s = span * self.scale(k)
        return k, min(max(s * s / 3.0 - 1.0, 0.0), 1.0)

    def render(self, rect: FloatArray | Sequence[float], out_size: tuple[int, int]) -> Image:
        """One frame: the rectangle ``[x, y, w, h]`` (image pixels) at ``out_size``."""
        out_w, out_h = out_size
        x, y, w, h = (float(v) for v in rect)
        if not (w > 0 and h > 0):
            raise CameraError(f"crop rectangle must have a positive size, got {w}x{h}")
        span = math.sqrt((w / out_w) * (h / out_h))
        exact = self._aligned(x, y, w, h, out_w, out_h, span)
        if exact is not None:
            return exact
        if span < CUBIC_BELOW:
            # enlarging or ~1:1: one bicubic sample per output pixel (exact at integer offsets)
            return self._warp(0, x, y, w, h, out_w, out_h, cv2.INTER_CUBIC)
        k, t = self.choose(span)
        if t < _MIN_BLEND:
            return self._warp(k, x, y, w, h, out_w, out_h)
        if t > 1.0 - _MIN_BLEND:
            return self._warp(k + 1, x, y, w, h, out_w, out_h)
        fine = self._warp(k, x, y, w, h, out_w, out_h)
        coarse = self._warp(k + 1, x, y, w, h, out_w, out_h)
        return _u8(cv2.addWeighted(fine, 1.0 - t, coarse, t, 0.0))

    def _aligned(
        self, x: float, y: float, w: float, h: float, out_w: int, out_h: int, span: float
    ) -> Image | None:
        """The exact box average when the crop lies on the pixel grid of a whole-octave level.

        A crop of exactly ``2**m`` times the output size whose corner is on the
        grid of octave level ``j <= m`` (a static camera on a 2x keyframe, say)
        is an integer box average of that level's pixels (a copy when ``j == m``),
        which is both cheaper and exact; ``j >= m - 2`` bounds its cost.
        """
        m = round(math.log2(span))
        eps = 1e-6
        if m < 0 or abs(w / 2**m - out_w) > eps or abs(h / 2**m - out_h) > eps:
            return None
        for j in range(min(m, self.max_level // 2), max(m - 2, 0) - 1, -1):
            f = float(2**j)
            xi, yi = round(x / f), round(y / f)
            if abs(x / f - xi) > eps or abs(y / f - yi) > eps:
                continue
            lv = self.level(2 * j)
            r = 2 ** (m - j)
            if xi < 0 or yi < 0 or xi + out_w * r > lv.shape[1] or yi + out_h * r > lv.shape[0]:
                return None
            crop = lv[yi : yi + out_h * r, xi : xi + out_w * r]
            if r == 1:
                return crop.copy()
            return _u8(cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA))
        return None

    def _warp(
        self,
        k: int,
        x: float,
        y: float,
        w: float,
        h: float,
        out_w: int,
        out_h: int,
        interpolation: int = cv2.INTER_LINEAR,
    ) -> Image:
        src = self.level(k)
        s = self.scale(min(max(0, k), self.max_level))
        # output index u -> level index: (x + (u + 0.5) * w / out_w) * s - 0.5
        m = np.array(
            [
                [w / out_w * s, 0.0, (x + 0.5 * w / out_w) * s - 0.5],
                [0.0, h / out_h * s, (y + 0.5 * h / out_h) * s - 0.5],
            ],
            dtype=np.float64,
        )
        return _u8(
            cv2.warpAffine(
                src,
                m,
                (out_w, out_h),
                flags=interpolation | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT_101,
            )
        )


def _scaled_rects(path: CameraPath, n: int, image_shape: tuple[int, ...], what: str) -> FloatArray:
    """The path's rects mapped onto an image of another size (per-axis scale)."""
    h, w = image_shape[:2]
    pw, ph = path.image_size
    rects = path.rects(n)
    if (w, h) == (pw, ph):
        return rects
    if abs((w / h) / (pw / ph) - 1.0) > IMAGE_ASPECT_TOLERANCE:
        raise CameraError(
            f"{what} is {w}x{h} but the camera path was made for {pw}x{ph}: aspect ratios differ "
            f"by more than {IMAGE_ASPECT_TOLERANCE:.0%} (frames must show the whole keyframe)"
        )
    scaled: FloatArray = rects * np.array([w / pw, h / ph, w / pw, h / ph])
    return scaled


def render_rect(
    image: Image, rect: FloatArray | Sequence[float], out_size: tuple[int, int]
) -> Image:
    """A single crop of ``image`` at ``out_size``, with the renderer's filtering."""
    return Pyramid(image).render(rect, check_out_size(out_size))


def render_path(
    keyframe: Image,
    path: CameraPath,
    n_frames: int,
    out_size: tuple[int, int],
    on_progress: ProgressFn | None = None,
) -> Iterator[Image]:
    """Stream ``n_frames`` frames (uint8 ``(h, w, 3)``) of ``path`` over a still keyframe.

    Frame 0 is the start crop, frame ``n_frames - 1`` the end crop. A keyframe of
    another size than ``path.image_size`` (same aspect) is fine: the normalised
    path is mapped onto it. ``on_progress(done, total)`` runs after each frame
    and may raise to cancel.
    """
    _check_image(keyframe, "keyframe")
    size = check_out_size(out_size)
    if n_frames < 1:
        raise CameraError(f"n_frames must be >= 1, got {n_frames}")
    rects = _scaled_rects(path, n_frames, keyframe.shape, "keyframe")
    return _render_still(Pyramid(keyframe), rects, size, on_progress)


def _render_still(
    pyr: Pyramid, rects: FloatArray, size: tuple[int, int], on_progress: ProgressFn | None
) -> Iterator[Image]:
    n = len(rects)
    for i, rect in enumerate(rects):
        frame = pyr.render(rect, size)
        if on_progress is not None:
            on_progress(i + 1, n)
        yield frame


def render_frames(
    frames: Iterable[Image],
    path: CameraPath,
    out_size: tuple[int, int],
    n_frames: int | None = None,
    on_progress: ProgressFn | None = None,
) -> Iterator[Image]:
    """Post-pass: impose ``path`` on an existing frame sequence (e.g. generated video).

    Frame ``i`` of ``n`` is cropped with the path's rectangle for frame ``i``,
    mapped onto that frame's size; every frame must show the whole keyframe
    composition (same aspect as the keyframe, any resolution). ``n_frames`` is
    needed when ``frames`` has no ``len()``.
    """
    size = check_out_size(out_size)
    if n_frames is None:
        if not isinstance(frames, Sequence | np.ndarray):
            raise CameraError("n_frames is required when frames is a stream (no len())")
        n_frames = len(frames)
    if n_frames < 1:
        raise CameraError(f"n_frames must be >= 1, got {n_frames}")
    rects = path.rects(n_frames)
    pw, ph = path.image_size
    count = 0
    for i, frame in enumerate(frames):
        if i >= n_frames:
            raise CameraError(f"got more frames than n_frames={n_frames}")
        _check_image(frame, f"frame {i}")
        h, w = frame.shape[:2]
        if (w, h) != (pw, ph) and abs((w / h) / (pw / ph) - 1.0) > IMAGE_ASPECT_TOLERANCE:
            raise CameraError(
                f"frame {i} is {w}x{h} but the camera path was made for {pw}x{ph}: aspect ratios "
                f"differ by more than {IMAGE_ASPECT_TOLERANCE:.0%} (frames must show the whole keyframe)"
            )
        rect = rects[i] * np.array([w / pw, h / ph, w / pw, h / ph])
        out = Pyramid(frame).render(rect, size)
        count += 1
        if on_progress is not None:
            on_progress(count, n_frames)
        yield out
    if count != n_frames:
        raise CameraError(f"expected {n_frames} frames, got {count}")
