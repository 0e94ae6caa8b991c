"""Previews of a camera path: a contact sheet, a quick low-res video, frame writers.

Every file is written atomically (temp file beside the target, then rename).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..fsutil import temp_path_beside
from .conditioning import prompt_phrase
from .path import CameraError, CameraPath
from .render import ProgressFn, render_path

log = logging.getLogger(__name__)

Image = NDArray[np.uint8]

_START = (40, 200, 90)  # RGB
_END = (235, 80, 40)
_TRACE = (255, 255, 255)


def _draw_text(img: Image, text: str, org: tuple[int, int], scale: float) -> None:
    """Readable on any background: dark outline, light fill."""
    th = max(1, round(scale * 2))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), th + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), th, cv2.LINE_AA)


def draw_path(keyframe: Image, path: CameraPath, width: int = 1024, traces: int = 6) -> Image:
    """The keyframe (scaled to ``width``) with the start/end crops, in-between crops and an arrow."""
    h, w = keyframe.shape[:2]
    scale = width / w
    height = max(1, round(h * scale))
    canvas: Image = np.ascontiguousarray(
        cv2.resize(keyframe, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    # sub-pixel accurate drawing: cv2 shift=4 gives 1/16 px coordinates
    k = 16.0 * np.array([width / w, height / h] * 2)
    pw, ph = path.image_size
    to_canvas = np.array([w / pw, h / ph, w / pw, h / ph])
    lw = max(1, round(width / 400))

    def rect(r: NDArray[np.float64], colour: tuple[int, int, int], thick: int) -> None:
        x, y, rw, rh = (r * to_canvas * k).round().astype(int)
        cv2.rectangle(canvas, (x, y), (x + rw, y + rh), colour, thick, cv2.LINE_AA, shift=4)

    if traces > 0:
        for r in path.rects(traces + 2)[1:-1]:
            rect(r, _TRACE, max(1, lw // 2))
    rects = path.rects(2)
    rect(rects[0], _START, lw * 2)
    rect(rects[1], _END, lw * 2)
    centres = [(r[:2] + r[2:] / 2) * to_canvas[:2] * scale for r in rects]
    (x0, y0), (x1, y1) = centres
    if np.hypot(x1 - x0, y1 - y0) > 4 * lw:
        cv2.arrowedLine(
            canvas,
            (round(x0 * 16), round(y0 * 16)),
            (round(x1 * 16), round(y1 * 16)),
            _END,
            lw * 2,
            cv2.LINE_AA,
            shift=4,
            tipLength=0.15,
        )
    anchor = path.anchor()
    if anchor is not None and path.motion_type != "static":
        ax, ay = anchor[0] * to_canvas[0] * scale, anchor[1] * to_canvas[1] * scale
        if 0 <= ax < width and 0 <= ay < height:
            cv2.drawMarker(
                canvas, (round(ax), round(ay)), _END, cv2.MARKER_CROSS, 8 * lw, lw, cv2.LINE_AA
            )
    fs = width / 1400
    sx, sy = rects[0][:2] * to_canvas[:2] * scale
    _draw_text(canvas, "start", (round(sx) + 4 * lw, round(sy) + round(30 * fs) + 4 * lw), fs)
    ex, ey = rects[1][:2] * to_canvas[:2] * scale
    _draw_text(canvas, "end", (round(ex) + 4 * lw, round(ey) + round(60 * fs) + 4 * lw), fs)
    return canvas


def contact_sheet(
    keyframe: Image,
    path: CameraPath,
    out_size: tuple[int, int],
    width: int = 1024,
    thumbs: int = 5,
    title: str | None = None,
) -> Image:
    """The drawn path on top, ``thumbs`` rendered frames (first..last) below, a title line."""
    top = draw_path(keyframe, path, width)
    gap = max(2, width // 256)
    tw = (width - gap * (thumbs - 1)) // thumbs
    th = max(1, round(tw * out_size[1] / out_size[0]))
    row = np.full((th, width, 3), 24, dtype=np.uint8)
    frames = render_path(keyframe, path, thumbs, (tw, th)) if thumbs > 1 else iter(())
    for i, f in enumerate(frames):
        x = i * (tw + gap)
        row[:, x : x + tw] = f
        _draw_text(row, f"{i / (thumbs - 1):.0%}", (x + 6, th - 8), width / 2400)
    bar_h = max(24, round(width / 28))
    bar = np.full((bar_h, width, 3), 24, dtype=np.uint8)
    text = title or (f"{path.motion_type} / {path.easing}: {prompt_phrase(path, out_size)}")
    _draw_text(bar, text, (8, round(bar_h * 0.7)), width / 1800)
    spacer = np.full((gap, width, 3), 24, dtype=np.uint8)
    return np.concatenate([bar, top, spacer, row], axis=0)


def write_png(path: str | os.PathLike[str], rgb: Image, compression: int = 6) -> None:
    """Atomically write an RGB PNG."""
    ok, buf = cv2.imencode(
        ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, compression]
    )
    if not ok:
        raise CameraError(f"cannot encode PNG for {path}")
    from ..fsutil import atomic_write_bytes

    atomic_write_bytes(path, buf.tobytes())


def write_png_frames(
    frames: Iterable[Image], directory: str | os.PathLike[str], prefix: str = "frame_"
) -> list[Path]:
    """``frame_00000.png``, ... in ``directory`` (created), each written atomically."""
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise CameraError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, frame in enumerate(frames):
        p = out / f"{prefix}{i:05d}.png"
        write_png(p, frame, compression=3)
        written.append(p)
    return written


def write_mp4(
    frames: Iterable[Image],
    path: str | os.PathLike[str],
    fps: int = 30,
    crf: int = 23,
    codec: str = "libx264",
) -> int:
    """H.264 yuv420p MP4 (BT.709 tags), written to a temp file then renamed; returns frame count."""
    import av

    final = Path(path)
    tmp = temp_path_beside(final, ".mp4")
    count = 0
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream: Any = None
            for frame in frames:
                h, w = frame.shape[:2]
                if stream is None:
                    if w % 2 or h % 2:
                        raise CameraError(f"video frames need even sizes, got {w}x{h}")
                    stream = container.add_stream(codec, rate=Fraction(fps))
                    stream.width, stream.height = w, h
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf), "preset": "veryfast"}
                    cc = stream.codec_context
                    cc.color_primaries = 1
                    cc.color_trc = 1
                    cc.colorspace = 1
                    cc.color_range = 1
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                for packet in stream.encode(vf.reformat(format="yuv420p", dst_colorspace="itu709")):
                    container.mux(packet)
                count += 1
            if stream is None:
                raise CameraError(f"no frames to write to {final}")
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def write_frames(
    frames: Iterable[Image], out: str | os.PathLike[str], fps: int = 30
) -> tuple[str, int]:
    """A video when ``out`` ends in .mp4, else PNG frames in directory ``out``."""
    p = Path(out)
    if p.suffix.lower() == ".mp4":
        return "mp4", write_mp4(frames, p, fps=fps)
    if p.suffix and not p.is_dir():
        raise CameraError(f"output {out} must end in .mp4 (video) or name a directory (PNG frames)")
    return "png", len(write_png_frames(frames, p))


def preview_size(out_size: tuple[int, int], width: int) -> tuple[int, int]:
    """A low-res size of the output aspect with even sides (for yuv420p)."""
    w = max(16, width - width % 2)
    h = max(16, round(w * out_size[1] / out_size[0] / 2) * 2)
    return w, h


def render_preview(
    keyframe: Image,
    path: CameraPath,
    out: str | os.PathLike[str],
    frames: int,
    fps: int,
    size: tuple[int, int],
    on_progress: ProgressFn | None = None,
) -> int:
    """Render ``frames`` low-res frames and write them as an MP4; returns the frame count."""
    return write_mp4(render_path(keyframe, path, frames, size, on_progress), out, fps=fps)
