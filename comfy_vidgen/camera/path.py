"""Camera paths: two crops, a motion type and an easing become exact per-frame rectangles.

One formula serves every motion type. With ``e`` the eased progress (0..1) and
``k = w_end / w_start`` the total scale change, the crop at ``e`` is::

    w(e) = w_start * k**e                                   # geometric: constant perceived zoom speed
    x(e) = x_start + (x_end - x_start) * (k**e - 1) / (k - 1)  # = linear in e when k == 1

(and the same for ``y``/``h``). ``x`` is affine in the scale, so the point that
sits at the same relative position in the start and end crops (the zoom anchor)
stays fixed in the image and on screen for the whole move; with equal sizes
(pans, tilts) the centre moves linearly in eased time. Every edge moves
monotonically between its start and end position, so crops that start and end
inside the image stay inside it. ``(k**e - 1)/(k - 1)`` is evaluated with
``expm1`` so it stays exact as ``k`` approaches 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import VidgenError
from ..manifest import EASINGS, Camera, Crop, Manifest

FloatArray = NDArray[np.float64]


class CameraError(VidgenError):
    """A camera path, frame count or size is unusable (the message names the input)."""


def _linear(t: FloatArray) -> FloatArray:
    return t


def _ease_in(t: FloatArray) -> FloatArray:
    return t * t


def _ease_out(t: FloatArray) -> FloatArray:
    return 1.0 - (1.0 - t) * (1.0 - t)


def _ease_in_out(t: FloatArray) -> FloatArray:
    # smoothstep: zero speed at both ends, peak speed 1.5x the linear speed
    return t * t * (3.0 - 2.0 * t)


#: easing name -> monotone map of [0, 1] onto [0, 1] with f(0) = 0, f(1) = 1
EASING_FUNCTIONS: dict[str, Callable[[FloatArray], FloatArray]] = {
    "linear": _linear,
    "ease_in": _ease_in,
    "ease_out": _ease_out,
    "ease_in_out": _ease_in_out,
}
assert set(EASING_FUNCTIONS) == set(EASINGS)


def ease(name: str, t: FloatArray | float) -> FloatArray:
    """Eased progress for raw times ``t`` in [0, 1] (clipped)."""
    try:
        fn = EASING_FUNCTIONS[name]
    except KeyError:
        raise CameraError(f"easing must be one of {', '.join(EASINGS)}, got {name!r}") from None
    return fn(np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0))


def frame_times(n: int) -> FloatArray:
    """Raw times of frames 0..n-1: frame 0 at 0, frame n-1 at 1."""
    if n < 1:
        raise CameraError(f"frame count must be >= 1, got {n}")
    if n == 1:
        return np.zeros(1)
    return np.arange(n, dtype=np.float64) / (n - 1)


def _scale_fraction(log_k: float, e: FloatArray) -> FloatArray:
    """(k**e - 1) / (k - 1), stable as k -> 1 (then it is e itself)."""
    if abs(log_k) < 1e-12:
        return e.copy()
    return np.expm1(e * log_k) / math.expm1(log_k)


@dataclass(frozen=True)
class Rect:
    """A rectangle in image pixels (continuous coordinates, pixel i spans [i, i+1))."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def as_array(self) -> FloatArray:
        return np.array([self.x, self.y, self.w, self.h], dtype=np.float64)


