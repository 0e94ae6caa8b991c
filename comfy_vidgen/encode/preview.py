"""Browser-playable previews of a clip: a small H.264 MP4 and a poster-frame strip.

Why: the delivery is HEVC, and Chromium on Linux does not play HEVC (Debian's
chromium 156 answers ``canPlayType('video/mp4; codecs="hvc1..."')`` with ""; for
``avc1`` it answers "probably"). So the NVENCEncode node and the shootout report
show an H.264 copy at most ``PREVIEW_MAX_WIDTH`` pixels wide instead. A preview is
never a delivery: nothing verifies, hashes, audits or ships it; the node writes it
to ComfyUI's temp folder (cleared when ComfyUI starts), the report into its own
folder.

ComfyUI's front end (1.27 and 1.58 alike) shows a node's ``ui`` entry
``{"images": [mp4], "animated": [true]}`` as a ``<video>`` element, so no script of
ours is needed to play it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..fsutil import output_error, temp_path_beside
from .errors import EncodeError, ProbeError
from .video import ProgressFn, count_frames, iter_frames, parse_fps

log = logging.getLogger(__name__)

#: widest preview (the node shows it a few hundred pixels wide; the report 2-4 side by side)
PREVIEW_MAX_WIDTH = 512
PREVIEW_CODEC = "libx264"
#: CRF 26 at ``veryfast``: a 512x288 4 s clip is about 100-300 kB, and encodes in a
#: small fraction of the delivery's x265 time (benchmarks/preview.py).
PREVIEW_OPTIONS = {"crf": "26", "preset": "veryfast"}
#: where the node writes previews, inside ComfyUI's temp folder
PREVIEW_SUBFOLDER = "vidgen"
_BT709 = 1
_RANGE_TV = 1
_MUX_OPTIONS = {"movflags": "+faststart"}


class PreviewError(EncodeError):
    """A preview could not be made (e.g. this FFmpeg build has no libx264)."""


@dataclass(frozen=True)
class PreviewResult:
    path: str
    width: int
    height: int
    frames: int
    fps: float
    size_bytes: int
    wall_seconds: float

    @property
    def filename(self) -> str:
        return Path(self.path).name


def preview_size(width: int, height: int, max_width: int = PREVIEW_MAX_WIDTH) -> tuple[int, int]:
    """The preview's even width and height: at most ``max_width`` wide, same aspect."""
    if width < 2 or height < 2:
        raise PreviewError(f"a {width}x{height} clip is too small to preview")
    if max_width < 16:
        raise PreviewError(f"max_width must be at least 16, got {max_width}")
    w = min(width, max_width)
    w -= w % 2
    h = max(2, round(height * w / width / 2) * 2)
    return w, h


def preview_name(delivery_filename: str) -> str:
    """``<delivery stem>.preview-<random>.mp4``: random like ComfyUI's own previews, so a
    rerun of the same job id never shows the browser's cached copy of the last one."""
    return f"{Path(delivery_filename).stem}.preview-{secrets.token_hex(4)}.mp4"


def _u8(arr: NDArray[Any], buf: list[NDArray[np.float32]]) -> NDArray[np.uint8]:
    """An RGB frame as uint8; float frames go through one reused float32 buffer (the
    frame itself may be a view of the caller's tensor and must not be changed)."""
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.uint16:
        return np.ascontiguousarray((arr >> 8).astype(np.uint8))
    if not buf or buf[0].shape != arr.shape:
        buf[:] = [np.empty(arr.shape, np.float32)]
    b = buf[0]
    np.multiply(arr, np.float32(255.0), out=b, casting="unsafe")
    np.clip(b, 0.0, 255.0, out=b)
    np.rint(b, out=b)
    return b.astype(np.uint8)


