"""Timing of retimed frames: is every output frame where its time says it is?

Scenes: constant-velocity pans, tilts and zooms over real photos (scikit-image's
bundled astronaut, coffee, chelsea), rendered exactly by our virtual camera
(``comfy_vidgen.camera.Pyramid``): N = 25 input frames, retimed to M = 120 by
RIFE 4.25. Output j is meant to show the camera at p = j (N-1)/(M-1) input frames.
Each output frame is registered by ECC (OpenCV ``findTransformECC``, translation
for pans and tilts, affine for zooms) against the exact render of input floor(p), so
its measured position is known to ~0.03 px (the "exact" row registers exact renders
at every p, the floor of the measurement). Reported per method, in output pixels:

* RMS and max timing error (measured position - true position);
* near-duplicate steps: consecutive outputs that moved less than 25 % of the true
  step (what a viewer sees as a stutter);
* the mean signed error per t bin (t = p - floor(p)), i.e. the per-t error curve:
  negative near t = 0 and positive near t = 1 is RIFE's endpoint under-motion.

Zooms are measured at the frame edge: the error in log-scale times half the width.

Methods: ``arbitrary`` (RIFE fed each output's t; the first release's retime and the
other RIFE retimers'), ``midpoint`` (RIFE at t = 0.5 once per pair, flows re-timed to
t, RIFE's whole fusion mask) and ``midpoint_gated`` (the same, the mask trusted in
proportion to the motion; the default). ``--speed`` adds a side-by-side CPU cost of
all three at 1024x576. Exit code 0 always.

    .venv/bin/python benchmarks/interpolate_timing.py --quick        # pans at 2/4/8 px
    .venv/bin/python benchmarks/interpolate_timing.py                # the full table
    .venv/bin/python benchmarks/interpolate_timing.py --quick --speed
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import cv2 as _cv2
import numpy as np
import torch

cv2: Any = _cv2

N, M = 25, 120
DUPLICATE = 0.25  # a step shorter than this fraction of the true step is a near-duplicate
METHODS = ("arbitrary", "midpoint", "midpoint_gated")
T_BINS = 5


@dataclass
class Scene:
    photo: str
    motion: str  # pan | tilt | zoom
    speed: float  # output px per input frame (zoom: at the frame edge)


def photo(name: str) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return np.ascontiguousarray(img[..., :3])


class Renderer:
    """Exact renders of a constant-velocity camera move at any (fractional) input time."""

    def __init__(self, scene: Scene, size: tuple[int, int]) -> None:
        from comfy_vidgen.camera import Pyramid

        img = photo(scene.photo)
        self.h_img, self.w_img = img.shape[:2]
        self.pyr = Pyramid(img)
        self.size = size
        self.scene = scene
        ow, oh = size
        travel = scene.speed * (N - 1)
        margin = 4.0
        if scene.motion == "pan":
            z = (self.w_img - 2 * margin) / (ow + travel)
            z = min(z, (self.h_img - 2 * margin) / oh)
        elif scene.motion == "tilt":
            z = (self.h_img - 2 * margin) / (oh + travel)
            z = min(z, (self.w_img - 2 * margin) / ow)
        else:  # zoom in: the crop shrinks by exp(-rate) per input frame
            z = min((self.w_img - 2 * margin) / ow, (self.h_img - 2 * margin) / oh)
        self.z = min(z, 1.0)  # image px per output px (<= 1: no down-sampling blur games)
        # zoom rate per input frame so that the frame edge moves `speed` output px
        self.rate = scene.speed / (ow / 2)

    def rect(self, p: float) -> tuple[float, float, float, float]:
        ow, oh = self.size
        z, s = self.z, self.scene
        if s.motion == "zoom":
            k = math.exp(-self.rate * p)
            w, h = ow * z * k, oh * z * k
            return (self.w_img - w) / 2, (self.h_img - h) / 2, w, h
        w, h = ow * z, oh * z
        x0, y0 = (self.w_img - w - s.speed * (N - 1) * z) / 2, (self.h_img - h) / 2
        if s.motion == "tilt":
            x0, y0 = (self.w_img - w) / 2, (self.h_img - h - s.speed * (N - 1) * z) / 2
        d = s.speed * p * z
        return (x0 + d, y0, w, h) if s.motion == "pan" else (x0, y0 + d, w, h)

    def render(self, p: float) -> np.ndarray:
        out: np.ndarray = self.pyr.render(self.rect(p), self.size)
        return out

    def position(self, p: float) -> float:
        """True position along the move, output px (zoom: edge displacement)."""
        return self.scene.speed * p


def gray(rgb: np.ndarray) -> np.ndarray:
    g: np.ndarray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return g


def register(ref: np.ndarray, img: np.ndarray, motion: str, guess: float, half_w: float) -> float:
    """Position of ``img`` relative to ``ref`` along the move (output px), by ECC."""
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
    if motion == "zoom":
        s = math.exp(guess / half_w)
        warp = np.array([[s, 0, 0], [0, s, 0]], np.float32)
        h, w = ref.shape
        # scale about the centre: x' = s (x - c) + c
        warp[:, 2] = [(1 - s) * w / 2, (1 - s) * h / 2]
        _, warp = cv2.findTransformECC(ref, img, warp, cv2.MOTION_AFFINE, crit, None, 5)
        scale = math.sqrt(abs(float(np.linalg.det(warp[:, :2]))))
        return math.log(scale) * half_w
    # a camera moving right by d shows the content at x + d where the reference had x:
    # img(x - d) = ref(x), so ECC's warp (img at x + tx matches ref at x) has tx = -d
    axis = 0 if motion == "pan" else 1
    warp = np.eye(2, 3, dtype=np.float32)
    warp[axis, 2] = -guess
    _, warp = cv2.findTransformECC(ref, img, warp, cv2.MOTION_TRANSLATION, crit, None, 5)
    return -float(warp[axis, 2])


@dataclass
class Timing:
    rms: float
    max: float
    dups: int
    curve: list[float]  # mean signed error per t bin
    #: the QC judder metric on the same frames (no truth, path only); -1 where the path's
    #: steps are too short to be judged (< judder.MIN_STEP_PX)
    qc_dups: int = -1
    qc_dev: float = -1.0


def qc_judder(r: Renderer, frames: np.ndarray, tm: Timing) -> Timing:
    """What the QC stability section says about these frames, given the path's rects."""
    from comfy_vidgen.qc import analyze_frames

    rects = np.array([r.rect(j * (N - 1) / (M - 1)) for j in range(M)])
    st = analyze_frames(iter(frames), 30.0, rects=rects).metrics()["stability"]
    if st["judder_near_duplicates"] is not None:
        tm.qc_dups, tm.qc_dev = st["judder_near_duplicates"], st["judder_step_dev"]
    return tm


