"""Photosensitive flash detection: WCAG 2.3.1 (general and red flash) and ITU-R BT.1702.

Every cell of a fine grid over the frame carries a peak/valley tracker. A
*transition* is a monotonic change of at least ``delta`` between successive
extremes of a cell's signal (relative luminance, or the red-flash value); a
*flash* is a pair of opposing transitions, so "more than three flashes in any
one-second period" means more than six transitions inside one second. A cell
that exceeds that rate is *flashing*; the clip fails when the flashing cells
cover more than ``max_area`` of any field window (WCAG: one 10-degree visual
field, 341x256 px on a 1024x768 screen, i.e. a third of the frame's width and
height when the clip fills that screen; BT.1702: the whole screen).

Definitions and references are in ``docs/qc.md``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import cv2 as _cv2
import numpy as np
from numpy.typing import NDArray

# OpenCV's bundled stubs type arrays as Mat | UMat unions; treat the module as
# untyped here and type our own results explicitly.
cv2: Any = _cv2

F32 = NDArray[np.float32]

#: cells across the frame's width; the height follows the frame's aspect
GRID_WIDTH = 96
#: WCAG 2.x relative luminance coefficients (sRGB / BT.709 primaries)
LUMA_COEFFS = (0.2126, 0.7152, 0.0722)


def srgb_to_linear_lut() -> F32:
    """sRGB 8-bit code value -> linear light (IEC 61966-2-1, as WCAG defines it)."""
    c = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin.astype(np.float32)


_LUT = srgb_to_linear_lut()


#: the same table scaled to 16 bits: area averaging in uint16 is exact to 1/65535
#: and several times faster than in float32 (OpenCV's SIMD paths)
_LUT16 = np.round(_LUT.astype(np.float64) * 65535.0).astype(np.uint16)
#: each cell's flash signal is the mean over this many cells square (about one
#: degree at the reference geometry), so texture finer than a cell (stripes,
#: text, foliage) is measured by its mean instead of being aliased by the grid
SIGNAL_CELLS = 3
#: the swing of a flashing cell is compared with the largest swing within this
#: many cells square (see ``FlashAnalyzer._check``)
AREA_REF_CELLS = 5


def linear_area(rgb: NDArray[np.uint8], size: tuple[int, int]) -> F32:
    """Linear-light R, G, B area means at ``size`` (width, height), 0..1.

    Every pixel is linearised at full resolution *before* any averaging:
    gamma-encoded values averaged first underestimate thin bright detail (1-px
    white lines every 8 px measure 0.051 instead of 0.125 when a frame is shrunk
    in 8-bit sRGB and linearised afterwards).
    """
    lin = cv2.LUT(rgb, _LUT16)
    if (lin.shape[1], lin.shape[0]) != tuple(size):
        lin = cv2.resize(lin, size, interpolation=cv2.INTER_AREA)
    out: F32 = lin.astype(np.float32) * np.float32(1.0 / 65535.0)
    return out


def grid_size(width: int, height: int, grid_width: int = GRID_WIDTH) -> tuple[int, int]:
    gw = min(grid_width, width)
    gh = max(1, round(gw * height / width))
    return gw, gh


def linear_cells(rgb: NDArray[np.uint8] | F32, grid: tuple[int, int]) -> F32:
    """Area means of linear-light R, G, B over each grid cell (shape gh x gw x 3).

    ``rgb`` is gamma-encoded sRGB at any size (full frames), or already linear
    light (float, from :func:`linear_area`): averaging happens in linear light, so
    a cell's value is the luminance the eye integrates over that area, whatever
    the texture inside it.
    """
    if rgb.dtype == np.uint8:
        return linear_area(rgb.astype(np.uint8, copy=False), grid)
    out: F32 = cv2.resize(rgb.astype(np.float32), grid, interpolation=cv2.INTER_AREA)
    return out


@dataclass(frozen=True)
class FlashRule:
    """One flash rule: thresholds on a cell signal plus the area it must cover."""

    name: str
    kind: str  # "luminance" or "red"
    delta: float  # minimum change between opposing extremes
    dark_max: float  # luminance rule: the darker state must be below this
    field_w: float  # field window as a fraction of the frame width
    field_h: float
    max_area: float = 0.25  # fail when flashing cells cover more than this of a field
    max_flashes: int = 3  # per second


def wcag_rules(field_w: float = 1 / 3, field_h: float = 1 / 3) -> list[FlashRule]:
    """WCAG 2.3.1 general flash and red flash with the given 10-degree field."""
    return [
        FlashRule("wcag_general", "luminance", 0.10, 0.80, field_w, field_h),
        # red: the WCAG "working definition" value (R - G - B) * 320 on linear
        # components, a change of more than 20, with one state a saturated red
        # (R / (R + G + B) >= 0.8); see docs/qc.md
        FlashRule("wcag_red", "red", 20.0, 0.0, field_w, field_h),
    ]


def bt1702_rules(peak_cd_m2: float = 200.0) -> list[FlashRule]:
    """ITU-R BT.1702: 20 cd/m2 changes, darker below 160 cd/m2, 25% of the screen."""
    return [
        FlashRule("bt1702_general", "luminance", 20.0 / peak_cd_m2, 160.0 / peak_cd_m2, 1.0, 1.0),
        FlashRule("bt1702_red", "red", 20.0, 0.0, 1.0, 1.0),
    ]


class _Tracker:
    """Vectorised peak/valley tracker: one transition count per cell per frame."""

    def __init__(self, shape: tuple[int, int], delta: float, dark_max: float, red: bool) -> None:
        self.delta = delta
        self.dark_max = dark_max
        self.red = red
        self.trend = np.zeros(shape, np.int8)  # 0 unknown, +1 rising, -1 falling
        self.ext = np.zeros(shape, np.float32)  # running extreme of the current trend
        self.ext_aux = np.zeros(shape, np.float32)  # red ratio at that extreme
        self.lo = np.zeros(shape, np.float32)  # before any trend: min and max seen
        self.hi = np.zeros(shape, np.float32)
        self.lo_aux = np.zeros(shape, np.float32)
        self.hi_aux = np.zeros(shape, np.float32)
        self.amp = np.zeros(shape, np.float32)  # size of each cell's latest transition
        self.started = False

    def _ok(self, a: F32, a_aux: F32, b: F32, b_aux: F32) -> NDArray[np.bool_]:
        if self.red:
            return (a_aux >= 0.8) | (b_aux >= 0.8)
        return np.minimum(a, b) < self.dark_max

    def update(self, v: F32, aux: F32) -> NDArray[np.bool_]:
        """Feed one frame's cell values; return where a transition completed now."""
        if not self.started:
            self.started = True
            self.lo[...] = v
            self.hi[...] = v
            self.lo_aux[...] = aux
            self.hi_aux[...] = aux
            self.ext[...] = v
            self.ext_aux[...] = aux
            return np.zeros(v.shape, np.bool_)
        d = self.delta
        t = self.trend
        # cells still without a trend: a move of delta from the min (or max) starts one
        undecided = t == 0
        up0 = undecided & (v - self.lo >= d) & self._ok(self.lo, self.lo_aux, v, aux)
        down0 = undecided & ~up0 & (self.hi - v >= d) & self._ok(self.hi, self.hi_aux, v, aux)
        lo_before = self.lo.copy()
        hi_before = self.hi.copy()
        np.minimum(self.lo, v, out=self.lo, where=undecided)
        np.maximum(self.hi, v, out=self.hi, where=undecided)
        self.lo_aux[undecided & (self.lo == v)] = aux[undecided & (self.lo == v)]
        self.hi_aux[undecided & (self.hi == v)] = aux[undecided & (self.hi == v)]
        rising = t > 0
        falling = t < 0
        # extend the current trend, or reverse it once the signal moved delta back
        ext_up = rising & (v >= self.ext)
        ext_down = falling & (v <= self.ext)
        rev_down = rising & ~ext_up & (self.ext - v >= d) & self._ok(self.ext, self.ext_aux, v, aux)
        rev_up = (
            falling & ~ext_down & (v - self.ext >= d) & self._ok(self.ext, self.ext_aux, v, aux)
        )
        out: NDArray[np.bool_] = up0 | down0 | rev_down | rev_up
        base = np.where(up0, lo_before, np.where(down0, hi_before, self.ext))
        self.amp[out] = np.abs(v - base)[out]
        moved = ext_up | ext_down | out
        self.ext[moved] = v[moved]
        self.ext_aux[moved] = aux[moved]
        t[up0 | rev_up] = 1
        t[down0 | rev_down] = -1
        return out


