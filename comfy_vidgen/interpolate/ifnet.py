"""IFNet of RIFE 4.25 (Practical-RIFE family), written for batched, exact retiming.

Architecture (Huang et al., "Real-Time Intermediate Flow Estimation for Video Frame
Interpolation", ECCV 2022, arXiv:2011.06294; the 4.2x revision published by the
Practical-RIFE authors):

* ``Head``: a small encoder (conv s2 3->16, conv 16->16, conv 16->16, transposed
  conv s2 16->4, LeakyReLU 0.2 between) giving 4 feature channels per pixel.
* Five ``IFBlock``s working coarse to fine at scales 16, 8, 4, 2, 1. Each one
  resamples its input to 1/scale, runs two stride-2 convs, eight residual convs
  (``relu(conv(x) * beta + x)``), a transposed conv to 52 channels and a pixel
  shuffle to 13: 4 flow (t->0 and t->1), 1 fusion-mask logit, 8 context features.
  Blocks after the first also see the frames and features warped by the current
  flow, the mask and context of the previous block, and add a flow residual.
* The timestep t is an input channel everywhere, so any t in [0, 1] is allowed.

Unlike the reference forward pass this module splits the encoder from the flow
estimator: ``features`` runs once per input frame and ``interpolate`` takes them,
so a retime of N frames to M encodes N frames, not 2(M - 2). Convolutions run in
the module's dtype (fp16/bf16 on CUDA); flows, warps and the final blend stay in
fp32 because normalised sampling coordinates lose whole pixels in half precision
at 1080p widths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: The coarse-to-fine scales of the five blocks (for ``scale=1``).
BLOCK_SCALES = (16.0, 8.0, 4.0, 2.0, 1.0)
#: Block widths: block0 sees frames, features and t (3+3+4+4+1); the others also
#: the mask, the 8 context channels and the 4 flow channels.
BLOCK_WIDTHS = (192, 128, 96, 64, 32)
BLOCK0_IN = 15
BLOCKN_IN = 28
#: IFBlock outputs: flow t->0 and t->1 (4), fusion-mask logit (1), context (8)
BLOCK_OUT = 13
#: Padding multiple the network needs at scale 1: 1/16 resampling, then two
#: stride-2 convolutions.
STRIDE = 64


def _conv_act(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


class Head(nn.Module):
    """Per-frame feature encoder; its output is warped alongside the frames."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(self.cnn0(x), 0.2)
        x = F.leaky_relu(self.cnn1(x), 0.2)
        x = F.leaky_relu(self.cnn2(x), 0.2)
        out: Tensor = self.cnn3(x)
        return out


class ResConv(nn.Module):
    """Residual 3x3 conv with a learned per-channel gain on the branch."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, 0.2)


class IFBlock(nn.Module):
    """One coarse-to-fine step: input at full size, output (13 ch) at full size."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv_act(cin, c // 2, 2), _conv_act(c // 2, c, 2))
        self.convblock = nn.Sequential(*(ResConv(c) for _ in range(8)))
        self.lastconv = nn.Sequential(
            nn.ConvTranspose2d(c, 4 * BLOCK_OUT, 4, 2, 1), nn.PixelShuffle(2)
        )

    def forward(self, x: Tensor, channels_last: bool = False, channels: int = BLOCK_OUT) -> Tensor:
        """``x`` already resampled to 1/scale (fp32); returns the first ``channels`` of the
        13 output channels (fp32, at 1/scale).

        The pixel shuffle takes output channel c from transposed-conv channels 4c..4c+3,
        so fewer output channels need proportionally fewer of them: the last block's
        8 context channels are never used, and skipping them saves ~60 % of its
        full-resolution output stage.
        """
        x = x.to(dtype=next(self.parameters()).dtype)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.convblock(self.conv0(x))
        if channels == BLOCK_OUT:
            out: Tensor = self.lastconv(y)
        else:
            up: nn.ConvTranspose2d = self.lastconv[0]  # type: ignore[assignment]
            n = 4 * channels
            bias = None if up.bias is None else up.bias[:n]
            z = F.conv_transpose2d(y, up.weight[:, :n], bias, stride=2, padding=1)
            out = F.pixel_shuffle(z, 2)
        return out.float()


