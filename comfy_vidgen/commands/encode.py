"""``vidgen encode`` (frames or a video -> delivery H.265) and ``vidgen probe``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._common import add_json_flag, add_parser, emit_json

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
_X265_PRESETS = "ultrafast superfast veryfast faster fast medium slow slower veryslow placebo"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    e = add_parser(
        sub,
        "encode",
        "encode a directory of frames (or a video) to the delivery H.265 MP4 + JSON sidecar",
        "vidgen encode renders/beach/ -o beach.mp4 --fps 30 --quality 20 --audio music.wav",
    )
    e.add_argument("input", type=Path, metavar="IN", help="directory of frames, or a video file")
    e.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.mp4")
    e.add_argument(
        "--fps", default=None, help="frame rate, e.g. 30 or 30000/1001 (default 30; a video's own)"
    )
    e.add_argument(
        "--quality", type=int, default=None, help="CRF (libx265) / CQ (NVENC), 0..51 (default 20)"
    )
    e.add_argument("--bit-depth", type=int, default=None, choices=(8, 10), help="default 10")
    e.add_argument(
        "--encoder",
        default="auto",
        choices=("auto", "hevc_nvenc", "libx265"),
        help="auto: NVENC when a session opens, else libx265 (the reason is recorded)",
    )
    e.add_argument(
        "--preset", default=None, help=f"libx265 preset ({_X265_PRESETS}); default medium"
    )
    e.add_argument("--audio", type=Path, default=None, metavar="FILE", help="WAV/FLAC/MP3/AAC...")
    e.add_argument("--audio-gain", type=float, default=0.0, help="dB on top of loudness target")
    e.add_argument("--title", default=None, help="container title (default: output name)")
    e.add_argument("--manifest", type=Path, default=None, help="record this manifest's id+hash")
    e.add_argument("--no-sidecar", action="store_true", help="do not write OUT.json")
    e.add_argument(
        "--allow-damaged",
        action="store_true",
        help="encode a video input even if it decodes with errors or is shorter than its header",
    )
    add_json_flag(e)
    e.set_defaults(func=cmd_encode)

    p = add_parser(
        sub,
        "probe",
        "decode a video and report frames, fps, duration, size, codec, tag and colour",
        "vidgen probe beach.mp4 --json",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    add_json_flag(p)
    p.set_defaults(func=cmd_probe)


def _check_args(args: argparse.Namespace) -> None:
    """Every option and the output path, before any frame is decoded (usage errors)."""
    from ..encode import EncodeError
    from ..encode.audio import GAIN_DB_RANGE
    from ..encode.settings import defaults
    from ..encode.video import check_settings, parse_fps
    from ..fsutil import check_output

    d = defaults()
    try:
        if args.fps is not None:
            parse_fps(args.fps)
        check_settings(
            d.quality if args.quality is None else args.quality,
            d.bit_depth if args.bit_depth is None else args.bit_depth,
            args.encoder,
            d.preset if args.preset is None else args.preset,
        )
    except EncodeError as e:
        raise UsageError(str(e)) from None
    lo, hi = GAIN_DB_RANGE
    if not math.isfinite(args.audio_gain) or not lo <= args.audio_gain <= hi:
        raise UsageError(f"--audio-gain must be in {lo:g}..{hi:g} dB, got {args.audio_gain}")
    if args.output.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise UsageError(f"-o {args.output}: the output must end in .mp4, .m4v or .mov")
    if args.audio is not None and not args.audio.is_file():
        raise UsageError(f"--audio {args.audio} does not exist or is not a file")
    if args.manifest is not None and not args.manifest.is_file():
        raise UsageError(f"--manifest {args.manifest} does not exist or is not a file")
    inputs = [args.input, args.audio, args.manifest]
    check_output(args.output, inputs)
    if not args.no_sidecar:
        check_output(args.output.with_suffix(".json"), inputs, option="sidecar")


def _frame_files(directory: Path) -> list[Path]:
    import re

    def natural(p: Path) -> list[Any]:
        return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]

    files = [p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
    if not files:
        raise UsageError(f"{directory} contains no frames ({', '.join(FRAME_SUFFIXES)})")
    return sorted(files, key=natural)


def _image_frames(files: list[Path]) -> Any:
    """Frames decoded one at a time (EXIF-oriented, ICC to sRGB), so memory stays flat."""
    from ..images import ImageError, load_rgb_array

    for f in files:
        try:
            yield load_rgb_array(f)
        except ImageError as exc:
            raise UsageError(f"frame {f}: {exc}") from None


def cmd_encode(args: argparse.Namespace) -> int:
    from ..encode import encode, iter_rgb
    from ..encode.audio import AudioInput
    from ..encode.probe import frame_rate_of
    from ._common import progress

    src: Path = args.input
    if not src.exists():
        raise UsageError(f"input {src} does not exist")
    _check_args(args)
    total: int | None
    if not src.is_dir() and not args.allow_damaged:
        from ..encode.probe import refuse_damaged

        refuse_damaged(src)
    if src.is_dir():
        files = _frame_files(src)
        frames: Any = _image_frames(files)
        total = len(files)
        fps: Any = args.fps or 30
    else:
        frames = iter_rgb(src, damaged_ok=args.allow_damaged)
        total = None
        fps = args.fps or frame_rate_of(src)
    metadata: dict[str, Any] = {"source": str(src)}
    if args.title:
        metadata["title"] = args.title
    if args.manifest is not None:
        from ..manifest import load_manifest

        metadata["manifest"] = load_manifest(args.manifest)
    audio = AudioInput(path=args.audio, gain_db=args.audio_gain) if args.audio else None
    result = encode(
        progress(frames, total=total, desc="encode", unit="frame"),
        args.output,
        fps=fps,
        quality=args.quality,
        bit_depth=args.bit_depth,
        encoder=args.encoder,
        preset=args.preset,
        metadata=metadata,
        audio=audio,
        sidecar=not args.no_sidecar,
    )
    if args.json:
        emit_json(result.to_dict())
    else:
        print(
            f"wrote {result.path}: {result.frames} frames, {result.duration:.3f} s at "
            f"{result.fps:g} fps, {result.width}x{result.height} {result.bit_depth}-bit, "
            f"{result.size_bytes / 1e6:.2f} MB, {result.wall_seconds:.1f} s\n"
            f"encoder: {result.encoder} ({result.encoder_reason})\n"
            f"sha256: {result.sha256}"
        )
        if result.audio:
            a = result.audio
            print(
                f"audio: AAC {a['duration']:.3f} s, {a['output_lufs']} LUFS "
                f"(gain {a['gain_db_applied']:+.1f} dB{', peak-limited' if a['peak_limited'] else ''})"
            )
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from ..encode import probe

    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    info = probe(args.file).to_dict()
    status = 1 if info["damaged"] else 0
    if info["damaged"]:
        print(f"vidgen: {args.file} is damaged: {info['damage']}", file=sys.stderr)
    if args.json:
        emit_json(info)
        return status
    width = max(len(k) for k in info)
    for key, value in info.items():
        shown = json.dumps(value) if isinstance(value, dict) else value
        sys.stdout.write(f"{key:<{width}}  {shown}\n")
    return status