@dataclass(frozen=True)
class Extended:
    """The extended-failure level of the broadcast checkers (a warning, not a WCAG/BT.1702 fail).

    Harding-style checkers and EA IRIS flag flashing at 2-3 flashes per second
    that is *held*: IRIS counts the frames whose last second holds 4-6
    transitions and reports an extended failure once 4 s of such frames fall in
    a 5 s window (``TransitionTracker`` in its ``appsettings.json``).
    """

    window_s: float = 5.0
    hold_s: float = 4.0
    min_flashes: int = 2


@dataclass(frozen=True)
class ExtendedResult:
    """Held 2-3 Hz flashing over the clip (see :func:`extended_level`)."""

    warning: bool
    held_s: float  # most seconds of such frames inside one window
    window_s: float  # the window used (the clip's length when shorter than the rule's)
    hold_s: float  # seconds needed inside that window (same fraction as the rule)
    start_frame: int | None  # the worst window
    end_frame: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "warning": self.warning,
            "held_s": round(self.held_s, 3),
            "window_s": round(self.window_s, 3),
            "hold_s": round(self.hold_s, 3),
            "worst_window": None
            if self.start_frame is None
            else {"start_frame": self.start_frame, "end_frame": self.end_frame},
        }


def extended_level(frames: list[bool], fps: float, ext: Extended) -> ExtendedResult:
    """Whether ``frames`` (one flag per frame: held 2-3 Hz flashing) reach the extended level.

    Only frames whose last second lies inside the clip are judged (from frame
    ``round(fps) - 1`` on): before that the one-second count is still filling
    and cannot show 2 flashes/s of a clip that flashes from its first frame.
    The rule's window (5 s) is longer than our 4 s clips: a clip whose judged
    span is shorter than the window is judged over that whole span with the
    same *fraction* held (4/5), so a 4 s clip that flashes at 2-3 Hz from its
    start to its end warns, as it would when played in a loop or back to back
    with other clips. (IRIS counts frames from frame 0 and needs 4 s x fps of
    them, so it never reports an extended failure on a 120-frame 30 fps clip.)
    """
    skip = max(0, round(fps) - 1)
    judged = frames[skip:]
    n = len(judged)
    if n == 0:
        return ExtendedResult(False, 0.0, ext.window_s, ext.hold_s, None, None)
    win = min(n, max(1, round(ext.window_s * fps)))
    need = ext.hold_s / ext.window_s * win
    csum = np.concatenate([[0], np.cumsum(np.asarray(judged, np.int32))])
    held = csum[win:] - csum[:-win]
    start = int(np.argmax(held))
    best = int(held[start])
    return ExtendedResult(
        warning=best > 0 and best >= need - 1e-9,
        held_s=best / fps,
        window_s=win / fps,
        hold_s=need / fps,
        start_frame=skip + start if best else None,
        end_frame=skip + start + win - 1 if best else None,
    )


