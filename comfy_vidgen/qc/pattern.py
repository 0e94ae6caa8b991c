"""Regular spatial patterns: ITU-R BT.1702 and Ofcom GN1 (the guidance on regular patterns).

A *potentially harmful regular pattern* has clearly discernible stripes: more
than five light-dark pairs in any orientation, where the darker bars are below
160 cd/m2 and the bars differ by 20 cd/m2 or more. It is not permitted when it
is stationary and covers more than 40% of the screen, or when it changes
direction, oscillates, flashes or reverses in contrast and covers more than 25%;
a pattern that flows smoothly across, into or out of the screen in one direction
is exempt.

How it is measured (every step in linear light, from :func:`flash.linear_area`):

1. The relative luminance at the analysis size is cut into 32x32 blocks, at
   that size and at half of it (so stripe periods of 2 to ~21 analysis px are
   seen). A block holds a stripe pattern when one spatial frequency with at
   least 3 cycles in the block (and its second harmonic) carries
   ``REGULARITY`` of the block's windowed AC energy, and its darkest and
   lightest values meet the two luminance conditions. Rows of repeated
   elements (a checkerboard, a dot grid: Ofcom counts them as stripes) split
   that energy between two fundamentals: a block is a *lattice* when a second
   isolated spectral peak at least ``LATTICE_ANGLE_DEG`` from the first, with
   the first, their sum and difference and second harmonics, carries
   ``REGULARITY`` of it. A lattice is represented by one of its two
   fundamentals (the one nearer ``LATTICE_REF_DEG``); its pairs are counted
   across both, and the larger count is kept.
2. Adjacent pattern blocks with the same orientation (within 15 degrees) and
   period (within 30%) form a region. Its light-dark pairs are counted on the
   luminance profile across the stripes (a hysteresis peak count); its area is
   the stripes' extent across (from that profile) times the region's extent
   along them.
3. Each block's motion comes from the phase of its stripe frequency between
   consecutive frames: over the last second a block is *changing* when the
   pattern appeared/disappeared twice (flashing), jumped by more than
   ``REVERSAL_RAD`` (contrast reversal, or a move too fast to tell from one),
   or moved both ways (oscillation / change of direction); *flowing* when it
   moved one way only (exempt); else *stationary*.
   Regions are re-measured every ``REGION_STEP`` frames (the motion of
   every block on every frame), which halves the cost on patterned footage;
   footage without any pattern block for a second is measured every
   ``IDLE_STEP``-th frame until one appears.
4. A frame is hazardous when changing regions cover more than 25% of the
   screen, or changing plus stationary ones more than 40%. As EA IRIS does
   (``PatternDetection.TimeThreshold``), a clip fails when hazardous frames
   add up to half a second within one second.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import cv2 as _cv2
import numpy as np
from numpy.typing import NDArray

from .flash import LUMA_COEFFS

cv2: Any = _cv2

F32 = NDArray[np.float32]

#: block side (px at each analysed scale)
BLOCK = 32
#: analysed scales: the analysis size and half of it
LEVELS = 2
#: a stripe frequency needs this many cycles in a block (periods up to BLOCK/3 px)
MIN_CYCLES = 3
#: share of a block's windowed AC energy at the stripe frequency and its harmonic
REGULARITY = 0.5
#: "more than five light-dark pairs" (BT.1702 and Ofcom GN1, regular patterns)
MIN_PAIRS = 6
#: screen area limits: stationary patterns, and changing ones
STATIC_AREA = 0.40
CHANGING_AREA = 0.25
#: per-frame phase step of the stripe frequency (radians) read as motion / as a reversal
MOVE_RAD = 0.15
REVERSAL_RAD = 2.0
#: hazardous frames must add up to this within one second (IRIS: 0.5 s)
HOLD_S = 0.5
#: regions (and their bar counts) are measured every this many frames and
#: judged on every frame; block motion is tracked on every frame
REGION_STEP = 2
#: with no pattern block for a second, only every this many frames are measured
IDLE_STEP = 3
#: block behaviours, by the codes ``PatternAnalyzer._motion`` returns
MOTIONS = ("stationary", "flowing", "changing")
#: width (px, along the stripes) of the strip the bars are counted on
PROFILE_STRIP = 9
#: a lattice's second fundamental: at least this far (degrees) from the first,
#: carrying at least LATTICE_SECOND of its power
LATTICE_ANGLE_DEG = 45.0
LATTICE_SECOND = 0.2
#: a lattice is only looked for where the strongest peak (3x3 bins) holds this
#: share of a block's AC energy
LATTICE_PEAK = 0.15
#: share of the 5x5 bins around each fundamental held by the 3x3 around it
LATTICE_PEAKED = 0.7
#: lattice points this close to DC (cycles per block) are not counted as its energy
LATTICE_MIN_RADIUS = 2.0
#: a lattice is represented by its fundamental closest to this direction (degrees)
LATTICE_REF_DEG = 22.5
#: blocks of one region: orientation and period agreement
SAME_ANGLE_DEG = 15.0
SAME_PERIOD = 1.3


#: one scale's blocks: pattern present, stripe-frequency bin, spectra
#: and the stripe frequency refined to a fraction of a bin (ky, kx cycles per block)
Measured = tuple[NDArray[np.bool_], NDArray[np.intp], NDArray[np.complex64], F32]
_EMPTY: Measured = (
    np.zeros(0, np.bool_),
    np.zeros(0, np.intp),
    np.zeros((0, BLOCK * (BLOCK // 2 + 1)), np.complex64),
    np.zeros((0, 4), np.float32),
)


@dataclass(frozen=True)
class PatternRule:
    """Luminance conditions of a harmful pattern (relative luminance, 1.0 = display peak)."""

    delta: float = 0.1  # 20 cd/m2 at 200 cd/m2
    dark_max: float = 0.8  # 160 cd/m2 at 200 cd/m2

    @classmethod
    def for_display(cls, peak_cd_m2: float) -> PatternRule:
        return cls(20.0 / peak_cd_m2, 160.0 / peak_cd_m2)


@dataclass
class _Level:
    """Per-scale block state: the previous frame's spectra and a second of history."""

    scale: int
    rows: int
    cols: int
    prev_fft: NDArray[np.complex64] | None = None
    present: deque[NDArray[np.bool_]] = field(default_factory=deque)
    dphi: deque[F32] = field(default_factory=deque)


