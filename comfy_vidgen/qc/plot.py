"""Per-frame QC curves drawn with OpenCV (no plotting dependency): one PNG, four panels."""

from __future__ import annotations

import math
import os
from typing import Any

import cv2 as _cv2
import numpy as np
from numpy.typing import NDArray

from ..fsutil import atomic_write_bytes
from .core import Curves

# OpenCV's bundled stubs type arrays as Mat | UMat unions; treat the module as
# untyped here and type our own results explicitly.
cv2: Any = _cv2

_W, _PH, _ML, _MR, _MT, _MB = 960, 170, 70, 20, 26, 22
_BG = (255, 255, 255)
_AX = (90, 90, 90)
_GRID = (225, 225, 225)
_COLORS = [(200, 90, 20), (40, 150, 40), (30, 30, 210), (150, 40, 150)]  # BGR


def _panel(
    title: str,
    series: list[tuple[str, list[float]]],
    n: int,
    limit: float | None = None,
    y_range: tuple[float, float] | None = None,
) -> NDArray[np.uint8]:
    img = np.full((_PH, _W, 3), _BG, np.uint8)
    x0, x1, y0, y1 = _ML, _W - _MR, _MT, _PH - _MB
    vals = [v for _, s in series for v in s if math.isfinite(v)]
    if limit is not None:
        vals.append(limit)
    lo, hi = y_range if y_range else ((min(vals), max(vals)) if vals else (0.0, 1.0))
    if hi - lo < 1e-9:
        hi = lo + 1.0

    def px(i: int, v: float) -> tuple[int, int]:
        x = x0 + (x1 - x0) * i / max(1, n - 1)
        y = y1 - (y1 - y0) * (v - lo) / (hi - lo)
        return round(x), round(min(max(y, y0), y1))

    for k in range(5):
        y = round(y0 + (y1 - y0) * k / 4)
        cv2.line(img, (x0, y), (x1, y), _GRID, 1)
        val = hi - (hi - lo) * k / 4
        cv2.putText(img, f"{val:.3g}", (4, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, _AX, 1)
    cv2.rectangle(img, (x0, y0), (x1, y1), _AX, 1)
    for f in range(0, n, max(1, n // 8)):
        x = px(f, lo)[0]
        cv2.putText(img, str(f), (x - 8, _PH - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35, _AX, 1)
    if limit is not None:
        y = px(0, limit)[1]
        cv2.line(img, (x0, y), (x1, y), (0, 0, 230), 1, cv2.LINE_AA)
    legend_x = x0 + 430
    for c, (name, s) in enumerate(series):
        color = _COLORS[c % len(_COLORS)]
        pts = [px(i, v) for i, v in enumerate(s) if math.isfinite(v)]
        if len(pts) > 1:
            cv2.polylines(img, [np.array(pts, np.int32)], False, color, 1, cv2.LINE_AA)
        cv2.putText(img, name, (legend_x, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, color, 1)
        legend_x += 12 + 9 * len(name)
    cv2.putText(img, title, (x0, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.48, (0, 0, 0), 1)
    return img


def render_curves(curves: Curves, max_flashes: float = 3.0) -> NDArray[np.uint8]:
    """The four panels (BGR image): SSIM, mean luma, flash counter, path error."""
    n = len(curves.luma)
    panels = [
        _panel(
            "SSIM to previous frame",
            [("raw", curves.ssim), ("motion-compensated", curves.ssim_mc)],
            n,
        ),
        _panel("mean luma (0..1)", [("luma", curves.luma)], n),
        _panel(
            "flashes per second (worst cell, last 1 s)",
            [("flashes/s", curves.flash)],
            n,
            limit=max_flashes,
        ),
        _panel(
            "camera path error (px) / motion (px/frame)",
            [("path error", curves.path_error), ("flow magnitude", curves.motion)],
            n,
        ),
    ]
    out: NDArray[np.uint8] = np.vstack(panels)
    return out


def save_plot(curves: Curves, path: str | os.PathLike[str]) -> None:
    ok, buf = cv2.imencode(".png", render_curves(curves))
    if not ok:  # pragma: no cover - OpenCV always encodes PNG
        raise OSError("PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes())
