"""Retime timing (issue 21): every output frame at its true time, on real photos.

RIFE 4.25 under-moves near t = 0 and 1, so asking it for each output's t leaves
near-duplicate frames next to the inputs; the default midpoint timing re-times its
t = 0.5 flows. Positions are measured by ECC registration against the input frames.
"""

from __future__ import annotations

import math
import os
from typing import Any

import cv2 as _cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import photo

from comfy_vidgen.camera import Pyramid
from comfy_vidgen.interpolate import (
    LoadedModel,
    RetimeError,
    load_ifnet,
    pad_multiple,
    retime,
    schedule,
    synthesize,
)
from comfy_vidgen.interpolate.ifnet import local_logit
from comfy_vidgen.models import load_lock, locate

cv2: Any = _cv2


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    path = locate(load_lock().get("rife-4.25"))
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("rife-4.25 weights missing in CI")
        pytest.skip("rife-4.25 not fetched (run `vidgen models fetch rife-4.25`)")
    return load_ifnet(path)


def pan(name: str, n: int, w: int, h: int, step: int) -> torch.Tensor:
    img = photo(name)
    return (
        torch.from_numpy(
            np.stack([img[40 : 40 + h, 20 + i * step : 20 + i * step + w] for i in range(n)])
        ).float()
        / 255.0
    )


def _gray(x: torch.Tensor) -> np.ndarray:
    g: np.ndarray = (x.numpy() @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)
    return g


def positions(frames: torch.Tensor, inputs: torch.Tensor, n: int, m: int, step: int) -> np.ndarray:
    """Camera x position (px) of each output frame, by ECC translation against its pair's
    first input frame (the content moves left by the camera's displacement)."""
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
    out = []
    for s in schedule(n, m):
        warp = np.eye(2, 3, dtype=np.float32)
        warp[0, 2] = -s.t * step
        ref = _gray(inputs[s.pair])
        _, warp = cv2.findTransformECC(
            ref, _gray(frames[s.index]), warp, cv2.MOTION_TRANSLATION, crit, None, 5
        )
        out.append(s.pair * step - float(warp[0, 2]))
    return np.array(out)


def test_midpoint_timing_puts_every_frame_at_its_true_time(model: LoadedModel) -> None:
    """A 2 px-per-frame pan of a real photo, 5 -> 22 (steps of 4/21 frame, like 25 -> 120's
    24/119: only the end frames land on inputs)."""
    n, m, step = 5, 22, 2
    frames = pan("astronaut", n, 224, 128, step)
    truth = np.array([(s.pair + s.t) * step for s in schedule(n, m)])
    err = {}
    for timing in ("arbitrary", "midpoint"):
        res = retime(frames, m, model, timing=timing)
        pos = positions(res.frames, frames, n, m, step)
        err[timing] = math.sqrt(float(np.mean((pos - truth) ** 2)))
        if timing == "midpoint":
            steps = np.diff(pos)
            true_step = step * (n - 1) / (m - 1)
            assert steps.min() > 0.25 * true_step, steps
            assert res.network_passes == n - 1 and res.interpolated == m - 2
    assert err["midpoint"] <= 0.5 * err["arbitrary"], err


def _padded(frames: torch.Tensor) -> torch.Tensor:
    """[N, H, W, 3] -> [N, 3, H', W'] zero-padded right/bottom as the retimer pads."""
    x = frames.permute(0, 3, 1, 2)
    mult = pad_multiple()
    return F.pad(x, (0, -x.shape[3] % mult, 0, -x.shape[2] % mult))


def test_midpoint_synthesis_at_half_and_batch_independence(model: LoadedModel) -> None:
    """With RIFE's whole mask the t = 0.5 synthesis is RIFE's own frame (the re-timing is
    the identity there); the retime does not depend on the batch size and copies the
    inputs bit-exactly at t = 0."""
    frames = pan("coffee", 4, 160, 96, 6)
    x = _padded(frames[:2])
    packs = model.net.pack(x)
    half = torch.tensor([0.5])
    with torch.inference_mode():
        rife = model.net.interpolate(packs[:1], packs[1:], half)
        flow, logit = model.net.flow_stacked(packs, half)
        whole = synthesize(x, flow, logit, half, (96, 160), local_mask=False)
        local = synthesize(x, flow, logit, half, (96, 160))
    assert float((whole - rife).abs().max()) < 1e-4
    assert float((local - rife)[..., :96, :160].abs().mean()) < 2 / 255  # a re-weighting only
    one = retime(frames, 13, model, batch_size=1)
    many = retime(frames, 13, model, batch_size=7)
    # float rounding of batched convolutions only (~1e-5; 1/255 is 4e-3)
    assert float((one.frames - many.frames).abs().max()) < 5e-5
    for s in schedule(4, 13):
        if s.t == 0:
            assert torch.equal(one.frames[s.index], frames[s.pair])


def zoom(name: str, n: int, w: int, h: int, px: float) -> tuple[list[np.ndarray], float]:
    """Exact renders (our virtual camera) of a constant-rate zoom into a real photo that
    moves the frame edge ``px`` output pixels per frame, and that rate (log-scale)."""
    img = photo(name)
    pyr = Pyramid(img)
    hi, wi = img.shape[:2]
    z = min((wi - 8) / w, (hi - 8) / h, 1.0)
    rate = px / (w / 2)
    out = []
    for i in range(n):
        k = math.exp(-rate * i)
        cw, ch = w * z * k, h * z * k
        out.append(pyr.render(((wi - cw) / 2, (hi - ch) / 2, cw, ch), (w, h)))
    return out, rate