@dataclass
class _Detection:
    """One block's stripe measurement, in analysis px."""

    level: int
    row: int
    col: int
    x0: int
    y0: int
    size: int
    period: float
    angle: float  # direction of the stripes' normal, radians in [0, pi)
    motion: str  # "stationary", "flowing" or "changing"
    period2: float = 0.0  # a lattice's second fundamental (0: stripes)
    angle2: float = 0.0


@dataclass
class Region:
    """A connected stripe pattern in one frame."""

    pairs: int
    area: float  # fraction of the screen
    period_px: float  # analysis px
    angle_deg: float  # normal of the stripes, 0 = vertical stripes
    motion: str
    box: tuple[int, int, int, int]  # x, y, w, h in analysis px


@dataclass
class PatternResult:
    passed: bool = True
    max_static_area: float = 0.0
    max_changing_area: float = 0.0
    max_flowing_area: float = 0.0
    max_pairs: int = 0
    fail_frames: int = 0
    worst_start: int | None = None
    worst_end: int | None = None
    worst: Region | None = None
    k_out: float = 1.0  # analysis px -> output px

    def to_dict(self) -> dict[str, Any]:
        w = self.worst
        return {
            "passed": self.passed,
            "max_stationary_area": round(self.max_static_area, 4),
            "max_changing_area": round(self.max_changing_area, 4),
            "max_flowing_area": round(self.max_flowing_area, 4),
            "area_limits": {"stationary": STATIC_AREA, "changing": CHANGING_AREA},
            "max_pairs": self.max_pairs,
            "fail_frames": self.fail_frames,
            "worst_window": None
            if self.worst_start is None
            else {"start_frame": self.worst_start, "end_frame": self.worst_end},
            "worst_pattern": None
            if w is None
            else {
                "pairs": w.pairs,
                "area": round(w.area, 4),
                "period_px": round(w.period_px * self.k_out, 2),
                "orientation_deg": round(w.angle_deg, 1),
                "motion": w.motion,
                "box": dict(
                    zip(
                        ("x", "y", "w", "h"),
                        (round(v * self.k_out) for v in w.box),
                        strict=True,
                    )
                ),
            },
        }


def _hann(n: int) -> F32:
    w = np.hanning(n).astype(np.float32)
    out: F32 = np.outer(w, w).astype(np.float32)
    return out


def luminance(linear_rgb: F32) -> F32:
    """Relative luminance of linear-light RGB (WCAG / BT.709 coefficients)."""
    c = np.asarray(LUMA_COEFFS, np.float32)
    out: F32 = cv2.transform(linear_rgb, c.reshape(1, 3)).reshape(linear_rgb.shape[:2])
    return out