def measure(r: Renderer, frames: np.ndarray) -> Timing:
    """Timing errors of M output frames (uint8 [M, H, W, 3]) of the scene."""
    ow, oh = r.size
    refs = [gray(r.render(i)) for i in range(N)]
    pos, err, ts = [], [], []
    for j in range(M):
        i, rem = divmod(j * (N - 1), M - 1)
        p = i + rem / (M - 1)
        frac = r.position(p) - r.position(i)
        got = r.position(i) + register(refs[i], gray(frames[j]), r.scene.motion, frac, ow / 2)
        pos.append(got)
        err.append(got - r.position(p))
        ts.append(rem / (M - 1))
    e = np.array(err)
    true_step = r.scene.speed * (N - 1) / (M - 1)
    steps = np.diff(np.array(pos))
    dups = int(np.sum(steps < DUPLICATE * true_step))
    bins = np.minimum((np.array(ts) * T_BINS).astype(int), T_BINS - 1)
    curve = [
        float(e[bins == b].mean()) if np.any(bins == b) else float("nan") for b in range(T_BINS)
    ]
    return Timing(float(np.sqrt(np.mean(e**2))), float(np.abs(e).max()), dups, curve)


def retimed(model: Any, r: Renderer, timing: str) -> tuple[np.ndarray, float]:
    from comfy_vidgen.interpolate import retime

    x = torch.from_numpy(np.stack([r.render(i) for i in range(N)])).float() / 255.0
    t0 = time.perf_counter()
    out = retime(x, M, model, timing=timing, scene_cut_guard=False).frames
    dt = time.perf_counter() - t0
    return out.mul(255).round().clamp(0, 255).to(torch.uint8).numpy(), dt


def exact(r: Renderer) -> np.ndarray:
    return np.stack([r.render(j * (N - 1) / (M - 1)) for j in range(M)])


