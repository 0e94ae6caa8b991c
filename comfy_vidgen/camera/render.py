"""The virtual camera: exact, anti-aliased rendering of a camera path.

Geometry: output pixel centre ``u + 0.5`` samples the image at
``x + (u + 0.5) * w / out_w`` (pixel ``i`` spans ``[i, i+1)``), so a crop is
reproduced to a fraction of a pixel, with no rounding of the rectangle.

Anti-aliasing: a pyramid of 2x2 area-averaged levels is built once per image,
lazily (only the levels a path needs). A frame is one warp of the level on
which an output pixel spans 1.5..3 level pixels: 2x2 bilinear samples per output
pixel, box-averaged, i.e. an area filter one output pixel wide at the exact
sub-pixel position (what a supersampled render converges to), so pans do not
shimmer. Over the last 15% of each octave the next level is blended in, so
the prefilter width changes continuously during a zoom instead of popping.
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

#: every output pixel averages SUPERSAMPLE x SUPERSAMPLE bilinear samples
SUPERSAMPLE = 2
#: levels are chosen so that one output pixel spans MIN_SPAN..2*MIN_SPAN level pixels
MIN_SPAN = 1.5
#: below this span (image px per output px) a single bicubic sample is used instead
CUBIC_BELOW = 1.25
#: fraction of each octave (its coarse end) over which two levels are blended, so
#: the prefilter width changes continuously during a zoom (no popping)
BLEND_ZONE = 0.15
#: aspect mismatch allowed between an image and the path's image size
IMAGE_ASPECT_TOLERANCE = 0.02
_MIN_BLEND = 1.0 / 256


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
    """Area-averaged (2x2 box) levels of one image, built on demand and kept.

    Level ``j`` has exactly ``2**-j`` of the image's resolution: odd sizes are
    padded by replicating the edge before halving, so level pixel ``i`` spans
    image pixels ``[i * 2**j, (i + 1) * 2**j)`` and the geometry stays exact.
    """

    def __init__(self, image: Image) -> None:
        _check_image(image, "image")
        self.image = np.ascontiguousarray(image)
        h, w = image.shape[:2]
        self._levels: dict[int, Image] = {0: self.image}
        # the coarsest useful level is about 8 pixels on its short side
        self.max_level = max(0, int(math.floor(math.log2(max(min(w, h), 1) / 8))))

    def level(self, j: int) -> Image:
        """Pixels of level ``j`` (scale ``2**-j``)."""
        j = min(max(0, j), self.max_level)
        if j not in self._levels:
            src = self.level(j - 1)
            hh, ww = src.shape[:2]
            if ww % 2 or hh % 2:
                src = _u8(cv2.copyMakeBorder(src, 0, hh % 2, 0, ww % 2, cv2.BORDER_REPLICATE))
                hh, ww = src.shape[:2]
            self._levels[j] = _u8(cv2.resize(src, (ww // 2, hh // 2), interpolation=cv2.INTER_AREA))
        return self._levels[j]

    def choose(self, span: float) -> tuple[int, float]:
        """Level and blend weight toward the next level for ``span`` image px per output px."""
        if span <= MIN_SPAN:
            return 0, 0.0
        lam = math.log2(span / MIN_SPAN)
        j = int(math.floor(lam))
        if j >= self.max_level:
            return self.max_level, 0.0
        t = (lam - j - (1.0 - BLEND_ZONE)) / BLEND_ZONE
        return j, min(max(t, 0.0), 1.0)

    def render(self, rect: FloatArray | Sequence[float], out_size: tuple[int, int]) -> Image:
        """One frame: the rectangle ``[x, y, w, h]`` (image pixels) at ``out_size``."""
        out_w, out_h = out_size
        x, y, w, h = (float(v) for v in rect)
        if not (w > 0 and h > 0):
            raise CameraError(f"crop rectangle must have a positive size, got {w}x{h}")
        span = math.sqrt((w / out_w) * (h / out_h))
        if span < CUBIC_BELOW:
            # enlarging or ~1:1: one bicubic sample per output pixel (exact at integer offsets)
            return self._warp(0, x, y, w, h, out_w, out_h, 1, cv2.INTER_CUBIC)
        j, t = self.choose(span)
        if t < _MIN_BLEND:
            return self._warp(j, x, y, w, h, out_w, out_h)
        if t > 1.0 - _MIN_BLEND:
            return self._warp(j + 1, x, y, w, h, out_w, out_h)
        fine = self._warp(j, x, y, w, h, out_w, out_h)
        coarse = self._warp(j + 1, x, y, w, h, out_w, out_h)
        return _u8(cv2.addWeighted(fine, 1.0 - t, coarse, t, 0.0))

    def _warp(
        self,
        j: int,
        x: float,
        y: float,
        w: float,
        h: float,
        out_w: int,
        out_h: int,
        ss: int = SUPERSAMPLE,
        interpolation: int = cv2.INTER_LINEAR,
    ) -> Image:
        src = self.level(j)
        s = 2.0**-j
        sw, sh = out_w * ss, out_h * ss
        # sample index u -> level index: (x + (u + 0.5) * w / sw) * s - 0.5
        m = np.array(
            [
                [w / sw * s, 0.0, (x + 0.5 * w / sw) * s - 0.5],
                [0.0, h / sh * s, (y + 0.5 * h / sh) * s - 0.5],
            ],
            dtype=np.float64,
        )
        out = _u8(
            cv2.warpAffine(
                src,
                m,
                (sw, sh),
                flags=interpolation | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT_101,
            )
        )
        if ss > 1:
            # exact ss x ss box average: together with the samples' spacing this is
            # an area (box) filter one output pixel wide
            out = _u8(cv2.resize(out, (out_w, out_h), interpolation=cv2.INTER_AREA))
        return out


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