class PatternAnalyzer:
    """Streams relative-luminance frames at the analysis size (``width`` x ``height``)."""

    def __init__(
        self, width: int, height: int, fps: float, rule: PatternRule, k_out: float = 1.0
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.rule = rule
        self.win = max(1, round(fps))
        self.hold = max(1, round(HOLD_S * fps))
        self.window = _hann(BLOCK)
        self.levels = [
            _Level(2**i, (height >> i) // BLOCK, (width >> i) // BLOCK) for i in range(LEVELS)
        ]
        self.hazard: deque[bool] = deque()
        self.result = PatternResult(k_out=k_out)
        self.frame_index = 0
        self._last: list[Region] = []
        self._seen = -(10**9)  # last frame with a pattern block (idle until one)
        self._measured_prev = False
        ky = np.fft.fftfreq(BLOCK) * BLOCK
        kx = np.fft.rfftfreq(BLOCK) * BLOCK
        self._ky, self._kx = np.meshgrid(ky, kx, indexing="ij")
        radius = np.hypot(self._ky, self._kx)
        self._radius = radius.ravel()
        self._valid = (radius >= MIN_CYCLES).ravel()
        # rfft2 keeps half the spectrum: the other columns stand for two bins
        colw = np.full(kx.shape, 2.0, np.float32)
        colw[0] = 1.0
        colw[-1] = 1.0
        self._colw = np.broadcast_to(colw, self._ky.shape).ravel()
        self._near = _neighbour_table()
        self._near5 = _folded_neighbours()
        self._dy = np.repeat(np.arange(-1.0, 2.0), 3)  # offsets of _near[:, :9]
        self._dx = np.tile(np.arange(-1.0, 2.0), 3)

    # ------------------------------------------------------------------ blocks

    def _blocks(self, lum: F32, lv: _Level) -> tuple[F32, F32, F32]:
        img = lum
        if lv.scale > 1:
            img = cv2.resize(
                lum,
                (lum.shape[1] // lv.scale, lum.shape[0] // lv.scale),
                interpolation=cv2.INTER_AREA,
            )
        h, w = lv.rows * BLOCK, lv.cols * BLOCK
        tiles = img[:h, :w].reshape(lv.rows, BLOCK, lv.cols, BLOCK).transpose(0, 2, 1, 3)
        b: F32 = np.ascontiguousarray(tiles.reshape(-1, BLOCK, BLOCK))
        flat = b.reshape(b.shape[0], -1)
        return b, flat.min(axis=1), flat.max(axis=1)

    def _measure(self, lum: F32, lv: _Level) -> Measured:
        """Per block: pattern present, representative frequency bin, the spectrum, and
        the refined frequencies (ky, kx of the representative one; ky2, kx2 of a
        lattice's second one, 0 for stripes)."""
        import scipy.fft

        blocks, lo, hi = self._blocks(lum, lv)
        n = blocks.shape[0]
        nbins = self._valid.size
        spec = np.zeros((n, nbins), np.complex64)
        peak = np.zeros(n, np.intp)
        present = np.zeros(n, np.bool_)
        freq = np.zeros((n, 4), np.float32)
        # only blocks that meet the luminance conditions can hold a harmful pattern
        cand = np.flatnonzero((hi - lo >= self.rule.delta) & (lo < self.rule.dark_max))
        if cand.size == 0:
            return present, peak, spec, freq
        x = blocks[cand]
        x = (x - x.mean(axis=(1, 2), keepdims=True)) * self.window
        sp = scipy.fft.rfft2(x, workers=1).astype(np.complex64).reshape(cand.size, nbins)
        spec[cand] = sp
        power = (sp.real**2 + sp.imag**2) * self._colw
        total = power.sum(axis=1) - power[:, 0]
        floor = REGULARITY * np.maximum(total, 1e-12)
        pv = np.where(self._valid, power, 0.0)
        pk = np.argmax(pv, axis=1)
        rows = np.arange(cand.size)[:, None]
        # stripes: energy within one bin of the peak and of its second harmonic
        padded = np.concatenate([power, np.zeros((cand.size, 1), power.dtype)], axis=1)
        stripe = (padded[rows, self._near[pk]].sum(axis=1) >= floor) & (total > 0)
        # a lattice (dots, a checkerboard: rows of repeated elements in two
        # directions) splits its energy between two fundamentals: the strongest
        # peak at least LATTICE_ANGLE_DEG away from the first, and the energy
        # near p1, p2, p1 + p2, p1 - p2, 2 p1 and 2 p2
        ky, kx = self._ky.ravel(), self._kx.ravel()
        p1y, p1x = ky[pk], kx[pk]
        pk2 = pk.copy()
        lattice = np.zeros(cand.size, np.bool_)
        # each of a lattice's two fundamentals carries a good part of the energy
        # (a checkerboard: a third each); blocks whose peak holds less than
        # LATTICE_PEAK of it (photos, foliage) are not examined further
        p1_share = padded[rows, self._near[pk, :9]].sum(axis=1)
        maybe = np.flatnonzero(~stripe & (p1_share >= LATTICE_PEAK * total) & (total > 0))
        maybe = maybe[self._peaked(power[maybe], pk[maybe])]
        if maybe.size:
            my, mx = p1y[maybe], p1x[maybe]
            sin_angle = np.abs(ky[None, :] * mx[:, None] - kx[None, :] * my[:, None]) / np.maximum(
                self._radius[None, :] * np.hypot(my, mx)[:, None], 1e-9
            )
            # per frequency, not per rfft2 bin: a bin of the kx = 0 column holds
            # half of its frequency pair (the other half is the bin at -ky), the
            # other bins all of it (hence colw); compare |X|^2 itself
            raw = pv[maybe] / self._colw
            pv2 = np.where(sin_angle >= math.sin(math.radians(LATTICE_ANGLE_DEG)), raw, 0.0)
            k2 = np.argmax(pv2, axis=1)
            pk2[maybe] = k2
            second = (
                pv2[np.arange(maybe.size), k2]
                >= LATTICE_SECOND * raw[np.arange(maybe.size), pk[maybe]]
            )
            # both combinations p1 +- p2 must be pattern frequencies too: two
            # peaks either side of a smooth image's low-frequency lobe (a
            # gradient, not a lattice) have a difference near DC
            q2y, q2x = ky[k2], kx[k2]
            shortest = np.minimum(np.hypot(my + q2y, mx + q2x), np.hypot(my - q2y, mx - q2x))
            second &= shortest >= MIN_CYCLES
            second &= self._peaked(power[maybe], k2)
            maybe, k2, my, mx = maybe[second], k2[second], my[second], mx[second]
            if maybe.size:
                share = self._lattice_energy(padded[maybe], my, mx, k2)
                lattice[maybe] = share >= floor[maybe]
        # a lattice's representative direction: the one of its two closest to
        # LATTICE_REF_DEG (a fixed, asymmetric choice, so that neighbouring blocks
        # of one lattice pick the same direction whichever peak is stronger)
        a1 = np.degrees(np.arctan2(p1y, p1x))
        a2 = np.degrees(np.arctan2(ky[pk2], kx[pk2]))
        swap = lattice & (_axis_dist(a2, LATTICE_REF_DEG) < _axis_dist(a1, LATTICE_REF_DEG))
        rep = np.where(swap, pk2, pk)
        other = np.where(swap, pk, pk2)
        present[cand] = stripe | lattice
        peak[cand] = rep
        freq[cand, 0], freq[cand, 1] = self._centroid(padded, rep)
        fy2, fx2 = self._centroid(padded, other)
        freq[cand, 2] = np.where(lattice, fy2, 0.0)
        freq[cand, 3] = np.where(lattice, fx2, 0.0)
        return present, peak, spec, freq

    def _peaked(self, power: NDArray[np.float32], bins: NDArray[np.intp]) -> NDArray[np.bool_]:
        """Whether the spectrum is a peak at ``bins``: the 3x3 bins around it hold
        LATTICE_PEAKED of the 5x5. A periodic pattern's harmonics are isolated
        peaks (the Hann window's main lobe is about 3 bins wide); a photo's
        smooth low-frequency spectrum holds about 0.35 there."""
        near = power[np.arange(bins.size)[:, None], self._near5[bins]]
        out: NDArray[np.bool_] = near[:, :9].sum(axis=1) >= LATTICE_PEAKED * np.maximum(
            near.sum(axis=1), 1e-12
        )
        return out

    def _centroid(self, padded: NDArray[np.float32], bins: NDArray[np.intp]) -> tuple[F32, F32]:
        """Power-weighted centroid of the 3x3 bins around ``bins``: the frequency to a
        fraction of a bin (a bin is ~7 degrees at 4 cycles)."""
        near = padded[np.arange(bins.size)[:, None], self._near[bins, :9]]
        wsum = np.maximum(near.sum(axis=1), 1e-12)
        fy: F32 = (self._ky.ravel()[bins] + (near * self._dy).sum(axis=1) / wsum).astype(np.float32)
        fx: F32 = (self._kx.ravel()[bins] + (near * self._dx).sum(axis=1) / wsum).astype(np.float32)
        return fy, fx

    def _lattice_energy(
        self, padded: NDArray[np.float32], p1y: F32, p1x: F32, pk2: NDArray[np.intp]
    ) -> NDArray[np.float32]:
        """Energy within one bin of the lattice points p1, p2, p1 +- p2, 2 p1, 2 p2."""
        k = padded.shape[0]
        p2y, p2x = self._ky.ravel()[pk2], self._kx.ravel()[pk2]
        pts_y = np.stack([p1y, p2y, p1y + p2y, p1y - p2y, 2 * p1y, 2 * p2y], axis=1)
        pts_x = np.stack([p1x, p2x, p1x + p2x, p1x - p2x, 2 * p1x, 2 * p2x], axis=1)
        oy = np.repeat(np.arange(-1, 2), 3)
        ox = np.tile(np.arange(-1, 2), 3)
        yy = (pts_y[:, :, None] + oy).reshape(k, -1).astype(np.intp)
        xx = (pts_x[:, :, None] + ox).reshape(k, -1).astype(np.intp)
        # the real input's spectrum is symmetric: fold onto rfft2's half (kx >= 0)
        neg = xx < 0
        yy = np.where(neg, -yy, yy)
        xx = np.abs(xx)
        half = BLOCK // 2
        ok = (xx <= half) & (np.abs(yy) <= half) & (np.hypot(yy, xx) >= LATTICE_MIN_RADIUS)
        idx = np.where(ok, (yy % BLOCK) * (half + 1) + xx, padded.shape[1] - 1)
        mask = np.zeros(padded.shape, np.bool_)
        np.put_along_axis(mask, idx, True, axis=1)
        mask[:, -1] = False
        out: NDArray[np.float32] = (padded * mask).sum(axis=1)
        return out

    def _motion(self, lv: _Level, idx: NDArray[np.intp]) -> NDArray[np.int8]:
        """Behaviour of blocks ``idx`` over the last second: MOTIONS index."""
        pres = np.stack([p[idx] for p in lv.present])  # t x k
        dphi = np.stack([d[idx] for d in lv.dphi])
        toggles = np.abs(np.diff(pres.astype(np.int8), axis=0)).sum(axis=0)
        valid = np.isfinite(dphi)
        mag = np.where(valid, np.abs(dphi), 0.0)
        sign = np.where(valid & (mag > MOVE_RAD), np.sign(dphi), 0.0)
        reversed_ = (mag > REVERSAL_RAD).any(axis=0)
        both_ways = (sign > 0).any(axis=0) & (sign < 0).any(axis=0)
        moving = (sign != 0).any(axis=0)
        changing = (toggles >= 2) | reversed_ | both_ways
        out: NDArray[np.int8] = np.where(changing, 2, np.where(moving, 1, 0)).astype(np.int8)
        return out

    # ------------------------------------------------------------------ frames

    def measure(self, lum: F32, index: int | None = None) -> list[Measured] | None:
        """The spectra of frame ``index`` (the decode thread may run it ahead of :meth:`add`).

        While no pattern was seen for a second, only every ``IDLE_STEP``-th frame
        is measured (None for the others): a pattern that appears is picked up a
        few frames later, and from then on every frame is measured.
        """
        if index is not None and index % IDLE_STEP and self._idle:
            return None
        return [self._measure(lum, lv) if lv.rows and lv.cols else _EMPTY for lv in self.levels]

    def add(self, lum: F32, measured: list[Measured] | None = None) -> None:
        """Feed one frame's relative luminance at the analysis size and its :meth:`measure`.

        Without one (or when the decode thread skipped it as idle) the frame is
        measured here unless it is an idle frame now too.
        """
        if measured is None:
            measured = self.measure(lum, self.frame_index)
        if measured is None:
            self._skip()
            return
        dets: list[_Detection] = []
        meas = measured
        for i, lv in enumerate(self.levels):
            if lv.rows == 0 or lv.cols == 0:
                continue
            present, peak, spec, freq = meas[i]
            n = present.shape[0]
            if present.any():
                self._seen = self.frame_index
            dphi = np.full(n, np.nan, np.float32)
            if lv.prev_fft is not None and self._measured_prev:
                cur = spec[np.arange(n), peak]
                prev = lv.prev_fft[np.arange(n), peak]
                prev_present = lv.present[-1] if lv.present else np.zeros(n, np.bool_)
                d = np.angle(cur * np.conj(prev)).astype(np.float32)
                dphi = np.where(present & prev_present, d, np.nan).astype(np.float32)
            lv.prev_fft = spec
            lv.present.append(present)
            lv.dphi.append(dphi)
            if len(lv.present) > self.win:
                lv.present.popleft()
                lv.dphi.popleft()
            if not present.any() or self.frame_index % REGION_STEP:
                continue
            idx = np.flatnonzero(present)
            motion = self._motion(lv, idx)
            fr = freq.tolist()
            for m, j in zip(motion.tolist(), idx.tolist(), strict=True):
                r, c = divmod(int(j), lv.cols)
                ky, kx, ky2, kx2 = fr[j]
                f = math.hypot(ky, kx) / BLOCK
                f2 = math.hypot(ky2, kx2) / BLOCK
                s = lv.scale
                dets.append(
                    _Detection(
                        i,
                        r,
                        c,
                        c * BLOCK * s,
                        r * BLOCK * s,
                        BLOCK * s,
                        s / f,
                        math.atan2(ky, kx) % math.pi,
                        MOTIONS[m],
                        s / f2 if f2 > 0 else 0.0,
                        math.atan2(ky2, kx2) % math.pi,
                    )
                )
        if self.frame_index % REGION_STEP == 0:
            self._last = self._regions(lum, dets)
        self._judge(self._last)
        self._measured_prev = True
        self._end_frame()

    @property
    def _idle(self) -> bool:
        return self.frame_index - self._seen > self.win

    def _skip(self) -> None:
        """An idle frame that was not measured: nothing present, no motion known."""
        for lv in self.levels:
            if lv.prev_fft is None:
                continue
            n = lv.prev_fft.shape[0]
            lv.present.append(np.zeros(n, np.bool_))
            lv.dphi.append(np.full(n, np.nan, np.float32))
            if len(lv.present) > self.win:
                lv.present.popleft()
                lv.dphi.popleft()
        self._judge([])
        self._measured_prev = False
        self._end_frame()

    def _end_frame(self) -> None:
        self.frame_index += 1

    # ------------------------------------------------------------------ regions

    def _regions(self, lum: F32, dets: list[_Detection]) -> list[Region]:
        if not dets:
            return []
        # one owner per finest-scale cell: a fine block wins over the coarse
        # block around it; coarse blocks cover the cells no fine block claims
        owner: dict[tuple[int, int], int] = {}
        for k, d in sorted(enumerate(dets), key=lambda kd: kd[1].level):
            n = d.size // BLOCK
            for a in range(n):
                for b in range(n):
                    owner.setdefault((d.x0 // BLOCK + a, d.y0 // BLOCK + b), k)
        parent = list(range(len(dets)))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for (cx, cy), k in owner.items():
            for nb in ((cx + 1, cy), (cx, cy + 1), (cx + 1, cy + 1), (cx + 1, cy - 1)):
                j = owner.get(nb)
                if j is None or j == k or find(j) == find(k):
                    continue
                da, db = dets[k], dets[j]
                dang = abs(da.angle - db.angle) % math.pi
                dang = min(dang, math.pi - dang)
                ratio = max(da.period, db.period) / min(da.period, db.period)
                if math.degrees(dang) <= SAME_ANGLE_DEG and ratio <= SAME_PERIOD:
                    parent[find(k)] = find(j)
        groups: dict[int, list[tuple[int, int]]] = {}
        members: dict[int, list[_Detection]] = {}
        for cell, k in owner.items():
            groups.setdefault(find(k), []).append(cell)
        for k in set(owner.values()):
            members.setdefault(find(k), []).append(dets[k])
        # a lone block is not counted as a pattern: a harmful region needs
        # MIN_PAIRS and more than a quarter of the screen, and one block is 1/144
        # of it at 512x288 (this also keeps isolated regular texture cheap)
        groups = {r: g for r, g in groups.items() if len(g) >= 2}
        # a region's area is its extent along the stripes (at most its blocks')
        # times its extent across them (at most its blocks' plus one block each
        # side): at most 3x its blocks' bounding box. When all regions together
        # stay under the smaller area limit, no frame can be hazardous and the
        # (costlier) bar count is skipped
        bound = sum(
            3
            * (max(c for c, _ in g) - min(c for c, _ in g) + 1)
            * (max(r for _, r in g) - min(r for _, r in g) + 1)
            * BLOCK
            * BLOCK
            for g in groups.values()
        )
        if bound <= CHANGING_AREA * self.width * self.height:
            return []
        return [self._region(lum, groups[r], members[r]) for r in groups]

    def _region(self, lum: F32, cells: list[tuple[int, int]], group: list[_Detection]) -> Region:
        h, w = lum.shape
        period = float(np.median([d.period for d in group]))
        ang = _mean_axis([d.angle for d in group])
        cols = [c for c, _ in cells]
        rows = [r for _, r in cells]
        # the bars are counted one block around the region too: stripes that only
        # partly fill a block are not detected in it but belong to the pattern
        x0, x1 = max(0, (min(cols) - 1) * BLOCK), min(w, (max(cols) + 2) * BLOCK)
        y0, y1 = max(0, (min(rows) - 1) * BLOCK), min(h, (max(rows) + 2) * BLOCK)
        gw, gh = (x1 - x0) // BLOCK + 1, (y1 - y0) // BLOCK + 1
        core_cells = np.zeros((gh, gw), np.uint8)
        for c, r in cells:
            core_cells[r - y0 // BLOCK, c - x0 // BLOCK] = 1
        grown_cells = cv2.dilate(core_cells, np.ones((3, 3), np.uint8))
        up = np.ones((BLOCK, BLOCK), np.uint8)
        core = np.kron(core_cells, up)[: y1 - y0, : x1 - x0].astype(np.bool_)
        grown = np.kron(grown_cells, up)[: y1 - y0, : x1 - x0].astype(np.bool_)
        box = (x0, y0, x1, y1)
        lattice = [d for d in group if d.period2 > 0]
        if 2 * len(lattice) <= len(group):
            pairs, area = self._bars(lum, box, core, grown, ang, period, PROFILE_STRIP)
        else:
            # rows of repeated elements run along both fundamentals: count the
            # light-dark pairs across each ("in any orientation") and keep the
            # larger. The strip is widened to two periods of the other
            # fundamental along it, so the profile averages that one out
            period2 = float(np.median([d.period2 for d in lattice]))
            ang2 = _mean_axis([d.angle2 for d in lattice])
            best = (0, 0.0)
            for a1, p1, a2, p2 in ((ang, period, ang2, period2), (ang2, period2, ang, period)):
                along = p2 / max(abs(math.sin(a2 - a1)), 0.2)
                strip = min(6 * PROFILE_STRIP, max(PROFILE_STRIP, 2 * math.ceil(along) + 1))
                got = self._bars(lum, box, core, grown, a1, p1, strip)
                if got > best:
                    best = got
            pairs, area = best
        motions = [d.motion for d in group]
        motion = max(("changing", "flowing", "stationary"), key=motions.count)
        bbox = (
            min(cols) * BLOCK,
            min(rows) * BLOCK,
            (max(cols) + 1 - min(cols)) * BLOCK,
            (max(rows) + 1 - min(rows)) * BLOCK,
        )
        return Region(pairs, area, period, math.degrees(ang), motion, bbox)

    def _bars(
        self,
        lum: F32,
        box: tuple[int, int, int, int],
        core: NDArray[np.bool_],
        grown: NDArray[np.bool_],
        ang: float,
        period: float,
        strip: int,
    ) -> tuple[int, float]:
        """Light-dark pairs across the normal ``ang`` and the area they cover (screen
        fraction), on a profile ``strip`` px wide through the region's centre."""
        h, w = lum.shape
        x0, y0, x1, y1 = box
        cos, sin = math.cos(ang), math.sin(ang)
        cy, cx = np.nonzero(core)
        mx, my = float(cx.mean()) + x0, float(cy.mean()) + y0
        # the bars are counted on a strip along the normal through the region's
        # centre, ``strip`` px wide: a profile over the whole region would smear
        # the bars by the angle's error times the region's length
        reach = math.hypot(x1 - x0, y1 - y0) / 2 + 1
        ss = np.arange(-reach, reach + 1.0, dtype=np.float32)
        tt = np.arange(-(strip // 2), strip // 2 + 1, dtype=np.float32)
        px = (mx + ss[None, :] * cos - tt[:, None] * sin).astype(np.float32)
        py = (my + ss[None, :] * sin + tt[:, None] * cos).astype(np.float32)
        vals = cv2.remap(lum, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        ix, iy = np.round(px).astype(np.intp) - x0, np.round(py).astype(np.intp) - y0
        ok = (ix >= 0) & (ix < x1 - x0) & (iy >= 0) & (iy < y1 - y0)
        ok[ok] = grown[iy[ok], ix[ok]]
        cols_ok = ok.all(axis=0)
        prof = vals.mean(axis=0)[cols_ok].astype(np.float64)
        pairs, first, last = _count_bars(prof)
        area = 0.0
        # only regions of MIN_PAIRS or more count towards a hazard: the area
        # (the costlier part) is measured for those only
        if pairs >= MIN_PAIRS:
            spos = ss[cols_ok]
            lo_s = float(spos[int(first)]) - period / 2
            hi_s = float(spos[int(last)]) + period / 2
            yy, xx = np.mgrid[y0:y1, x0:x1]
            s_rel = (xx - mx) * cos + (yy - my) * sin
            t_rel = -(xx - mx) * sin + (yy - my) * cos
            ct = t_rel[core]
            along = (t_rel >= ct.min()) & (t_rel <= ct.max() + 1)
            across = (s_rel >= lo_s) & (s_rel <= hi_s)
            area = float(np.count_nonzero(along & across & grown)) / (h * w)
        return pairs, area

    def _judge(self, regions: list[Region]) -> None:
        res = self.result
        harmful = [r for r in regions if r.pairs >= MIN_PAIRS]
        for r in regions:
            res.max_pairs = max(res.max_pairs, r.pairs)
        areas = {"stationary": 0.0, "changing": 0.0, "flowing": 0.0}
        for r in harmful:
            areas[r.motion] += r.area
        res.max_static_area = max(res.max_static_area, areas["stationary"])
        res.max_changing_area = max(res.max_changing_area, areas["changing"])
        res.max_flowing_area = max(res.max_flowing_area, areas["flowing"])
        hazard = (
            areas["changing"] > CHANGING_AREA
            or areas["changing"] + areas["stationary"] > STATIC_AREA
        )
        self.hazard.append(hazard)
        if len(self.hazard) > self.win:
            self.hazard.popleft()
        judged = [r for r in harmful if r.motion != "flowing"]
        if judged:
            top = max(judged, key=_severity)
            if res.worst is None or _severity(top) > _severity(res.worst):
                res.worst = top
        if sum(self.hazard) >= self.hold:
            res.passed = False
            res.fail_frames += 1
            if res.worst_start is None:
                res.worst_start = max(0, self.frame_index - self.win + 1)
                res.worst_end = self.frame_index


def _folded_neighbours() -> NDArray[np.intp]:
    """For every rfft2 bin: the flat indices of the 3x3 bins around it (first 9)
    then of the rest of the 5x5, folded onto rfft2's half-plane (the spectrum of
    a real block is symmetric: bin (ky, kx) holds the power of (-ky, -kx))."""
    ncol = BLOCK // 2 + 1
    order = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    order += [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if max(abs(dy), abs(dx)) == 2]
    table = np.zeros((BLOCK * ncol, len(order)), np.intp)
    for b in range(BLOCK * ncol):
        r, c = divmod(b, ncol)
        for j, (dy, dx) in enumerate(order):
            yy, xx = (r + dy) % BLOCK, (c + dx) % BLOCK
            if xx >= ncol:
                yy, xx = (-yy) % BLOCK, BLOCK - xx
            table[b, j] = yy * ncol + xx
    return table


def _neighbour_table() -> NDArray[np.intp]:
    """For every rfft2 bin: the flat indices of the 3x3 bins around it and around
    its second harmonic (``BLOCK * (BLOCK // 2 + 1)`` = a zero pad where none)."""
    ncol = BLOCK // 2 + 1
    pad = BLOCK * ncol
    table = np.full((BLOCK * ncol, 18), pad, np.intp)
    for b in range(BLOCK * ncol):
        r, c = divmod(b, ncol)
        ky = r if r < BLOCK // 2 else r - BLOCK
        j = 0
        for mult in (1, 2):
            if mult == 2 and math.hypot(ky * 2, c * 2) > BLOCK / 2:
                j += 9
                continue
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = (ky * mult + dy) % BLOCK, c * mult + dx
                    if 0 <= xx < ncol:
                        table[b, j] = yy * ncol + xx
                    j += 1
    return table


def _mean_axis(angles: list[float]) -> float:
    """Mean of axis directions in radians (doubled: 0 and pi are one direction)."""
    c2 = sum(math.cos(2 * a) for a in angles)
    s2 = sum(math.sin(2 * a) for a in angles)
    return (math.atan2(s2, c2) / 2) % math.pi


def _axis_dist(a: NDArray[np.float64], ref: float) -> NDArray[np.float64]:
    """Distance in degrees between axis directions (``a`` and ``a + 180`` are one)."""
    d = np.abs((a - ref) % 180.0)
    out: NDArray[np.float64] = np.minimum(d, 180.0 - d)
    return out


def _severity(r: Region) -> float:
    """Area over the limit that applies to the region's motion."""
    return r.area / (CHANGING_AREA if r.motion == "changing" else STATIC_AREA)


def _count_bars(prof: NDArray[np.float64]) -> tuple[int, float, float]:
    """Light bars in a luminance profile (hysteresis at a third of its range).

    Returns the count and the positions of the first and last bar.
    """
    if prof.size < 3:
        return 0, 0.0, 0.0
    lo, hi = float(prof.min()), float(prof.max())
    h = (hi - lo) / 3.0
    if h <= 0:
        return 0, 0.0, 0.0
    bars: list[int] = []
    rising = False
    vmin, vmax, imax = float(prof[0]), float(prof[0]), 0
    for i, v in enumerate(prof.tolist()):
        if not rising:
            vmin = min(vmin, v)
            if v - vmin >= h:
                rising, vmax, imax = True, v, i
        else:
            if v > vmax:
                vmax, imax = v, i
            if vmax - v >= h:
                bars.append(imax)
                rising, vmin = False, v
    if not bars:
        return 0, 0.0, 0.0
    return len(bars), float(bars[0]), float(bars[-1])