@dataclass
class FlashResult:
    """What one rule found over the whole clip."""

    rule: FlashRule
    passed: bool = True
    max_flashes_per_s: float = 0.0  # the most flashing cell, any one-second window
    max_area: float = 0.0  # worst fraction of a field covered by >3 Hz flashing
    worst_start: int | None = None  # first frame of the worst one-second window
    worst_end: int | None = None
    worst_box: tuple[int, int, int, int] | None = None  # x, y, w, h of the field, frame px
    fail_frames: int = 0  # frames at which the rule was exceeded
    # extended level (a warning): per frame, whether cells with at least
    # ``Extended.min_flashes`` flashes in the last second cover more than the
    # rule's area limit of a field
    extended_frames: list[bool] = field(default_factory=list)
    extended: ExtendedResult | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.rule
        return {
            "passed": self.passed,
            "max_flashes_per_s": round(self.max_flashes_per_s, 3),
            "max_area": round(self.max_area, 4),
            "area_limit": r.max_area,
            "worst_window": None
            if self.worst_start is None
            else {"start_frame": self.worst_start, "end_frame": self.worst_end},
            "worst_field": None
            if self.worst_box is None
            else dict(zip(("x", "y", "w", "h"), self.worst_box, strict=True)),
            "fail_frames": self.fail_frames,
            "field": {"width": round(r.field_w, 4), "height": round(r.field_h, 4)},
            "extended": None if self.extended is None else self.extended.to_dict(),
        }


@dataclass
class _RuleState:
    rule: FlashRule
    tracker_key: tuple[str, float, float]
    window: tuple[int, int]
    result: FlashResult