def zoom_position(ref: np.ndarray, img: np.ndarray, guess: float) -> float:
    """Log-scale of ``img`` against ``ref`` by ECC (affine, started at ``guess``)."""
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
    h, w = ref.shape
    s = math.exp(guess)
    warp = np.array([[s, 0, (1 - s) * w / 2], [0, s, (1 - s) * h / 2]], np.float32)
    _, warp = cv2.findTransformECC(ref, img, warp, cv2.MOTION_AFFINE, crit, None, 5)
    return math.log(math.sqrt(abs(float(np.linalg.det(warp[:, :2])))))


def test_slow_zoom_frames_at_their_true_time(model: LoadedModel) -> None:
    """A slow zoom into a real photo (2 px per frame at the frame edge, 512x288, 3 -> 12):
    RIFE's own t = 0.5 frame is ~0.2 px ahead there, as its flows are about half the
    true zoom and its mask leans on the second frame over whole regions. The default
    timing (RIFE's flows re-timed, the mask's local evidence only) must keep every frame
    within half the arbitrary-t timing error, with no near-duplicate step, and its
    midpoint frame within half of RIFE's own error."""
    n, m, w, h, px = 3, 12, 512, 288, 2.0
    renders, rate = zoom("chelsea", n, w, h, px)
    frames = torch.from_numpy(np.stack(renders)).float() / 255.0
    grays = [_gray(torch.from_numpy(r).float() / 255.0) for r in renders]
    edge = w / 2  # log-scale -> output px at the frame edge

    def error(img: torch.Tensor, pair: int, t: float) -> float:
        got = zoom_position(grays[pair], _gray(img), rate * t)
        return (got - rate * t) * edge

    err = {}
    for timing in ("arbitrary", "midpoint"):
        out = retime(frames, m, model, timing=timing).frames
        errs = np.array([error(out[s.index], s.pair, s.t) for s in schedule(n, m)])
        err[timing] = math.sqrt(float(np.mean(errs**2)))
        if timing == "midpoint":
            pos = np.array([(s.pair + s.t) * px for s in schedule(n, m)]) + errs
            assert np.diff(pos).min() > 0.25 * px * (n - 1) / (m - 1), np.diff(pos)
    assert err["midpoint"] <= 0.5 * err["arbitrary"], err

    x = _padded(frames[:2])
    half = torch.tensor([0.5])
    with torch.inference_mode():
        flow, logit = model.net.flow_stacked(model.net.pack(x), half)
        mids = {
            local: synthesize(x, flow, logit, half, (h, w), local_mask=local)[0, :, :h, :w]
            for local in (False, True)
        }
    rife_err, ours_err = (abs(error(mids[k].permute(1, 2, 0), 0, 0.5)) for k in (False, True))
    assert ours_err <= 0.5 * rife_err, (ours_err, rife_err)


def test_local_logit_keeps_local_evidence_and_drops_regional_lean() -> None:
    """A regional lean (constant logit) is removed; a small occlusion-like bump survives
    (less its share of the block mean); padding outside the valid region is untouched."""
    logit = torch.full((1, 1, 128, 192), 2.0)
    logit[:, :, 20:24, 30:34] += 3.0
    logit[:, :, 100:, :] = 7.0  # padding rows
    out = local_logit(logit, (100, 192))
    assert torch.equal(out[:, :, 100:], logit[:, :, 100:])
    assert float(out[:, :, 60:100, 100:].abs().max()) < 1e-5
    assert 2.9 < float(out[0, 0, 21, 31]) <= 3.0


def test_synthesize_follows_a_known_flow() -> None:
    """Uniform midpoint flows of a 6 px pan: the frame at t shows the content shifted by
    6t px (an even mask blends two exact warps), and t -> 0 gives the first frame."""
    img = torch.from_numpy(photo("chelsea")[50:114, 50:178]).float().div(255).permute(2, 0, 1)
    a, b = img[:, :, 10:110], img[:, :, 16:116]  # the camera moved 6 px right
    flow = torch.zeros(1, 4, 64, 100)
    # frame t at x shows what frame 0 shows at x + 6t and frame 1 at x + 6t - 6
    flow[:, 0], flow[:, 2] = 3.0, -3.0  # F_0.5->0, F_0.5->1 (x components, pixels)
    t = torch.tensor([1 / 6, 0.5, 1e-6])
    out = synthesize(torch.stack([a, b]), flow, torch.zeros(1, 1, 64, 100), t)
    inner = (slice(None), slice(2, -2), slice(8, -8))
    for k, shift in ((0, 1), (1, 3)):
        want = img[:, :, 10 + shift : 110 + shift]
        assert float((out[k] - want)[inner].abs().max()) < 1e-4, shift
    assert float((out[2] - a)[inner].abs().max()) < 1e-4


def test_unknown_timing_is_refused() -> None:
    with pytest.raises(RetimeError, match="midpoint, arbitrary"):
        retime(torch.zeros(3, 8, 8, 3), 5, None, timing="bisect")  # type: ignore[arg-type]