class _Writer:
    """One H.264 MP4, frames scaled with swscale's area filter, tagged BT.709 tv range."""

    def __init__(self, path: Path, rate: Fraction, size: tuple[int, int]) -> None:
        import av

        if PREVIEW_CODEC not in av.codecs_available:
            raise PreviewError(f"this FFmpeg build has no {PREVIEW_CODEC} encoder")
        self.path, self.rate, (self.width, self.height) = path, rate, size
        self.tmp = temp_path_beside(path, suffix=".mp4")
        self.n = 0
        self.container: Any = av.open(
            str(self.tmp), "w", format="mp4", container_options=_MUX_OPTIONS
        )
        try:
            s: Any = self.container.add_stream(PREVIEW_CODEC, rate=rate)
            cc = s.codec_context
            cc.width, cc.height, cc.pix_fmt = self.width, self.height, "yuv420p"
            cc.time_base = 1 / rate
            cc.color_primaries = cc.color_trc = cc.colorspace = _BT709
            cc.color_range = _RANGE_TV
            s.time_base = 1 / rate
            s.options = dict(PREVIEW_OPTIONS)
            cc.open()
        except BaseException:
            self.abort()
            raise
        self.stream: Any = s

    def add(self, frame: Any, full_range_rgb: bool) -> None:
        from av.video.reformatter import ColorRange, Colorspace, Interpolation

        out = frame.reformat(
            width=self.width,
            height=self.height,
            format="yuv420p",
            src_colorspace=Colorspace.ITU709,
            dst_colorspace=Colorspace.ITU709,
            src_color_range=ColorRange.JPEG if full_range_rgb else ColorRange.MPEG,
            dst_color_range=ColorRange.MPEG,
            interpolation=Interpolation.AREA | Interpolation.ACCURATE_RND,
        )
        out.colorspace, out.color_range = _BT709, _RANGE_TV
        out.color_primaries = out.color_trc = _BT709
        out.pts, out.time_base = self.n, 1 / self.rate
        for packet in self.stream.encode(out):
            self.container.mux(packet)
        self.n += 1

    def finish(self) -> PreviewResult:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.path)
        return PreviewResult(
            path=str(self.path),
            width=self.width,
            height=self.height,
            frames=self.n,
            fps=float(self.rate),
            size_bytes=self.path.stat().st_size,
            wall_seconds=0.0,
        )

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.container.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _write(
    frames: Iterator[tuple[Any, bool]],
    path: str | os.PathLike[str],
    rate: Fraction,
    size_of: Any,
    total: int,
    on_progress: ProgressFn | None,
) -> PreviewResult:
    import av

    t0 = time.perf_counter()
    target = Path(path)
    if target.suffix.lower() != ".mp4":
        raise PreviewError(f"preview {target.name} must end in .mp4")
    first = next(frames, None)
    if first is None:
        raise PreviewError("no frames to preview (the input is empty)")
    target.parent.mkdir(parents=True, exist_ok=True)
    writer: _Writer | None = None
    try:
        writer = _Writer(target, rate, size_of(first[0]))
        for frame, full in _chain_first(first, frames):
            writer.add(frame, full)
            if on_progress is not None:
                on_progress(writer.n, max(total, writer.n))
        result = writer.finish()
        writer = None
    except av.error.OSError as e:
        raise output_error(target, e) from None
    except av.FFmpegError as e:
        raise PreviewError(f"preview {target.name}: {e}") from None
    finally:
        if writer is not None:
            writer.abort()
    wall = round(time.perf_counter() - t0, 3)
    log.info("preview %s: %dx%d, %d frames in %.2f s", target.name, result.width,
             result.height, result.frames, wall)  # fmt: skip
    return dataclasses.replace(result, wall_seconds=wall)


def _chain_first(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def write_preview(
    frames: Any,
    path: str | os.PathLike[str],
    fps: int | float | str | Fraction,
    max_width: int = PREVIEW_MAX_WIDTH,
    on_progress: ProgressFn | None = None,
) -> PreviewResult:
    """RGB frames (what ``encode`` takes: arrays, [B,H,W,3] batches, torch tensors in
    0..1) -> an H.264 preview MP4 at ``path`` (temp file, then rename)."""
    import av

    rate = parse_fps(fps)

    def gen() -> Iterator[tuple[Any, bool]]:
        buf: list[NDArray[np.float32]] = []
        for arr in iter_frames(frames):
            yield av.VideoFrame.from_ndarray(_u8(arr, buf), format="rgb24"), True

    def size_of(f: Any) -> tuple[int, int]:
        return preview_size(f.width, f.height, max_width)

    return _write(gen(), path, rate, size_of, count_frames(frames), on_progress)


def preview_of_video(
    source: str | os.PathLike[str],
    path: str | os.PathLike[str],
    max_width: int = PREVIEW_MAX_WIDTH,
) -> PreviewResult:
    """A delivered clip (any codec PyAV decodes; tagged BT.709 tv range, as this pack
    writes) -> its H.264 preview at ``path``, at the clip's own frame rate."""
    import av

    from .probe import frame_rate_of

    try:
        rate = frame_rate_of(source)
        container = av.open(str(source))
    except (ProbeError, av.FFmpegError, OSError) as e:
        raise PreviewError(f"{Path(source).name} is not a readable video: {e}") from None

    def gen() -> Iterator[tuple[Any, bool]]:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame, frame.color_range == 2

    def size_of(f: Any) -> tuple[int, int]:
        return preview_size(f.width, f.height, max_width)

    try:
        return _write(gen(), path, rate, size_of, 0, None)
    finally:
        container.close()


def poster_frames(
    source: str | os.PathLike[str], count: int, width: int
) -> list[NDArray[np.uint8]]:
    """``count`` frames evenly spaced from first to last, each ``width`` px wide (RGB)."""
    from PIL import Image

    from .probe import iter_rgb

    if count < 1:
        raise PreviewError(f"count must be at least 1, got {count}")
    # every frame is kept only as a thumbnail: the count is known after the last one
    thumbs: list[NDArray[np.uint8]] = []
    try:
        for rgb in iter_rgb(source):
            tw, th = preview_size(rgb.shape[1], rgb.shape[0], width)
            thumbs.append(np.asarray(Image.fromarray(rgb).resize((tw, th), Image.Resampling.BOX)))
    except ProbeError as e:
        raise PreviewError(str(e)) from None
    if not thumbs:
        raise PreviewError(f"{Path(source).name} has no frames")
    n = len(thumbs)
    picks = sorted({round(i * (n - 1) / max(1, count - 1)) for i in range(count)})
    return [thumbs[k] for k in picks]


def strip(frames: Iterable[NDArray[np.uint8]], gap: int = 2) -> NDArray[np.uint8]:
    """Frames of one size side by side, ``gap`` white pixels apart."""
    items = list(frames)
    if not items:
        raise PreviewError("no frames for a strip")
    h, w = items[0].shape[:2]
    out = np.full((h, len(items) * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, f in enumerate(items):
        out[:, i * (w + gap) : i * (w + gap) + w] = f[:h, :w, :3]
    return out
