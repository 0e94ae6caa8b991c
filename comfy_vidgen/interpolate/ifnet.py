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
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * 13, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: Tensor, channels_last: bool = False) -> Tensor:
        """``x`` already resampled to 1/scale (fp32); returns 13 fp32 channels at 1/scale."""
        x = x.to(dtype=next(self.parameters()).dtype)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out: Tensor = self.lastconv(self.convblock(self.conv0(x)))
        return out.float()


def _resize(x: Tensor, factor: float) -> Tensor:
    if factor == 1.0:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class _Warper:
    """Backward warping with a cached base grid (per size and device)."""

    def __init__(self) -> None:
        self._grids: dict[tuple[int, int, str], tuple[Tensor, Tensor]] = {}

    def _grid(self, h: int, w: int, device: torch.device) -> tuple[Tensor, Tensor]:
        key = (h, w, str(device))
        g = self._grids.get(key)
        if g is None:
            xs = torch.linspace(-1.0, 1.0, w, device=device).view(1, w).expand(h, w)
            ys = torch.linspace(-1.0, 1.0, h, device=device).view(h, 1).expand(h, w)
            base = torch.stack([xs, ys], -1).unsqueeze(0)  # [1, H, W, 2]
            # pixels -> normalised [-1, 1] coordinates with align_corners=True
            k = torch.tensor([2.0 / (w - 1.0), 2.0 / (h - 1.0)], device=device)
            g = (base, k)
            self._grids = {key: g}  # keep one size: retimes run one size at a time
        return g

    def __call__(self, img: Tensor, flow: Tensor) -> Tensor:
        """Sample ``img`` [N, C, H, W] at (x + flow_x, y + flow_y); flow [N, 2, H, W] in pixels."""
        _, _, h, w = flow.shape
        base, k = self._grid(h, w, flow.device)
        coords = torch.addcmul(base, flow.permute(0, 2, 3, 1), k)
        return F.grid_sample(
            img, coords, mode="bilinear", padding_mode="border", align_corners=True
        )


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
        """Frames at times ``t`` [B] between two packed frames [B, 7, H, W]; fp32 0..1 out.

        H and W must be multiples of ``STRIDE / scale`` (see ``pad_multiple``).
        ``scale`` < 1 estimates flow at lower resolution (faster, for 4K).

        Computation order differs from a literal reading of the architecture only where
        the result is the same: bilinear resampling is per channel, so inputs are
        resampled before being concatenated (at the block's low resolution), and the
        frame and its features are warped in one call since they share the flow.
        """
        b, _, h, w = pack0.shape
        both = torch.cat([pack0, pack1], 0)  # [2B, 7, H, W]
        blocks = (self.block0, self.block1, self.block2, self.block3, self.block4)
        flow: Tensor | None = None
        out: Tensor | None = None
        warped = both
        for block, base_scale in zip(blocks, BLOCK_SCALES, strict=True):
            s = base_scale / scale
            lo = _resize(warped, 1.0 / s)  # frames and features (warped after block0)
            tmap = t.to(lo.device, torch.float32).view(b, 1, 1, 1)
            tmap = tmap.expand(b, 1, lo.shape[2], lo.shape[3])
            parts = [lo[:b, :3], lo[b:, :3], lo[:b, 3:], lo[b:, 3:], tmap]
            if flow is not None:
                assert out is not None
                parts += [_resize(out[:, 4:], 1.0 / s), _resize(flow, 1.0 / s) * (1.0 / s)]
            out = _resize(block(torch.cat(parts, 1), self.channels_last), s)
            del parts, lo
            delta = out[:, :4] * s
            flow = delta if flow is None else flow + delta
            # t->0 flow for frame 0, t->1 flow for frame 1: one sampling call for both
            flows = torch.cat([flow[:, :2], flow[:, 2:4]], 0)
            last = block is self.block4
            warped = self._warp(both[:, :3] if last else both, flows)
        assert out is not None
        m = torch.sigmoid(out[:, 4:5])
        return torch.lerp(warped[b:, :3], warped[:b, :3], m)

    def forward(self, img0: Tensor, img1: Tensor, t: Tensor, scale: float = 1.0) -> Tensor:
        """Plain two-frame call (encodes both frames); the retimer uses the split API."""
        return self.interpolate(self.pack(img0), self.pack(img1), t, scale)


def pad_multiple(scale: float = 1.0) -> int:
    """Spatial multiple the inputs are padded to, as in Practical-RIFE: max(128, 128/scale).

    The network itself needs ``STRIDE / scale`` (64 at scale 1); the reference pads to
    128, and we match it so that our frames equal the reference's.
    """
    return int(max(128, 128 / scale))