@dataclass
class FlashAnalyzer:
    """Streams frames through every rule; memory is one second of cell maps."""

    width: int
    height: int
    fps: float
    rules: list[FlashRule]
    grid_width: int = GRID_WIDTH
    extended: Extended = field(default_factory=Extended)
    curve: list[float] = field(default_factory=list)  # worst flashes/s per frame (general)

    def __post_init__(self) -> None:
        self.grid = grid_size(self.width, self.height, self.grid_width)
        gw, gh = self.grid
        self.win = max(1, round(self.fps))
        self._trackers: dict[tuple[str, float, float], _Tracker] = {}
        self._history: dict[tuple[str, float, float], deque[NDArray[np.bool_]]] = {}
        self._counts: dict[tuple[str, float, float], NDArray[np.int16]] = {}
        self._states: list[_RuleState] = []
        for r in self.rules:
            key = (r.kind, r.delta, r.dark_max)
            if key not in self._trackers:
                self._trackers[key] = _Tracker((gh, gw), r.delta, r.dark_max, r.kind == "red")
                self._history[key] = deque()
                self._counts[key] = np.zeros((gh, gw), np.int16)
            fw = min(gw, max(1, round(gw * r.field_w)))
            fh = min(gh, max(1, round(gh * r.field_h)))
            self._states.append(_RuleState(r, key, (fw, fh), FlashResult(r)))
        self.frame_index = 0

    def add_cells(self, cells: F32) -> None:
        """Feed one frame's linear RGB cell means (from :func:`linear_cells`)."""
        k = SIGNAL_CELLS
        if k > 1 and min(cells.shape[:2]) >= k:
            cells = cv2.blur(cells, (k, k), borderType=cv2.BORDER_REFLECT)
        r, g, b = cells[..., 0], cells[..., 1], cells[..., 2]
        lum: F32 = (LUMA_COEFFS[0] * r + LUMA_COEFFS[1] * g + LUMA_COEFFS[2] * b).astype(np.float32)
        red_value: F32 = (np.maximum(r - g - b, 0.0) * 320.0).astype(np.float32)
        ratio: F32 = (r / np.maximum(r + g + b, 1e-6)).astype(np.float32)
        worst_rate = 0.0
        for key, tracker in self._trackers.items():
            if key[0] == "red":
                trans = tracker.update(red_value, ratio)
            else:
                trans = tracker.update(lum, lum)
            hist = self._history[key]
            counts = self._counts[key]
            hist.append(trans)
            counts += trans
            if len(hist) > self.win:
                counts -= hist.popleft()
            if key[0] == "luminance":
                worst_rate = max(worst_rate, float(counts.max()) / 2.0)
        self.curve.append(worst_rate)
        for st in self._states:
            self._check(st)
        self.frame_index += 1

    def _field_area(
        self, st: _RuleState, flashing: NDArray[np.bool_]
    ) -> tuple[float, tuple[int, int]]:
        """Worst covered fraction of a field window and its top-left cell (row, col)."""
        # a cell only partly covered by a flashing object swings less than the
        # object (and the SIGNAL_CELLS mean spreads every edge over a ring of
        # cells): weight it by its swing over the largest swing near it, so the
        # area is not overestimated by the cells along the object's edges
        amp = np.where(flashing, self._trackers[st.tracker_key].amp, 0.0).astype(np.float32)
        ref = cv2.dilate(amp, np.ones((AREA_REF_CELLS, AREA_REF_CELLS), np.uint8))
        weight = np.where(flashing, amp / np.maximum(ref, 1e-6), 0.0)
        fw, fh = st.window
        integral = cv2.integral(weight.astype(np.float64))
        sums = integral[fh:, fw:] - integral[:-fh, fw:] - integral[fh:, :-fw] + integral[:-fh, :-fw]
        idx = np.unravel_index(int(np.argmax(sums)), sums.shape)
        return float(sums[idx]) / (fw * fh), (int(idx[0]), int(idx[1]))

    def _check(self, st: _RuleState) -> None:
        counts = self._counts[st.tracker_key]
        res = st.result
        peak = float(counts.max()) / 2.0
        res.max_flashes_per_s = max(res.max_flashes_per_s, peak)
        held = False
        if peak >= self.extended.min_flashes:
            area, _ = self._field_area(st, counts >= 2 * self.extended.min_flashes)
            held = area > st.rule.max_area
        res.extended_frames.append(held)
        if peak <= st.rule.max_flashes:
            return
        area, idx = self._field_area(st, counts > 2 * st.rule.max_flashes)
        if area > res.max_area:
            gw, gh = self.grid
            fw, fh = st.window
            sx, sy = self.width / gw, self.height / gh
            res.max_area = area
            res.worst_end = self.frame_index
            res.worst_start = max(0, self.frame_index - self.win + 1)
            res.worst_box = (round(idx[1] * sx), round(idx[0] * sy), round(fw * sx), round(fh * sy))
        if area > st.rule.max_area:
            res.passed = False
            res.fail_frames += 1

    def results(self) -> dict[str, FlashResult]:
        for st in self._states:
            st.result.extended = extended_level(st.result.extended_frames, self.fps, self.extended)
        return {st.rule.name: st.result for st in self._states}