class CameraPath:
    """A manifest ``camera`` block bound to an image size (in pixels)."""

    def __init__(self, camera: Camera, image_size: tuple[int, int]) -> None:
        w, h = (int(v) for v in image_size)
        if w < 1 or h < 1:
            raise CameraError(f"image_size must be positive (width, height), got {image_size}")
        self.camera = camera
        self.image_size = (w, h)
        self.start = self._to_pixels(camera.start_frame)
        self.end = self._to_pixels(camera.end_frame)

    @classmethod
    def from_manifest(cls, m: Manifest) -> CameraPath:
        return cls(m.camera, (m.keyframe.width, m.keyframe.height))

    @classmethod
    def from_values(
        cls,
        motion_type: str,
        start: tuple[float, float, float, float],
        end: tuple[float, float, float, float],
        easing: str,
        image_size: tuple[int, int],
    ) -> CameraPath:
        """Build from plain values (node widgets, suggestions); validated like a manifest."""
        return cls(camera_from_values(motion_type, start, end, easing), image_size)

    def _to_pixels(self, c: Crop) -> Rect:
        w, h = self.image_size
        return Rect(c.x * w, c.y * h, c.w * w, c.h * h)

    @property
    def motion_type(self) -> str:
        return self.camera.motion_type

    @property
    def easing(self) -> str:
        return self.camera.easing

    def with_image_size(self, image_size: tuple[int, int]) -> CameraPath:
        """The same normalised path on an image of another size (e.g. model-size frames)."""
        return CameraPath(self.camera, image_size)

    def rects_at(self, e: FloatArray) -> FloatArray:
        """Rectangles ``[x, y, w, h]`` (pixels) at eased progress values ``e``."""
        e = np.clip(np.asarray(e, dtype=np.float64), 0.0, 1.0)
        s, t = self.start, self.end
        out = np.empty((e.size, 4), dtype=np.float64)
        for axis, (p0, p1, l0, l1) in enumerate(((s.x, t.x, s.w, t.w), (s.y, t.y, s.h, t.h))):
            log_k = math.log(l1 / l0)
            out[:, 2 + axis] = l0 * np.exp(e.ravel() * log_k)
            out[:, axis] = p0 + (p1 - p0) * _scale_fraction(log_k, e.ravel())
        # floating-point safety only: the formula keeps edges between their endpoints
        size = np.array(self.image_size, dtype=np.float64)
        out[:, 2:] = np.minimum(out[:, 2:], size)
        out[:, :2] = np.clip(out[:, :2], 0.0, size - out[:, 2:])
        return out

    def rects(self, n: int) -> FloatArray:
        """Per-frame crops ``(n, 4)`` = ``[x, y, w, h]`` in image pixels, frames 0..n-1."""
        return self.rects_at(ease(self.easing, frame_times(n)))

    def anchor(self) -> tuple[float, float] | None:
        """The image point that stays fixed during a scale change (None without one)."""
        s, t = self.start, self.end
        if abs(t.w / s.w - 1.0) < 1e-9 or abs(t.h / s.h - 1.0) < 1e-9:
            return None
        ax = (t.x * s.w - s.x * t.w) / (s.w - t.w)
        ay = (t.y * s.h - s.y * t.h) / (s.h - t.h)
        return ax, ay

    def to_dict(self) -> dict[str, Any]:
        """The manifest ``camera`` fragment plus the bound image size."""
        return {
            "camera": self.camera.model_dump(mode="json"),
            "image_size": list(self.image_size),
        }

    def __repr__(self) -> str:
        return (
            f"CameraPath({self.motion_type}, {self.easing}, image_size={self.image_size}, "
            f"start={self.start}, end={self.end})"
        )


def camera_from_values(
    motion_type: str,
    start: tuple[float, float, float, float],
    end: tuple[float, float, float, float],
    easing: str,
) -> Camera:
    """A validated manifest ``Camera`` from plain numbers; errors name the field."""
    from pydantic import ValidationError

    def crop(v: tuple[float, float, float, float]) -> dict[str, float]:
        return dict(zip(("x", "y", "w", "h"), (float(c) for c in v), strict=True))

    try:
        return Camera.model_validate(
            {
                "motion_type": motion_type,
                "easing": easing,
                "start_frame": crop(start),
                "end_frame": crop(end),
            }
        )
    except ValidationError as e:
        msgs = []
        for err in e.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
            msgs.append(f"camera{'.' + loc if loc else ''}: {err['msg']}")
        raise CameraError("invalid camera path: " + "; ".join(msgs)) from None
