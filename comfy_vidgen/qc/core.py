"""The QC pass: one streaming walk over decoded frames computing every metric.

Memory holds the previous frame's analysis images and one second of flash cell
maps, never the clip: a 10-minute file costs what a 4-second one does (plus a
few floats per frame for the curves).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2 as _cv2
import numpy as np
from numpy.typing import NDArray

from ..errors import VidgenError
from . import flash as fl
from . import pattern as pt
from .judder import judder
from .motion import (
    GlobalMotion,
    Similarity,
    dense_flow,
    path_steps,
    probe_points,
    residual_motion,
    step_error,
)
from .profile import GateResult, Profile, gate, load_profile
from .stability import (
    SSIMFrame,
    hist_distance,
    luma_hist,
    psnr,
    ssim,
    ssim_images,
    ssim_inner,
    worst_window,
)

# OpenCV's bundled stubs type arrays as Mat | UMat unions; treat the module as
# untyped here and type our own results explicitly.
cv2: Any = _cv2

if TYPE_CHECKING:
    from ..manifest import Manifest

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
U8 = NDArray[np.uint8]

#: SSIM, features and global motion run on frames this wide (or narrower)
ANALYSIS_WIDTH = 512
#: SSIM (raw and motion-compensated) runs on frames this wide
SSIM_WIDTH = 256
#: dense optical flow runs on frames this wide
FLOW_WIDTH = 128
#: a frame is frozen when its mean absolute difference from the previous one is
#: below this (8-bit levels at the analysis size)
FROZEN_MAD = 0.3
#: with a manifest, an unchanged frame is only "frozen" where the camera path moves
#: at least this much (analysis px): an eased start or end legitimately barely moves
FROZEN_EXPECTED_PX = 1.0
#: a frame is black when every block mean is below this (8-bit luma)
BLACK_LEVEL = 16.0
#: scene cut: luma histograms this far apart (Bhattacharyya) and SSIM below CUT_SSIM
CUT_HIST = 0.35
CUT_SSIM = 0.5
#: blocks for the local flicker energy (columns x rows)
FLICKER_BLOCKS = (16, 9)


class QCError(VidgenError):
    """The video cannot be analysed (unreadable, no video stream, no frames)."""


@dataclass
class Curves:
    """Per-frame series for plots (index = frame; NaN where undefined)."""

    ssim: list[float] = field(default_factory=list)
    ssim_mc: list[float] = field(default_factory=list)  # after global motion compensation
    luma: list[float] = field(default_factory=list)
    flash: list[float] = field(default_factory=list)
    path_error: list[float] = field(default_factory=list)
    motion: list[float] = field(default_factory=list)


@dataclass
class QCReport:
    passed: bool
    score: float
    reasons: list[str]
    metrics: dict[str, Any]
    curves: Curves = field(default_factory=Curves)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "score": self.score,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class Prepared:
    """One frame as the metrics read it."""

    small: U8  # gamma-encoded RGB, area-scaled to the analysis size
    linear: NDArray[np.float32]  # linear-light RGB at the analysis size (linearised at full size)
    luminance: NDArray[np.float32]  # relative luminance of ``linear``
    pattern: list[pt.Measured] | None  # the pattern check's spectra (None: idle frame)
    full: U8 | None = None  # the full-size frame (kept for frame 0: fidelity)


@dataclass(frozen=True)
class StreamInfo:
    """Container facts for the structure checks."""

    codec: str
    width: int
    height: int
    fps: float
    pix_fmt: str
    declared_frames: int
    duration_s: float | None


def _r(v: float, nd: int = 4) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


class Analyzer:
    """Feed RGB frames in order with :meth:`add`; :meth:`metrics` summarises."""

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        profile: Profile,
        expected_steps: list[Similarity] | None = None,
        reference: U8 | None = None,
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.aw = min(ANALYSIS_WIDTH, width)
        self.ah = max(8, round(self.aw * height / width))
        self.sw = min(SSIM_WIDTH, self.aw)
        self.sh = max(8, round(self.sw * height / width))
        self.fw = min(FLOW_WIDTH, self.aw)
        self.fh = max(8, round(self.fw * height / width))
        self.k_analysis = width / self.aw  # analysis px -> output px
        self.k_flow = width / self.fw
        f = profile.flash
        rules = fl.wcag_rules(f.field_width, f.field_height) + fl.bt1702_rules(f.display_peak_cd_m2)
        ext = fl.Extended(f.extended_window_s, f.extended_hold_s, f.extended_min_flashes)
        self.flash = fl.FlashAnalyzer(width, height, fps, rules, extended=ext)
        self.pattern = pt.PatternAnalyzer(
            self.aw,
            self.ah,
            fps,
            pt.PatternRule.for_display(f.display_peak_cd_m2),
            k_out=width / self.aw,
        )
        self.motion = GlobalMotion()
        self.expected = expected_steps
        self.reference = reference
        self.probe = probe_points(width, height)
        self.curves = Curves()
        self.n = 0
        self._prev_gray: U8 | None = None
        self._prev_sgray: U8 | None = None
        self._prev_ssim: SSIMFrame | None = None
        self._prev_small: U8 | None = None
        self._prev_hist: NDArray[np.float32] | None = None
        self._block_change: NDArray[np.float32] | None = None
        self.flicker_hf: list[float] = []
        self.frozen: list[int] = []
        self.black: list[int] = []
        self.cuts: list[int] = []
        self.steps: list[Similarity | None] = []
        self.residual: list[float] = []
        self.fidelity: dict[str, Any] | None = None

    def _motion_expected(self, step: int) -> bool:
        """Whether the manifest's path moves the picture between frames step and step+1."""
        if self.expected is None or step >= len(self.expected):
            return True
        shift = np.abs(self.expected[step].displacement(self.probe)).max()
        return bool(shift / self.k_analysis >= FROZEN_EXPECTED_PX)

    @property
    def analysis_size(self) -> tuple[int, int]:
        return self.aw, self.ah

    def prepare(self, rgb: U8, keep_full: bool = False, index: int | None = None) -> Prepared:
        """The per-frame images every metric reads (thread-safe: the decode thread runs it)."""
        if rgb.shape[:2] != (self.height, self.width):
            raise QCError(
                f"a frame is {rgb.shape[1]}x{rgb.shape[0]}, the stream is {self.width}x{self.height}"
            )
        size = (self.aw, self.ah)
        small: U8 = (
            rgb if size == (self.width, self.height) else
            cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        )  # fmt: skip
        linear = fl.linear_area(rgb, size)
        lum = pt.luminance(linear)
        return Prepared(small, linear, lum, self.pattern.measure(lum), rgb if keep_full else None)

    def add(self, rgb: U8) -> None:
        """Feed one full-size RGB frame."""
        self.add_prepared(self.prepare(rgb, keep_full=self.n == 0, index=self.n))

    def add_prepared(self, p: Prepared) -> None:
        """Feed one frame from :meth:`prepare` (``full`` is only read for frame 0)."""
        small, full = p.small, p.full
        if small.shape[:2] != (self.ah, self.aw):
            raise QCError(
                f"analysis frame {self.n} has the wrong size {small.shape[1]}x{small.shape[0]}"
            )
        self.flash.add_cells(fl.linear_cells(p.linear, self.flash.grid))
        self.pattern.add(p.luminance, p.pattern)
        gray: U8 = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        tiny: U8 = cv2.resize(gray, (self.fw, self.fh), interpolation=cv2.INTER_AREA)
        blocks = cv2.resize(gray, FLICKER_BLOCKS, interpolation=cv2.INTER_AREA).astype(np.float32)
        self.curves.luma.append(float(gray.mean()) / 255.0)
        self.curves.flash.append(self.flash.curve[-1])
        if float(blocks.max()) < BLACK_LEVEL:
            self.black.append(self.n)
        sgray: U8 = cv2.resize(gray, (self.sw, self.sh), interpolation=cv2.INTER_AREA)
        sframe = SSIMFrame(sgray)
        hist = luma_hist(gray)
        if self.n == 0:
            self.curves.ssim.append(math.nan)
            self.curves.ssim_mc.append(math.nan)
            self.curves.path_error.append(math.nan)
            self.curves.motion.append(math.nan)
            if self.reference is not None and full is not None:
                self._fidelity(full, gray)
        else:
            assert self._prev_gray is not None and self._prev_ssim is not None
            assert self._prev_small is not None and self._prev_hist is not None
            s = ssim(self._prev_ssim, sframe)
            self.curves.ssim.append(s)
            mad = float(cv2.absdiff(gray, self._prev_gray).mean())
            if mad < FROZEN_MAD and self._motion_expected(self.n - 1):
                self.frozen.append(self.n)
            if hist_distance(self._prev_hist, hist) > CUT_HIST and s < CUT_SSIM:
                self.cuts.append(self.n)
            est = self.motion.estimate(self._prev_gray, gray)
            model = est[0] if est else None
            smc, change = self._ssim_mc(model.scaled(self.sw / self.aw) if model else None, sframe)
            self.curves.ssim_mc.append(smc)
            if self._block_change is not None:
                jolt = change - self._block_change
                self.flicker_hf.append(float(np.sqrt(np.mean(jolt * jolt))))
            self._block_change = change
            self.steps.append(model.scaled(self.k_analysis) if model else None)
            flow = dense_flow(self._prev_small, tiny)
            mag = float(np.hypot(flow[..., 0], flow[..., 1]).mean()) * self.k_flow
            self.curves.motion.append(mag)
            if model is not None:
                flow_model = model.scaled(self.fw / self.aw)
                self.residual.append(residual_motion(flow, flow_model) * self.k_flow)
            err = math.nan
            if self.expected is not None and self.n - 1 < len(self.expected) and model:
                err = step_error(
                    model.scaled(self.k_analysis), self.expected[self.n - 1], self.probe
                )
            self.curves.path_error.append(err)
        self._prev_gray, self._prev_ssim, self._prev_small, self._prev_hist = (
            gray,
            sframe,
            tiny,
            hist,
        )
        self._prev_sgray = sgray
        self.n += 1

    def _ssim_mc(
        self, model: Similarity | None, cur: SSIMFrame
    ) -> tuple[float, NDArray[np.float32]]:
        """SSIM of the current frame and the previous one moved by the camera motion,
        and the per-block mean luma change that the motion does not explain (0..1).

        ``model`` is in SSIM-size pixels (None: no usable camera estimate, no warp).
        """
        model = model or Similarity(1.0, 0.0, 0.0)
        assert self._prev_sgray is not None
        cx, cy = (self.sw - 1) / 2.0, (self.sh - 1) / 2.0
        mat = np.array(
            [
                [model.s, 0.0, model.bx + (1.0 - model.s) * cx],
                [0.0, model.s, model.by + (1.0 - model.s) * cy],
            ]
        )
        warped = cv2.warpAffine(
            self._prev_sgray,
            mat,
            (self.sw, self.sh),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        reach = max(abs(model.bx), abs(model.by)) + abs(model.s - 1.0) * max(cx, cy)
        margin = math.ceil(reach) + 2
        h, w = warped.shape
        m = max(0, min(margin, h // 2 - 4, w // 2 - 4))
        diff = (cur.f - warped.astype(np.float32))[m : h - m, m : w - m]
        change = cv2.resize(diff, FLICKER_BLOCKS, interpolation=cv2.INTER_AREA) / 255.0
        return ssim_inner(SSIMFrame(warped), cur, margin), np.asarray(change, np.float32)

    def _fidelity(self, rgb: U8, gray: U8) -> None:
        ref = self.reference
        assert ref is not None
        ref_small = cv2.resize(ref, (self.aw, self.ah), interpolation=cv2.INTER_AREA)
        ref_gray = cv2.cvtColor(ref_small, cv2.COLOR_RGB2GRAY)
        self.fidelity = {
            "ssim": _r(ssim_images(gray, ref_gray)),
            "psnr_db": _r(psnr(rgb, ref), 2),
        }

    # ------------------------------------------------------------------ summary

    def _stability(self) -> dict[str, Any]:
        raw = [v for v in self.curves.ssim[1:] if math.isfinite(v)]
        mc = [v for v in self.curves.ssim_mc[1:] if math.isfinite(v)]
        win = max(2, round(self.fps / 2))
        start, wmean = worst_window(mc, win)
        luma = np.asarray(self.curves.luma, np.float64)
        jumps = np.abs(np.diff(luma)) if len(luma) > 1 else np.zeros(1)
        spikes = np.abs(np.diff(luma, 2)) if len(luma) > 2 else np.zeros(1)
        dips = []
        for i, v in enumerate(mc):
            nb = mc[max(0, i - 3) : i] + mc[i + 1 : i + 4]
            if nb:
                dips.append(float(np.median(nb)) - v)
        jerks = self._jerks()
        return {
            "ssim_mean": _r(float(np.mean(mc))) if mc else None,
            "ssim_min": _r(min(mc)) if mc else None,
            "ssim_min_frame": int(np.argmin(mc)) + 1 if mc else None,
            "ssim_worst_window": {
                "start_frame": start + 1,
                "end_frame": start + min(win, len(mc)),
                "ssim_mean": _r(wmean),
            }
            if mc
            else None,
            "ssim_dip_max": _r(max(dips)) if dips else None,
            "ssim_raw_mean": _r(float(np.mean(raw))) if raw else None,
            "ssim_raw_min": _r(min(raw)) if raw else None,
            "luma_jump_max": _r(float(jumps.max())),
            "luma_spike_max": _r(float(spikes.max())),
            "flicker_hf_max": _r(max(self.flicker_hf)) if self.flicker_hf else None,
            "flicker_hf_mean": _r(float(np.mean(self.flicker_hf))) if self.flicker_hf else None,
            "motion_jerk_px": _r(max(jerks), 3) if jerks else None,
            "frozen_frames": len(self.frozen),
            "longest_frozen_run": _longest_run(self.frozen),
            **judder(self.steps, self.expected, self.probe),
            "black_frames": len(self.black),
            "scene_cuts": len(self.cuts),
            "scene_cut_frames": self.cuts[:50],
        }

    def _jerks(self) -> list[float]:
        """Second difference of the camera displacement: drops, dups and reorders."""
        out: list[float] = []
        for a, b, c in zip(self.steps, self.steps[1:], self.steps[2:], strict=False):
            if a is None or b is None or c is None:
                continue
            da, db, dc = (m.displacement(self.probe) for m in (a, b, c))
            out.append(float(np.linalg.norm(db - (da + dc) / 2, axis=1).mean()))
        return out

    def _path(self) -> dict[str, Any] | None:
        if self.expected is None:
            return None
        errs: list[float] = []
        zooms: list[float] = []
        est_sum = np.zeros(2)
        exp_sum = np.zeros(2)
        est_logz = 0.0
        exp_logz = 0.0
        for est, exp in zip(self.steps, self.expected, strict=False):
            if est is None:
                continue
            errs.append(step_error(est, exp, self.probe))
            zooms.append(abs(est.s / exp.s - 1.0))
            est_sum += (est.bx, est.by)
            exp_sum += (exp.bx, exp.by)
            est_logz += math.log(max(est.s, 1e-6))
            exp_logz += math.log(exp.s)
        if not errs:
            return {"measured_steps": 0}
        direction_ok = True
        if float(np.linalg.norm(exp_sum)) > 2.0 and float(np.dot(est_sum, exp_sum)) <= 0.0:
            direction_ok = False
        if abs(exp_logz) > 0.01 and est_logz * exp_logz <= 0.0:
            direction_ok = False
        return {
            "measured_steps": len(errs),
            "mean_px": _r(float(np.mean(errs)), 3),
            "max_px": _r(max(errs), 3),
            "zoom_err_mean": _r(float(np.mean(zooms)), 5),
            "zoom_err_max": _r(max(zooms), 5),
            "direction_ok": direction_ok,
            "expected_shift_px": [round(float(v), 2) for v in exp_sum],
            "measured_shift_px": [round(float(v), 2) for v in est_sum],
            "expected_zoom": _r(math.exp(exp_logz)),
            "measured_zoom": _r(math.exp(est_logz)),
        }

    def _motion(self) -> dict[str, Any]:
        mags = [v for v in self.curves.motion if math.isfinite(v)]
        return {
            "mean_px": _r(float(np.mean(mags)), 3) if mags else None,
            "max_px": _r(max(mags), 3) if mags else None,
            "residual_mean_px": _r(float(np.mean(self.residual)), 3) if self.residual else None,
            "still_fraction": _r(sum(1 for v in mags if v < 0.05) / len(mags)) if mags else None,
            "camera_steps_measured": sum(1 for s in self.steps if s is not None),
        }

    def metrics(self) -> dict[str, Any]:
        results = self.flash.results()
        flash: dict[str, Any] = {k: v.to_dict() for k, v in results.items()}
        flash["passed"] = all(v.passed for v in results.values())
        # the extended level is a warning: not part of flash.passed (profiles may gate
        # on it); scalars, so that readers treating every dict here as a rule still work
        warned = [k for k, v in results.items() if v.extended is not None and v.extended.warning]
        held = max((v.extended.held_s for v in results.values() if v.extended), default=0.0)
        flash["extended_warning"] = bool(warned)
        flash["extended_rules"] = warned
        flash["extended_held_s"] = round(held, 3)
        return {
            "stability": self._stability(),
            "flash": flash,
            "pattern": self.pattern.result.to_dict(),
            "fidelity": self.fidelity,
            "path": self._path(),
            "motion": self._motion(),
        }


def _longest_run(idx: list[int]) -> int:
    best = run = 0
    prev = -2
    for i in idx:
        run = run + 1 if i == prev + 1 else 1
        best = max(best, run)
        prev = i
    return best


# ---------------------------------------------------------------------- decoding


def open_stream_info(path: str | os.PathLike[str]) -> StreamInfo:
    import av

    try:
        with av.open(os.fspath(path)) as c:
            if not c.streams.video:
                raise QCError(f"{path}: no video stream")
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate or 0
            dur = float(s.duration * s.time_base) if s.duration and s.time_base else None
            if dur is None and c.duration:
                dur = c.duration / 1_000_000
            return StreamInfo(
                codec=s.codec_context.name,
                width=s.codec_context.width,
                height=s.codec_context.height,
                fps=float(rate),
                pix_fmt=s.codec_context.pix_fmt or "",
                declared_frames=int(s.frames or 0),
                duration_s=dur,
            )
    except (av.error.FFmpegError, OSError) as e:
        raise QCError(f"{path}: cannot open video ({e})") from None


#: YUV matrix tags (ISO/IEC 23091-2 MatrixCoefficients) that name a matrix we convert with
_MATRIX_TAGS = {1: "bt709", 5: "bt601", 6: "bt601", 7: "smpte240m", 9: "bt2020"}


def yuv_matrix(tag: int, width: int, height: int) -> tuple[str, str]:
    """The YUV->RGB matrix for a stream and why: ``(name, "tag" | "guessed from size")``.

    A tagged stream is converted with its own matrix. Untagged (unspecified)
    video gets the matrix players assume: BT.709 at HD sizes (at least 1280 wide
    or more than 576 lines), BT.601 for SD, mpv's rule (``mp_csp_guess_colorspace``)
    which VLC and browsers follow too; OpenCV and IRIS always take BT.601.
    """
    name = _MATRIX_TAGS.get(int(tag))
    if name is not None:
        return name, "tag"
    return ("bt709" if width >= 1280 or height > 576 else "bt601"), "guessed from size"


def _decode(
    path: str | os.PathLike[str],
    prepare: Callable[[U8, int], Any] | None = None,
    colour_used: dict[str, str] | None = None,
) -> Iterator[Any]:
    """Full RGB frames, or ``prepare(rgb, index)`` of each when given.

    YUV is converted with the stream's own matrix and range tags; untagged
    video by :func:`yuv_matrix` (the pack's encoder always tags BT.709 limited
    range). ``colour_used`` receives the matrix, its source and the range.
    """
    import av
    from av.video.reformatter import ColorRange, Colorspace, Interpolation

    spaces = {"bt709": Colorspace.ITU709, "bt601": Colorspace.ITU601,
              "smpte240m": Colorspace.SMPTE240M, "bt2020": Colorspace.BT2020}  # fmt: skip
    try:
        with av.open(os.fspath(path)) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for i, frame in enumerate(c.decode(s)):
                name, source = yuv_matrix(int(frame.colorspace or 2), frame.width, frame.height)
                cs = spaces[name]
                full_range = frame.color_range == 2
                if colour_used is not None and i == 0:
                    colour_used.update(
                        yuv_matrix=name, yuv_matrix_source=source,
                        yuv_range="full" if full_range else "limited",
                    )  # fmt: skip
                rgb: U8 = frame.reformat(  # type: ignore[assignment]
                    format="rgb24",
                    interpolation=Interpolation.BICUBIC,
                    src_colorspace=cs,
                    dst_colorspace=cs,
                    src_color_range=ColorRange.JPEG if full_range else ColorRange.MPEG,
                    dst_color_range=ColorRange.JPEG,
                ).to_ndarray()
                yield rgb if prepare is None else prepare(rgb, i)
    except (av.error.FFmpegError, OSError) as e:
        raise QCError(f"{path}: decoding failed ({e})") from None


def iter_frames(
    path: str | os.PathLike[str],
    prefetch: int = 0,
    prepare: Callable[[U8, int], Any] | None = None,
    colour_used: dict[str, str] | None = None,
) -> Iterator[Any]:
    """Decoded RGB frames, one at a time (PyAV, threaded decode).

    With ``prefetch`` > 0 a background thread decodes up to that many frames
    ahead, so decoding overlaps the analysis (both release the GIL) while
    memory stays bounded. With ``prepare`` that thread also runs
    ``prepare(rgb, index)`` on each frame (e.g. :meth:`Analyzer.prepare`: the
    full-size linearisation and area scaling) and yields its result.
    """
    if prefetch <= 0:
        yield from _decode(path, prepare, colour_used)
        return
    q: queue.Queue[Any] = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def worker() -> None:
        try:
            for f in _decode(path, prepare, colour_used):
                while not stop.is_set():
                    try:
                        q.put(f, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(None)
        except BaseException as e:  # handed to the consumer, re-raised there
            q.put(e)

    t = threading.Thread(target=worker, name="qc-decode", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


# ---------------------------------------------------------------------- manifest


def _structure(info: StreamInfo, frames: int, m: Manifest | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "frames": frames,
        "fps": _r(info.fps, 3),
        "width": info.width,
        "height": info.height,
        "codec": info.codec,
        "pix_fmt": info.pix_fmt,
        "duration_s": _r(frames / info.fps, 3) if info.fps else None,
        "motion_type": m.camera.motion_type if m else None,
    }
    problems: list[str] = []
    if frames < 2:
        problems.append(f"{frames} decoded frames (at least 2 needed)")
    if m is not None:
        o = m.output
        want = {"frames": o.frames, "width": o.width, "height": o.height}
        for k, v in want.items():
            if out[k] != v:
                problems.append(f"{k} {out[k]} != manifest {v}")
        if abs(info.fps - o.fps) > 1e-3:
            problems.append(f"fps {info.fps:.4g} != manifest {o.fps}")
        if info.codec != o.codec:
            problems.append(f"codec {info.codec} != manifest {o.codec}")
        depth = 10 if "10" in info.pix_fmt else 8
        if depth != o.bit_depth:
            problems.append(f"bit depth {depth} ({info.pix_fmt}) != manifest {o.bit_depth}")
    out["problems"] = problems
    out["passed"] = not problems
    return out


def expected_rects(m: Manifest) -> NDArray[np.float64]:
    """Crop rectangles per output frame of the manifest's camera path."""
    from ..camera import CameraPath

    rects: NDArray[np.float64] = np.asarray(
        CameraPath.from_manifest(m).rects(m.output.frames), np.float64
    )
    return rects


def start_reference(m: Manifest, input_root: str | os.PathLike[str]) -> U8 | None:
    """The manifest's start crop of the keyframe at output size (None if no keyframe)."""
    from ..images import ImageError, load_rgb_array
    from ..manifest import ManifestError, resolve_under

    try:
        path = resolve_under(input_root, m.keyframe.path)
        img = load_rgb_array(path)
    except (ManifestError, ImageError) as e:
        log.warning("fidelity not measured: %s", e)
        return None
    return render_crop(img, _start_rect(m, img), m.output.width, m.output.height)


def _start_rect(m: Manifest, img: U8) -> tuple[float, float, float, float]:
    c = m.camera.start_frame
    h, w = img.shape[:2]
    return (c.x * w, c.y * h, c.w * w, c.h * h)


def render_crop(img: U8, rect: tuple[float, float, float, float], width: int, height: int) -> U8:
    """The keyframe region ``rect`` (x, y, w, h px, edge coordinates) at width x height.

    Output pixel centre ``u + 0.5`` samples keyframe position ``x + (u + 0.5) * w / width``;
    a large downscale is prefiltered (area average) first so that it does not alias.
    """
    x, y, w, _ = rect
    k = w / width
    if k > 1.5:
        sw = max(1, round(img.shape[1] / k))
        sh = max(1, round(img.shape[0] / k))
        fx, fy = sw / img.shape[1], sh / img.shape[0]
        img = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
        x, y, w = x * fx, y * fy, w * fx
    a = w / width
    mat = np.array([[a, 0.0, x + 0.5 * a - 0.5], [0.0, a, y + 0.5 * a - 0.5]], dtype=np.float64)
    out: U8 = cv2.warpAffine(
        img,
        mat,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )
    return out


# ---------------------------------------------------------------------- entry points


def analyze_frames(
    frames: Iterable[U8],
    fps: float,
    *,
    profile: Profile | None = None,
    rects: NDArray[np.float64] | None = None,
    reference: U8 | None = None,
    total: int = 0,
    on_progress: ProgressFn | None = None,
) -> Analyzer:
    """Run the streaming metrics over in-memory or generated frames.

    ``rects`` (n x 4, keyframe px, per output frame) enables path adherence.
    """
    prof = profile or load_profile()
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise QCError("the video has no frames") from None
    h, w = first.shape[:2]
    steps = path_steps(np.asarray(rects, np.float64), w, h) if rects is not None else None
    an = Analyzer(w, h, fps, prof, expected_steps=steps, reference=reference)
    an.add(first)
    if on_progress:
        on_progress(1, total)
    for frame in it:
        an.add(frame)
        if on_progress:
            on_progress(an.n, total)
    return an


def run_qc(
    video_path: str | os.PathLike[str],
    manifest: Manifest | str | os.PathLike[str] | None = None,
    profile: Profile | str | os.PathLike[str] | None = None,
    on_progress: ProgressFn | None = None,
    *,
    input_root: str | os.PathLike[str] | None = None,
) -> QCReport:
    """Decode ``video_path`` once, measure everything, apply the gate profile.

    With a manifest: structure against its output section, fidelity of frame 0
    against its start crop (keyframe resolved under ``input_root``, default the
    current directory) and camera-path adherence.
    """
    from ..manifest import Manifest as _M
    from ..manifest import load_manifest

    prof = load_profile(profile)
    m: _M | None
    if manifest is None or isinstance(manifest, _M):
        m = manifest
    else:
        m = load_manifest(manifest)
    if not Path(video_path).is_file():
        raise QCError(f"{video_path}: no such video file")
    info = open_stream_info(video_path)
    rects = reference = None
    if m is not None:
        rects = expected_rects(m)
        reference = start_reference(m, input_root if input_root is not None else Path("."))
        if reference is not None and reference.shape[:2] != (info.height, info.width):
            reference = cv2.resize(
                reference, (info.width, info.height), interpolation=cv2.INTER_AREA
            )
        if rects is not None and m.output.width != info.width:
            rects = None  # a wrong size already fails the structure check
    total = info.declared_frames or (m.output.frames if m else 0)
    steps = path_steps(rects, info.width, info.height) if rects is not None else None
    an = Analyzer(
        info.width, info.height, info.fps or 30.0, prof, expected_steps=steps, reference=reference
    )
    colour: dict[str, str] = {}

    def prepare(rgb: U8, i: int) -> Prepared:
        return an.prepare(rgb, keep_full=i == 0, index=i)

    for p in iter_frames(video_path, prefetch=8, prepare=prepare, colour_used=colour):
        an.add_prepared(p)
        if on_progress:
            on_progress(an.n, total)
    if an.n == 0:
        raise QCError(f"{video_path}: the video has no frames")
    metrics = {"structure": {**_structure(info, an.n, m), **colour}, **an.metrics()}
    if m is not None:
        metrics["structure"]["manifest_id"] = m.id
    result: GateResult = gate(metrics, prof)
    return QCReport(
        passed=result.passed,
        score=result.score,
        reasons=result.reasons,
        metrics=metrics,
        curves=an.curves,
        skipped=result.skipped,
        warnings=result.warnings,
    )


def verifier_gate(
    profile: Profile | str | os.PathLike[str] | None = None,
    input_root: str | os.PathLike[str] | None = None,
) -> Callable[[Path, Manifest | None], tuple[bool, dict[str, Any]]]:
    """The orchestrator's QC hook: ``hook(path, manifest) -> (passed, report dict)``.

    The profile is loaded once, so a bad profile fails when the verifier is built. The
    manifest is the job's typed one (validated once at submission), never re-parsed.
    """
    prof = load_profile(profile)

    def hook(path: Path, manifest: Manifest | None) -> tuple[bool, dict[str, Any]]:
        report = run_qc(path, manifest=manifest, profile=prof, input_root=input_root)
        return report.passed, report.to_dict()

    return hook