def _resize(x: Tensor, factor: float) -> Tensor:
    if factor == 1.0:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def _base_grid(
    h: int, w: int, device: torch.device, rows: Tensor | None = None, cols: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Normalised [-1, 1] coordinates (align_corners=True) of the pixels ``rows`` x ``cols``
    (all by default) of an H x W frame [1, h', w', 2], and the pixels -> normalised factor."""
    xs = torch.linspace(-1.0, 1.0, w, device=device)
    ys = torch.linspace(-1.0, 1.0, h, device=device)
    if cols is not None:
        xs = xs[cols]
    if rows is not None:
        ys = ys[rows]
    gx = xs.view(1, -1).expand(len(ys), -1)
    gy = ys.view(-1, 1).expand(-1, len(xs))
    base = torch.stack([gx, gy], -1).unsqueeze(0)
    return base, torch.tensor([2.0 / (w - 1.0), 2.0 / (h - 1.0)], device=device)


def _backwarp(img: Tensor, flow: Tensor, base: Tensor, k: Tensor) -> Tensor:
    """Sample full-resolution ``img`` at (x + flow_x, y + flow_y) for the pixels of ``base``;
    ``flow`` [N, 2, h', w'] in pixels, given at those same pixels."""
    coords = torch.addcmul(base, flow.permute(0, 2, 3, 1), k)
    return F.grid_sample(img, coords, mode="bilinear", padding_mode="border", align_corners=True)


class _Warper:
    """Backward warping of whole frames with a cached base grid (per size and device)."""

    def __init__(self) -> None:
        self._grids: dict[tuple[int, int, str], tuple[Tensor, Tensor]] = {}

    def __call__(self, img: Tensor, flow: Tensor) -> Tensor:
        """Sample ``img`` [N, C, H, W] at (x + flow_x, y + flow_y); flow [N, 2, H, W] in pixels."""
        _, _, h, w = flow.shape
        key = (h, w, str(flow.device))
        g = self._grids.get(key)
        if g is None:
            g = _base_grid(h, w, flow.device)
            self._grids = {key: g}  # keep one size: retimes run one size at a time
        return _backwarp(img, flow, *g)


def _sampled(s_next: float, h: int, w: int) -> bool:
    """Whether the next block's 1/s' reduction reads a strict subset (2 of s') of pixels."""
    n = int(s_next)
    return n == s_next and n >= 4 and n % 2 == 0 and h % n == 0 and w % n == 0


class _Sampler:
    """Full-resolution quantities at the pixels a 1/s' bilinear reduction reads.

    ``F.interpolate(x, scale_factor=1/s')`` (align_corners=False, s' even) reads,
    for output pixel i, source pixels s'i + s'/2 - 1 and s'i + s'/2 with weight 1/2
    each (per axis). ``rows``/``cols`` list those pixels in order, so a 2x2 mean of
    anything evaluated on that grid equals its reduction.
    """

    def __init__(self, h: int, w: int, s_next: int, device: torch.device) -> None:
        def picks(n: int) -> Tensor:
            base = torch.arange(n // s_next, device=device) * s_next + (s_next // 2 - 1)
            return torch.stack([base, base + 1], 1).reshape(-1)

        self.rows, self.cols = picks(h), picks(w)
        self.base, self.k = _base_grid(h, w, device, self.rows, self.cols)  # [1, h', w', 2]
        self._taps: dict[tuple[float, int, int], tuple[Tensor, ...]] = {}

    def _taps_for(self, s: float, small_h: int, small_w: int) -> tuple[Tensor, ...]:
        """Source rows/cols and weights of ``F.interpolate(scale_factor=s)`` at our picks."""
        key = (s, small_h, small_w)
        taps = self._taps.get(key)
        if taps is None:

            def axis(idx: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
                src = ((idx.float() + 0.5) * (1.0 / s) - 0.5).clamp(min=0.0)
                i0 = src.floor().long().clamp(max=size - 1)
                i1 = (i0 + 1).clamp(max=size - 1)
                return i0, i1, src - i0.float()

            taps = (*axis(self.rows, small_h), *axis(self.cols, small_w))
            self._taps[key] = taps
        return taps

    def upsample(self, x: Tensor, s: float) -> Tensor:
        """``F.interpolate(x, scale_factor=s, mode="bilinear")`` at the picked pixels.

        Separable: columns first on the small input (transposed, so that both
        gathers copy whole rows, which is several times faster than gathering
        along the last dimension), then rows.
        """
        r0, r1, lr, c0, c1, lc = self._taps_for(s, x.shape[2], x.shape[3])
        xt = x.transpose(2, 3).contiguous()  # [N, C, w, h]
        xt = torch.lerp(xt.index_select(2, c0), xt.index_select(2, c1), lc.view(1, 1, -1, 1))
        x = xt.transpose(2, 3).contiguous()  # [N, C, h, w']
        return torch.lerp(x.index_select(2, r0), x.index_select(2, r1), lr.view(1, 1, -1, 1))

    def flow(self, terms: list[tuple[Tensor, float]]) -> Tensor:
        """The accumulated full-resolution flow (sum of upsampled deltas) at the picks."""
        out: Tensor | None = None
        for d, s in terms:
            up = self.upsample(d, s) * s
            out = up if out is None else out + up
        assert out is not None
        return out

    def warp(self, img: Tensor, flow: Tensor) -> Tensor:
        """Backward warp of full-resolution ``img`` by ``flow`` (given at the picks)."""
        return _backwarp(img, flow, self.base, self.k)


class _Samplers:
    """One ``_Sampler`` per (size, reduction, device); retimes run one size at a time."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int, int, str], _Sampler] = {}

    def get(self, h: int, w: int, s_next: float, device: torch.device) -> _Sampler:
        key = (h, w, int(s_next), str(device))
        got = self._cache.get(key)
        if got is None:
            if len(self._cache) > 8:
                self._cache.clear()
            got = self._cache[key] = _Sampler(h, w, int(s_next), device)
        return got


class IFNet(nn.Module):
    """RIFE 4.25 IFNet; module names match the published state dict."""

    def __init__(self) -> None:
        super().__init__()
        self.block0 = IFBlock(BLOCK0_IN, BLOCK_WIDTHS[0])
        self.block1 = IFBlock(BLOCKN_IN, BLOCK_WIDTHS[1])
        self.block2 = IFBlock(BLOCKN_IN, BLOCK_WIDTHS[2])
        self.block3 = IFBlock(BLOCKN_IN, BLOCK_WIDTHS[3])
        self.block4 = IFBlock(BLOCKN_IN, BLOCK_WIDTHS[4])
        self.encode = Head()
        self._warp = _Warper()
        self._sampler = _Samplers()
        #: run the convolutions in NHWC (set with ``use_channels_last``)
        self.channels_last = False

    def use_channels_last(self, enabled: bool = True) -> IFNet:
        """NHWC weights and activations for the convs (faster with cuDNN fp16/bf16)."""
        fmt = torch.channels_last if enabled else torch.contiguous_format
        self.to(memory_format=fmt)  # type: ignore[call-overload]
        self.channels_last = enabled
        return self

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.encode.cnn0.weight.dtype

    def features(self, frames: Tensor) -> Tensor:
        """Encoder features [B, 4, H, W] (fp32) of frames [B, 3, H, W] (fp32, 0..1)."""
        x = frames.to(self.compute_dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        f: Tensor = self.encode(x)
        return f.float().contiguous()

    def pack(self, frames: Tensor) -> Tensor:
        """[B, 7, H, W]: each frame with its features, warped together (computed once)."""
        return torch.cat([frames.float(), self.features(frames)], 1)

    def interpolate(self, pack0: Tensor, pack1: Tensor, t: Tensor, scale: float = 1.0) -> Tensor:
        """Frames at times ``t`` [B] between two packed frames [B, 7, H, W]; fp32 0..1 out."""
        return self.interpolate_stacked(torch.cat([pack0, pack1], 0), t, scale)

    def interpolate_stacked(self, both: Tensor, t: Tensor, scale: float = 1.0) -> Tensor:
        """``interpolate`` with the pairs stacked as [first frames; second frames] [2B, 7, H, W].

        The retimer builds this stack from its cached packs in one copy, instead of
        stacking each side and concatenating them (three full-resolution copies).

        H and W must be multiples of ``STRIDE / scale`` (see ``pad_multiple``).
        ``scale`` < 1 estimates flow at lower resolution (faster, for 4K).

        Computation order differs from a literal reading of the architecture only where
        the result is the same up to float rounding:

        * bilinear resampling is per channel, so inputs are resampled before being
          concatenated (at the block's low resolution), and the frame and its
          features are warped in one call since they share the flow;
        * the coarse blocks' full-resolution flow, context and warp are only ever
          read by the next block's bilinear 1/s' reduction, which (s' even, no
          antialias) reads exactly two rows and two columns of every s' x s' cell.
          While s' >= 4 those are the only pixels computed: the upsampled flow and
          context are evaluated at them (``_Sampler``), the frames are warped at
          them, and a 2x2 mean gives the reduction. Full-resolution tensors are
          built from the first block whose successor needs every pixel.
        """
        flow, logit = self.flow_stacked(both, t, scale)
        b = both.shape[0] // 2
        flows = torch.cat([flow[:, :2], flow[:, 2:4]], 0)
        warped = self._warp(both[:, :3], flows)
        return torch.lerp(warped[b:], warped[:b], torch.sigmoid(logit))

    def flow_stacked(self, both: Tensor, t: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        """The last block's full-resolution flows [B, 4, H, W] (t->0 then t->1, pixels)
        and fusion-mask logit [B, 1, H, W] (weight of the first frame), fp32.

        ``interpolate_stacked`` warps both frames by these and blends them; the
        true-time retime reads them at t = 0.5 and re-times them (``synthesize``).
        """
        b, h, w = both.shape[0] // 2, both.shape[2], both.shape[3]
        blocks = (self.block0, self.block1, self.block2, self.block3, self.block4)
        scales = [base / scale for base in BLOCK_SCALES]
        terms: list[tuple[Tensor, float]] = []  # flow deltas at block resolution
        flow: Tensor | None = None  # full resolution, once materialised
        lo = _resize(both, 1.0 / scales[0])
        extra: list[Tensor] = []  # context and flow of the previous block, at 1/s
        for k, (block, s) in enumerate(zip(blocks, scales, strict=True)):
            tmap = t.to(lo.device, torch.float32).view(b, 1, 1, 1)
            tmap = tmap.expand(b, 1, lo.shape[2], lo.shape[3])
            parts = [lo[:b, :3], lo[b:, :3], lo[:b, 3:], lo[b:, 3:], tmap, *extra]
            last = k == len(blocks) - 1
            # 13 channels at 1/s: flow (4), mask (1), context (8; unused after the last)
            small = block(torch.cat(parts, 1), self.channels_last, 5 if last else BLOCK_OUT)
            del parts
            terms.append((small[:, :4], s))
            s_next = 1.0 if last else scales[k + 1]
            if not last and flow is None and _sampled(s_next, h, w):
                sampler = self._sampler.get(h, w, s_next, small.device)
                fpts = sampler.flow(terms)  # [B, 4, 2H/s', 2W/s']
                flows = torch.cat([fpts[:, :2], fpts[:, 2:4]], 0)
                lo = F.avg_pool2d(sampler.warp(both, flows), 2)
                ctx = F.avg_pool2d(sampler.upsample(small[:, 4:], s), 2)
                extra = [ctx, F.avg_pool2d(fpts, 2) * (1.0 / s_next)]
                continue
            if flow is None:  # first full-resolution block: sum the earlier deltas
                for d, sd in terms:
                    up = _resize(d, sd) * sd
                    flow = up if flow is None else flow + up
            else:
                flow = flow + _resize(small[:, :4], s) * s
            assert flow is not None
            if last:
                return flow, _resize(small[:, 4:5], s)
            flows = torch.cat([flow[:, :2], flow[:, 2:4]], 0)
            warped = self._warp(both, flows)
            lo = _resize(warped, 1.0 / s_next)
            extra = [
                _resize(_resize(small[:, 4:], s), 1.0 / s_next),
                _resize(flow, 1.0 / s_next) * (1.0 / s_next),
            ]
            del warped
        raise AssertionError("unreachable: the last block returns")

    def forward(self, img0: Tensor, img1: Tensor, t: Tensor, scale: float = 1.0) -> Tensor:
        """Plain two-frame call (encodes both frames); the retimer uses the split API."""
        return self.interpolate(self.pack(img0), self.pack(img1), t, scale)


#: Motion (px per pair, |F_0.5->1 - F_0.5->0|) from which RIFE's fusion mask is fully
#: trusted by ``gate_logit``; below it the mask fades towards a plain (1 - t, t) blend.
MASK_TRUST_MOTION = 8.0
#: Side (px) of the window whose largest motion gates a pixel's mask (``gate_logit``).
MASK_TRUST_WINDOW = 9


def gate_logit(flow: Tensor, logit: Tensor) -> Tensor:
    """RIFE's t = 0.5 fusion-mask logit, trusted in proportion to the pair's motion.

    Why: on slow motion RIFE's t = 0.5 flows can under-estimate the move (slow zooms:
    about half the true flow), so the two warped frames sit on either side of the true
    position; a mask that leans on one of them over a whole region then moves the blend
    towards it, and every re-timed frame inherits the lead (~0.2 px on a 2 px-per-frame
    zoom, docs/interpolate.md). Weights (1 - t, t) cancel the two warps' errors
    whatever the flows' scale. Occlusion, the mask's real evidence, needs motion: a
    band uncovered between two frames is as wide as the move. So the logit is scaled
    by min(1, m / ``MASK_TRUST_MOTION``), m the largest motion within
    ``MASK_TRUST_WINDOW`` px (the band sits beside the moving edge): fast moves and
    moving edges keep RIFE's mask, slow regions blend by time. ``flow`` [B, 4, H, W]
    and ``logit`` [B, 1, H, W] from ``flow_stacked``; computed once per pair.
    """
    motion = torch.linalg.vector_norm(flow[:, 2:4] - flow[:, :2], dim=1, keepdim=True)
    r = MASK_TRUST_WINDOW // 2
    motion = F.max_pool2d(motion, MASK_TRUST_WINDOW, 1, r)
    return logit * motion.mul_(1.0 / MASK_TRUST_MOTION).clamp_(max=1.0)


def synthesize(frames: Tensor, flow: Tensor, logit: Tensor, t: Tensor) -> Tensor:
    """Frames at times ``t`` [B] from RIFE's t = 0.5 output of their pair.

    ``frames`` [2, 3, H, W] (first, second), ``flow`` [1, 4, H, W] and ``logit``
    [1, 1, H, W] from ``flow_stacked`` at t = 0.5. RIFE is accurate at t = 0.5 but
    under-moves near 0 and 1 (docs/interpolate.md), so instead of asking it for t the
    midpoint motion is re-timed, assuming constant velocity over the pair (as Super
    SloMo, Jiang et al. CVPR 2018, eq. 4, does from end-point flows):

    * a point at x at time t sits at x + (0.5 - t) v at the midpoint, with
      v = F_0.5->1 - F_0.5->0 (pixels per pair), so the midpoint fields are read there
      (one backward warp, v taken at x: first-order);
    * F_t->0 = 2t F_0.5->0 and F_t->1 = 2(1 - t) F_0.5->1;
    * the fusion mask keeps its occlusion evidence and moves its prior: the odds of
      the first frame become odds_0.5 (1 - t) / t, i.e. logit + log((1 - t) / t).

    At t = 0.5 with RIFE's own logit this is RIFE's own t = 0.5 frame (with
    ``gate_logit``'s, wherever the motion reaches ``MASK_TRUST_MOTION``); at t -> 0 it
    tends to the first frame.
    """
    _, _, h, w = flow.shape
    base, k = _base_grid(h, w, flow.device)
    b = t.shape[0]
    tt = t.to(flow.device, torch.float32).view(b, 1, 1, 1)
    field = torch.cat([flow, logit], 1).expand(b, -1, -1, -1)
    shift = (0.5 - tt) * (flow[:, 2:4] - flow[:, :2])
    field = _backwarp(field, shift, base, k)
    f0 = field[:, :2] * (2.0 * tt)
    f1 = field[:, 2:4] * (2.0 * (1.0 - tt))
    m = torch.sigmoid(field[:, 4:5] + torch.log((1.0 - tt) / tt))
    w0 = _backwarp(frames[:1].expand(b, -1, -1, -1), f0, base, k)
    w1 = _backwarp(frames[1:2].expand(b, -1, -1, -1), f1, base, k)
    return torch.lerp(w1, w0, m)


def pad_multiple(scale: float = 1.0) -> int:
    """Spatial multiple the inputs are padded to, as in Practical-RIFE: max(128, 128/scale).

    The network itself needs ``STRIDE / scale`` (64 at scale 1); the reference pads to
    128, and we match it so that our frames equal the reference's.
    """
    return int(max(128, 128 / scale))
