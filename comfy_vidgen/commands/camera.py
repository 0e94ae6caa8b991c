"""``vidgen camera suggest|preview|render``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._common import add_input_root, add_json_flag, add_parser, emit_json, parse_size


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_parser(
        sub,
        "camera",
        "camera paths: suggest moves for a keyframe, preview or render a manifest's path",
        "vidgen camera suggest shots/beach.jpg --n 3 --json",
    )
    csub = p.add_subparsers(dest="camera_command", metavar="ACTION", required=True)

    s = add_parser(
        csub,
        "suggest",
        "propose ranked camera paths (manifest camera fragments) from saliency, faces, composition",
        "vidgen camera suggest shots/beach.jpg --n 3 --size 1024x576 --json",
    )
    s.add_argument("keyframe", type=Path, metavar="KEYFRAME")
    s.add_argument("--n", type=int, default=3, help="how many suggestions (default 3)")
    s.add_argument("--size", default="1024x576", help="output WIDTHxHEIGHT (sets the crop aspect)")
    s.add_argument("--easing", default="ease_in_out", help="linear, ease_in, ease_out, ease_in_out")
    add_json_flag(s)
    s.set_defaults(func=cmd_suggest)

    v = add_parser(
        csub,
        "preview",
        "fast low-res preview of a manifest's camera path: MP4 (-o x.mp4) and/or contact sheet PNG",
        "vidgen camera preview beach.json --input-root shots -o beach.mp4 --sheet beach.png",
    )
    v.add_argument("manifest", type=Path, metavar="MANIFEST")
    v.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="preview video (.mp4) or contact sheet (.png)",
    )
    v.add_argument("--sheet", type=Path, default=None, help="also write a contact sheet PNG here")
    v.add_argument("--width", type=int, default=384, help="preview video width (default 384)")
    v.add_argument(
        "--sheet-width", type=int, default=1024, help="contact sheet width (default 1024)"
    )
    v.add_argument(
        "--frames", type=int, default=None, help="preview frames (default: output.frames)"
    )
    add_input_root(v)
    add_json_flag(v)
    v.set_defaults(func=cmd_preview)

    r = add_parser(
        csub,
        "render",
        "render a manifest's exact camera path: N frames at output size (PNG dir or .mp4)",
        "vidgen camera render beach.json --input-root shots --frames 120 -o beach.mp4",
    )
    r.add_argument("manifest", type=Path, metavar="MANIFEST")
    r.add_argument("-o", "--output", type=Path, required=True, help="directory (PNG) or .mp4")
    r.add_argument("--frames", type=int, default=None, help="frame count (default: output.frames)")
    r.add_argument("--size", default=None, help="WIDTHxHEIGHT (default: output size)")
    r.add_argument(
        "--over",
        type=Path,
        default=None,
        metavar="FRAMES",
        help="post-pass: impose the path on these frames (directory of images, or a video)",
    )
    add_input_root(r)
    add_json_flag(r)
    r.set_defaults(func=cmd_render)


def _load(
    args: argparse.Namespace, outputs: list[tuple[str, Path | None, str]]
) -> tuple[Any, Any, Any]:
    """Manifest, its path bound to the keyframe, and the keyframe pixels (confined to
    --input-root); ``outputs`` (option, path, file|dir) are checked against every input
    before the keyframe is decoded. A folder output must be new or empty: frames of an
    earlier, longer render would otherwise stay beside the new ones."""
    from ..camera import CameraPath
    from ..fsutil import check_distinct, check_output
    from ..images import load_rgb_array
    from ..manifest import load_manifest, verify_keyframe

    if not args.input_root.is_dir():
        raise UsageError(f"--input-root {args.input_root} is not a directory")
    if not args.manifest.is_file():
        raise UsageError(f"no such manifest file: {args.manifest}")
    m = load_manifest(args.manifest)
    kf_path = verify_keyframe(m, args.input_root)
    inputs = [args.manifest, kf_path, getattr(args, "over", None)]
    check_distinct((opt, p) for opt, p, _ in outputs)
    for opt, p, kind in outputs:
        if p is not None:
            check_output(p, inputs, option=opt, kind=kind, empty_dir=kind == "dir")
    return m, CameraPath.from_manifest(m), load_rgb_array(kf_path)


def _progress(total: int, desc: str) -> Any:
    """An on_progress callback driving a tqdm bar on a terminal (no-op otherwise)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True)

    def on_progress(done: int, total_: int) -> None:
        bar.update(done - bar.n)
        if done >= total_:
            bar.close()

    return on_progress


