"""Delivery encode vs. the ffmpeg CLI (imageio-ffmpeg's binary), side by side.

120 frames at 1024x576 (a real photograph panned 2 px per frame), libx265 with
the same preset, CRF, bit depth, x265 parameters and colour conversion on both
sides; the CLI is fed the same raw RGB frames through a pipe. Prints time, size
and PSNR of each, the ratios against the targets (time <= 1.1x; PSNR >= and
size <= the CLI's), and what ``encoder="auto"`` picks on this machine and why.

Run: .venv/bin/python benchmarks/encode.py [--frames 120] [--repeat 1]
Exit code 0 always (a report, not a gate).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

W, H = 1024, 576


def make_frames(n: int) -> list[NDArray[np.uint8]]:
    from PIL import Image
    from skimage import data

    img = Image.fromarray(data.coffee()).resize((W + 2 * n + 16, H + 64), Image.Resampling.LANCZOS)
    big = np.asarray(img)
    return [np.ascontiguousarray(big[32 : 32 + H, 2 * i : 2 * i + W]) for i in range(n)]


def ffmpeg_cli(
    frames: list[NDArray[np.uint8]], out: Path, crf: int, preset: str, params: str
) -> float:
    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-framerate", "30", "-i", "-",
        "-vf", "scale=in_range=pc:out_range=tv:out_color_matrix=bt709:flags=bicubic+accurate_rnd,"
        "format=yuv420p10le",
        "-c:v", "libx265", "-preset", preset, "-crf", str(crf), "-x265-params", params,
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
        "-color_range", "tv", "-tag:v", "hvc1", "-movflags", "+faststart", str(out),
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for f in frames:
        proc.stdin.write(f.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("ffmpeg CLI failed")
    return time.perf_counter() - t0


def video_bytes(path: Path) -> int:
    """Bytes of the HEVC bitstream alone (the file also holds our provenance tags)."""
    import av

    with av.open(str(path)) as c:
        return sum(p.size for p in c.demux(video=0))


def quality(path: Path, frames: list[NDArray[np.uint8]]) -> tuple[float, float]:
    from comfy_vidgen.encode import iter_rgb, psnr

    rgb, y = [], []
    for src, out in zip(frames, iter_rgb(path), strict=True):
        rgb.append(psnr(src, out))
        ls = src @ np.array([0.2126, 0.7152, 0.0722])
        lo = out @ np.array([0.2126, 0.7152, 0.0722])
        y.append(psnr(ls, lo))
    return float(np.mean(rgb)), float(np.mean(y))


def _cpu(who: int) -> float:
    u = resource.getrusage(who)
    return u.ru_utime + u.ru_stime


def encode_only(frames: list[NDArray[np.uint8]], repeat: int) -> int:
    """The device-machine report: explicit NVENC, then the auto choice timed and checked."""
    from fractions import Fraction

    from comfy_vidgen.encode import EncoderUnavailable, choose_encoder, encode, probe

    try:
        got = choose_encoder("hevc_nvenc", W, H, 10, Fraction(30))
        print(f"explicit hevc_nvenc: opens ({got.reason})")
    except EncoderUnavailable as e:
        print(f"explicit hevc_nvenc: refused, as it must be without NVENC: {e}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "auto.mp4")
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            result = encode(frames, out, encoder="auto", sidecar=False)
            times.append(time.perf_counter() - t)
        p = probe(out)
        q = quality(out, frames)
    used = result.encoder
    print(
        f"encode auto -> {used}: {min(times):.2f} s for {len(frames)} frames "
        f"({len(frames) / min(times):.1f} frames/s, {os.cpu_count()} CPUs); "
        f"{p.frames} frames, {p.codec}, {p.width}x{p.height}, PSNR RGB {q[0]:.2f} dB"
    )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=1, help="runs per side; the best time counts")
    ap.add_argument(
        "--no-cli",
        action="store_true",
        help="no ffmpeg CLI side (machines without imageio-ffmpeg, e.g. a lent GPU): what auto "
        "chooses, whether an explicit hevc_nvenc is refused, and the chosen encoder's speed",
    )
    args = ap.parse_args()

    from comfy_vidgen.encode import choose_encoder, defaults, encode, probe
    from comfy_vidgen.encode.video import run_options

    d = defaults()
    gop = round(d.gop_seconds * 30)
    params = run_options("libx265", d.quality, d.preset, 10, gop, d)["x265-params"]
    frames = make_frames(args.frames)
    print(f"{args.frames} frames {W}x{H}, libx265 preset={d.preset} crf={d.quality} 10-bit, "
          f"{os.cpu_count()} CPUs")  # fmt: skip

    from fractions import Fraction

    t0 = time.perf_counter()
    choice = choose_encoder("auto", W, H, 10, Fraction(30))
    print(f"auto chooses: {choice.name} ({choice.reason}); decided in "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")  # fmt: skip
    if args.no_cli:
        return encode_only(frames, args.repeat)

    with tempfile.TemporaryDirectory() as tmp:
        ours, cli = Path(tmp, "ours.mp4"), Path(tmp, "cli.mp4")
        t_ours, t_cli, c_ours, c_cli = [], [], [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
            encode(frames, ours, encoder="libx265", sidecar=False)
            t_ours.append(time.perf_counter() - t)
            c_ours.append(_cpu(resource.RUSAGE_SELF) - c)
            c = _cpu(resource.RUSAGE_CHILDREN)
            t_cli.append(ffmpeg_cli(frames, cli, d.quality, d.preset, params))
            c_cli.append(_cpu(resource.RUSAGE_CHILDREN) - c)
        q_ours, q_cli = quality(ours, frames), quality(cli, frames)
        s_ours, s_cli = ours.stat().st_size, cli.stat().st_size
        p_ours, p_cli = probe(ours), probe(cli)
        v_ours, v_cli = video_bytes(ours), video_bytes(cli)

    to, tc = min(t_ours), min(t_cli)
    print(f"{'':14}{'vidgen encode':>16}{'ffmpeg CLI':>16}{'ratio':>10}  target")
    print(f"{'wall s':14}{to:16.2f}{tc:16.2f}{to / tc:10.3f}  <= 1.1")
    print(f"{'wall s, worst':14}{max(t_ours):16.2f}{max(t_cli):16.2f}"
          f"{max(t_ours) / max(t_cli):10.3f}  (spread over --repeat)")  # fmt: skip
    pairs = sorted(o / c for o, c in zip(t_ours, t_cli, strict=True))
    print(f"{'run ratios':14}{'':32}{' '.join(f'{r:.3f}' for r in pairs)}")
    co, cc = min(c_ours), min(c_cli)
    print(f"{'CPU s':14}{co:16.2f}{cc:16.2f}{co / cc:10.3f}  (load-independent)")
    print(f"{'size bytes':14}{s_ours:16d}{s_cli:16d}{s_ours / s_cli:10.3f}  <= 1.0")
    print(f"{'HEVC bytes':14}{v_ours:16d}{v_cli:16d}{v_ours / v_cli:10.3f}  <= 1.0")
    print(f"{'PSNR RGB dB':14}{q_ours[0]:16.2f}{q_cli[0]:16.2f}{q_ours[0] - q_cli[0]:+10.2f}  >= 0")
    print(f"{'PSNR Y dB':14}{q_ours[1]:16.2f}{q_cli[1]:16.2f}{q_ours[1] - q_cli[1]:+10.2f}  >= 0")
    print(f"{'frames':14}{p_ours.frames:16d}{p_cli.frames:16d}")
    print(f"{'duration s':14}{p_ours.duration:16.6f}{p_cli.duration:16.6f}")
    print(f"{'tag/range':14}{p_ours.codec_tag + '/' + p_ours.color_range:>16}"
          f"{p_cli.codec_tag + '/' + p_cli.color_range:>16}")  # fmt: skip
    print(f"fps: vidgen {args.frames / to:.1f}, CLI {args.frames / tc:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