def speed(model: Any, reps: int) -> None:
    """Side-by-side CPU cost at 1024x576: 5 -> 21 (the 25 -> 120 step of ~0.2 frame)."""
    from comfy_vidgen.interpolate import retime

    r = Renderer(Scene("astronaut", "pan", 4.0), (1024, 576))
    x = torch.from_numpy(np.stack([r.render(i) for i in range(5)])).float() / 255.0
    best = {"arbitrary": math.inf, "midpoint": math.inf, "midpoint_gated": math.inf}
    for _ in range(reps):  # interleaved, minimum kept
        for name in best:
            t0 = time.perf_counter()
            retime(x, 21, model, timing=name, scene_cut_guard=False)
            best[name] = min(best[name], time.perf_counter() - t0)
    a, m, g = best["arbitrary"], best["midpoint"], best["midpoint_gated"]
    print(f"\nCPU cost, 1024x576, 5 -> 21, min of {reps}: arbitrary {a:.2f} s, "
          f"midpoint {m:.2f} s, midpoint_gated {g:.2f} s; midpoint_gated / arbitrary = "
          f"{g / a:.2f} (target <= 1.5), / midpoint = {g / m:.2f}")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="astronaut pans at 2, 4, 8 px only")
    ap.add_argument("--size", default="512x288", help="output WxH (default 512x288)")
    ap.add_argument("--speed", action="store_true", help="also the CPU cost at 1024x576")
    ap.add_argument("--reps", type=int, default=2, help="repetitions of the cost run")
    ap.add_argument("--speed-only", action="store_true", help="only the CPU cost comparison")
    ap.add_argument(
        "--scenes", default="", help="PHOTO:MOTION:PX,... instead of the set, e.g. coffee:tilt:4"
    )
    args = ap.parse_args()

    from comfy_vidgen.interpolate import load_ifnet
    from comfy_vidgen.models import require

    torch.set_grad_enabled(False)
    model = load_ifnet(require("rife-4.25"))
    w, h = (int(v) for v in args.size.split("x"))
    if args.speed_only:
        speed(model, args.reps)
        return 0
    if args.scenes:
        scenes = [
            Scene(ph, mo, float(px))
            for ph, mo, px in (spec.split(":") for spec in args.scenes.split(","))
        ]
    elif args.quick:
        scenes = [Scene("astronaut", "pan", s) for s in (2.0, 4.0, 8.0)]
    else:
        scenes = [
            Scene(ph, mo, s)
            for mo in ("pan", "tilt", "zoom")
            for ph in ("astronaut", "coffee", "chelsea")
            for s in (0.5, 2.0, 4.0, 8.0, 16.0)
        ]
    print(f"{N} -> {M} at {w}x{h}; error in output px; dup = steps < {DUPLICATE:.0%} of true;"
          f" curve = mean signed error for t in {T_BINS} bins of [0, 1)")  # fmt: skip
    hdr = f"{'scene':<24} {'method':<14} {'rms':>6} {'max':>6} {'dup':>4} {'qc dup':>6} {'qc dev':>6}  curve"
    print(hdr)
    summary: dict[str, list[Timing]] = {m: [] for m in ("exact", *METHODS)}
    for sc in scenes:
        r = Renderer(sc, (w, h))
        name = f"{sc.photo} {sc.motion} {sc.speed:g}px"
        ex = exact(r)
        rows: list[tuple[str, Timing, str]] = [("exact", qc_judder(r, ex, measure(r, ex)), "")]
        for timing in METHODS:
            frames, dt = retimed(model, r, timing)
            tm = qc_judder(r, frames, measure(r, frames))
            rows.append((timing, tm, f"  ({dt:.1f} s)"))
        for meth, tm, note in rows:
            summary[meth].append(tm)
            curve = " ".join(f"{c:+.2f}" for c in tm.curve)
            print(f"{name:<24} {meth:<14} {tm.rms:6.3f} {tm.max:6.3f} {tm.dups:4d} "
                  f"{tm.qc_dups:6d} {tm.qc_dev:6.3f}  {curve}{note}", flush=True)  # fmt: skip
    print("\nall scenes:")
    for meth, tms in summary.items():
        judged = [t for t in tms if t.qc_dups >= 0] or [Timing(0, 0, 0, [], 0, 0.0)]
        rms = math.sqrt(float(np.mean([t.rms**2 for t in tms])))
        print(f"  {meth:<14} RMS {rms:.3f} px, worst max {max(t.max for t in tms):.3f} px, "
              f"near-duplicate steps {sum(t.dups for t in tms)}; QC judder: near-duplicates "
              f"max {max(t.qc_dups for t in judged)} min {min(t.qc_dups for t in judged)}, "
              f"step_dev max {max(t.qc_dev for t in judged):.3f} "
              f"min {min(t.qc_dev for t in judged):.3f}")  # fmt: skip
    a = summary["arbitrary"]
    for meth in ("midpoint", "midpoint_gated"):
        ratios = [mi.rms / ai.rms for ai, mi in zip(a, summary[meth], strict=True) if ai.rms > 0]
        core = [
            mi.rms / ai.rms
            for sc, ai, mi in zip(scenes, a, summary[meth], strict=True)
            if sc.speed in (2.0, 4.0, 8.0) and ai.rms > 0
        ]
        print(f"  {meth} / arbitrary RMS per scene: worst {max(ratios):.2f}, "
              f"median {float(np.median(ratios)):.2f}; at 2/4/8 px worst "
              f"{max(core, default=float('nan')):.2f} (target <= 0.5)")  # fmt: skip
    if args.speed:
        speed(model, args.reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