def cmd_suggest(args: argparse.Namespace) -> int:
    from ..camera.suggest import suggest_paths
    from ..images import ImageError, load_rgb_array

    size = parse_size(args.size)
    if not 1 <= args.n <= 20:
        raise UsageError(f"--n must be 1..20, got {args.n}")
    if args.easing not in ("linear", "ease_in", "ease_out", "ease_in_out"):
        raise UsageError(
            f"--easing must be linear, ease_in, ease_out or ease_in_out, got {args.easing!r}"
        )
    if not args.keyframe.is_file():
        raise UsageError(f"keyframe {args.keyframe} does not exist or is not a file")
    try:
        rgb = load_rgb_array(args.keyframe, min_size=512)
    except ImageError:
        raise
    found = suggest_paths(rgb, size, args.n, easing=args.easing)
    if args.json:
        emit_json(
            {
                "keyframe": str(args.keyframe),
                "size": list(size),
                "suggestions": [s.as_dict() for s in found],
            }
        )
        return 0
    for i, s in enumerate(found, 1):
        c = s.camera
        print(f"{i}. {c['motion_type']:<10} score {s.score:.2f}  {s.rationale}")
        st, en = c["start_frame"], c["end_frame"]
        print(
            f"   start {st['x']:.4f},{st['y']:.4f},{st['w']:.4f},{st['h']:.4f}  "
            f"end {en['x']:.4f},{en['y']:.4f},{en['w']:.4f},{en['h']:.4f}  "
            f"prompt: {s.prompt!r}  motion_bucket_id {s.motion_bucket_id}"
        )
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from ..camera.preview import contact_sheet, preview_size, render_preview, write_png

    if args.output is None and args.sheet is None:
        raise UsageError("give -o PREVIEW.mp4 (or .png) and/or --sheet SHEET.png")
    if not 16 <= args.width <= 1920:
        raise UsageError(f"--width must be 16..1920, got {args.width}")
    if not 256 <= args.sheet_width <= 4096:
        raise UsageError(f"--sheet-width must be 256..4096, got {args.sheet_width}")
    if args.frames is not None and not 2 <= args.frames <= 1200:
        raise UsageError(f"--frames must be 2..1200, got {args.frames}")
    video = sheet = None
    for target in (args.output, args.sheet):
        if target is None:
            continue
        suffix = target.suffix.lower()
        if suffix == ".mp4" and target is args.output:
            video = target
        elif suffix == ".png":
            sheet = target
        else:
            raise UsageError(
                f"{target}: preview outputs end in .mp4 (video) or .png (contact sheet)"
            )
    m, path, rgb = _load(args, [("-o", args.output, "file"), ("--sheet", args.sheet, "file")])
    out_size = (m.output.width, m.output.height)
    result: dict[str, Any] = {"manifest": str(args.manifest)}
    if sheet is not None:
        write_png(sheet, contact_sheet(rgb, path, out_size, width=args.sheet_width))
        result["sheet"] = str(sheet)
    if video is not None:
        frames = args.frames or m.output.frames
        size = preview_size(out_size, args.width)
        n = render_preview(
            rgb, path, video, frames, m.output.fps, size, _progress(frames, "preview")
        )
        result.update(video=str(video), frames=n, width=size[0], height=size[1], fps=m.output.fps)
    if args.json:
        emit_json(result)
    else:
        print(" ".join(f"{k}={v}" for k, v in result.items()))
    return 0


def _read_frames(src: Path) -> list[Any]:
    """Frames of a post-pass input: image files in a directory (sorted by name) or a video."""
    from ..camera import CameraError
    from ..images import load_rgb_array

    if src.is_dir():
        files = sorted(
            p
            for p in src.iterdir()
            if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")
        )
        if not files:
            raise CameraError(
                f"--over {src}: no image files (.png/.jpg/.tif/.webp) in the directory"
            )
        return [load_rgb_array(p) for p in files]
    if not src.is_file():
        raise UsageError(f"--over {src} does not exist")
    import av

    try:
        with av.open(str(src)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    except (av.error.FFmpegError, ValueError) as e:
        raise CameraError(f"--over {src}: cannot decode video ({e})") from None


def cmd_render(args: argparse.Namespace) -> int:
    from ..camera import render_frames, render_path
    from ..camera.preview import write_frames

    out = args.output
    if out.suffix and out.suffix.lower() != ".mp4" and not out.is_dir():
        raise UsageError(f"-o {out}: give a directory (PNG frames) or a .mp4 file")
    if args.frames is not None and not 1 <= args.frames <= 10000:
        raise UsageError(f"--frames must be 1..10000, got {args.frames}")
    m, path, rgb = _load(args, [("-o", out, "file" if out.suffix.lower() == ".mp4" else "dir")])
    size = parse_size(args.size) if args.size else (m.output.width, m.output.height)
    if out.suffix.lower() == ".mp4" and (size[0] % 2 or size[1] % 2):
        raise UsageError(f"an .mp4 needs even sizes, got {size[0]}x{size[1]}")
    if args.over is not None:
        frames_in = _read_frames(args.over)
        if args.frames is not None and args.frames != len(frames_in):
            raise UsageError(f"--frames {args.frames} but --over has {len(frames_in)} frames")
        n = len(frames_in)
        frames = render_frames(frames_in, path, size, on_progress=_progress(n, "render"))
    else:
        n = args.frames or m.output.frames
        frames = render_path(rgb, path, n, size, _progress(n, "render"))
    kind, count = write_frames(frames, out, fps=m.output.fps)
    result = {
        "output": str(out),
        "kind": kind,
        "frames": count,
        "width": size[0],
        "height": size[1],
    }
    if args.json:
        emit_json(result)
    else:
        print(f"wrote {count} frames ({size[0]}x{size[1]}, {kind}) to {out}")
    return 0
