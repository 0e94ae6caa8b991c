"""``vidgen interpolate``: retime a clip to an exact frame count with RIFE 4.25."""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._common import add_json_flag, add_parser, emit_json

DTYPES = ("auto", "fp32", "fp16", "bf16")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_parser(
        sub,
        "interpolate",
        "retime a video or a folder of frames to exactly N frames (RIFE 4.25)",
        "vidgen interpolate gen_25_frames/ --frames 120 --fps 30 -o clip.mp4 --device cuda",
    )
    p.add_argument("input", type=Path, metavar="IN", help="a video file or a directory of frames")
    p.add_argument("--frames", type=int, required=True, help="exact output frame count (2..20000)")
    p.add_argument("--fps", default="30", help="output frame rate for a video OUT (default 30)")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="OUT",
        help="a .mp4/.mov/.m4v video, or a directory that receives frame_NNNNNN.png",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
    p.add_argument(
        "--dtype",
        choices=DTYPES,
        default="auto",
        help="network precision: auto = fp16 on cuda, fp32 on cpu",
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help="samples per network call (default: auto)"
    )
    p.add_argument(
        "--no-scene-cut-guard",
        action="store_true",
        help="warp across detected cuts too (default: nearest frame at a cut)",
    )
    p.add_argument(
        "--timing",
        metavar="METHOD",
        default=None,
        help="midpoint_gated (default): RIFE at t = 0.5 per pair, flows re-timed so every "
        "frame sits at its true time, fusion mask trusted by motion; midpoint: the same with "
        "RIFE's whole mask (the @2 graphs; slow zooms lead a little); arbitrary: RIFE fed "
        "each frame's t (the first release; near-duplicate frames next to the inputs)",
    )
    p.add_argument(
        "--model",
        default="rife-4.25",
        help="a models.lock.json name or a weights file path (default rife-4.25)",
    )
    p.add_argument(
        "--allow-damaged",
        action="store_true",
        help="interpolate a video even if it decodes with errors or is shorter than its header",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_interpolate)


def _dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        return torch.float16 if device == "cuda" else torch.float32
    if device == "cpu" and name != "fp32":
        raise UsageError(f"--dtype {name} is for cuda; on the cpu use fp32 (or auto)")
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def _fps(text: str) -> Fraction:
    """--fps as a Fraction in 1..240, or a usage error (before any work is done)."""
    from ..encode import EncodeError
    from ..encode.video import parse_fps

    try:
        return parse_fps(text)
    except EncodeError as e:
        raise UsageError(f"--fps: {e}") from None


def _model_path(spec: str) -> Path:
    from ..models import require

    p = Path(spec)
    if p.is_file():
        return p
    if "/" in spec or p.suffix in (".pkl", ".pth", ".pt"):
        raise UsageError(f"--model {spec}: no such weights file")
    return require(spec)


def cmd_interpolate(args: argparse.Namespace) -> int:
    import torch

    from ..encode.probe import refuse_damaged
    from ..fsutil import check_output
    from ..interpolate import DEFAULT_TIMING, TIMINGS, load_ifnet, retime
    from ..interpolate.frames_io import VIDEO_EXTENSIONS, read_frames, write_png_dir

    if not 2 <= args.frames <= 20_000:
        raise UsageError(f"--frames must be in 2..20000, got {args.frames}")
    if args.batch_size is not None and not 1 <= args.batch_size <= 256:
        raise UsageError(f"--batch-size must be in 1..256, got {args.batch_size}")
    timing = args.timing or DEFAULT_TIMING
    if timing not in TIMINGS:
        raise UsageError(f"--timing must be one of {', '.join(TIMINGS)}, got {timing!r}")
    to_video = args.output.suffix.lower() in VIDEO_EXTENSIONS
    if not to_video and args.output.suffix:
        raise UsageError(
            f"-o {args.output}: use a .mp4/.mov/.m4v video or a directory name without extension"
        )
    if not args.input.exists():
        raise UsageError(f"input {args.input} does not exist")
    fps = _fps(args.fps)  # refused even when PNG frames are written: never ignore a bad value
    dtype = _dtype(args.dtype, args.device)
    weights = _model_path(args.model)
    # every argument and the output are checked before any decoding or weight loading
    check_output(
        args.output,
        [args.input, weights],
        kind="file" if to_video else "dir",
        empty_dir=True,
    )
    if not args.allow_damaged:
        refuse_damaged(args.input)
    t0 = time.perf_counter()
    # bad input is reported before loading weights
    frames_u8, _ = read_frames(args.input, damaged_ok=args.allow_damaged)
    model = load_ifnet(weights, device=args.device, dtype=dtype)
    frames = torch.from_numpy(frames_u8).float().div_(255.0)
    bar = _bar(args.frames, "interpolate")
    try:
        result = retime(
            frames,
            args.frames,
            model,
            batch_size=args.batch_size,
            scene_cut_guard=not args.no_scene_cut_guard,
            timing=timing,
            on_progress=bar.update if bar else None,
        )
    finally:
        if bar:
            bar.close()
    out_u8 = result.frames.mul(255.0).round_().to(torch.uint8).numpy()
    t_interp = time.perf_counter() - t0
    if to_video:
        try:
            from ..encode import encode
        except ImportError:  # pragma: no cover - until the encoder area lands
            raise UsageError(
                "video output needs comfy_vidgen.encode, which this install lacks; "
                "write PNG frames instead (-o DIR)"
            ) from None
        encode(out_u8, args.output, fps=fps)
    else:
        write_png_dir(out_u8, args.output)
    rec = {
        "input": str(args.input),
        "output": str(args.output),
        "frames_in": int(frames.shape[0]),
        "frames_out": int(out_u8.shape[0]),
        "width": int(out_u8.shape[2]),
        "height": int(out_u8.shape[1]),
        "interpolated": result.interpolated,
        "copied": result.copied,
        "timing": timing,
        "network_passes": result.network_passes,
        "scene_cuts": result.cuts,
        "device": args.device,
        "dtype": str(model.dtype).removeprefix("torch."),
        "model_sha256": model.sha256,
        "seconds_interpolate": round(t_interp, 3),
        "seconds_total": round(time.perf_counter() - t0, 3),
    }
    if args.json:
        emit_json(rec)
    else:
        cuts = f", scene cuts at pairs {result.cuts}" if result.cuts else ""
        print(
            f"{rec['frames_in']} -> {rec['frames_out']} frames ({rec['width']}x{rec['height']}, "
            f"{result.interpolated} interpolated{cuts}) in {rec['seconds_total']:.1f} s "
            f"-> {args.output}"
        )
    return 0


class _Bar:
    def __init__(self, total: int, desc: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True)

    def update(self, done: int, total: int) -> None:
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def _bar(total: int, desc: str) -> _Bar | None:
    return _Bar(total, desc) if sys.stderr.isatty() else None
