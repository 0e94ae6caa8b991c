"""Read back what a file really contains: frames counted by decoding, never guessed.

Header frame counts and ``duration x fps`` are known to disagree with what
players show (off-by-one on long clips), so ``probe`` decodes every frame.
The orchestrator's verification and the tests rely on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from .errors import ProbeError

# FFmpeg's names for the enum values (libavutil/pixdesc.c); the ones we meet.
PRIMARIES = {1: "bt709", 2: "unknown", 4: "bt470m", 5: "bt470bg", 6: "smpte170m",
             7: "smpte240m", 8: "film", 9: "bt2020", 10: "smpte428", 11: "smpte431",
             12: "smpte432", 22: "ebu3213"}  # fmt: skip
TRANSFERS = {1: "bt709", 2: "unknown", 4: "gamma22", 5: "gamma28", 6: "smpte170m",
             7: "smpte240m", 8: "linear", 13: "iec61966-2-1", 14: "bt2020-10",
             15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}  # fmt: skip
MATRICES = {0: "gbr", 1: "bt709", 2: "unknown", 4: "fcc", 5: "bt470bg", 6: "smpte170m",
            7: "smpte240m", 8: "ycgco", 9: "bt2020nc", 10: "bt2020c"}  # fmt: skip
RANGES = {0: "unknown", 1: "tv", 2: "pc"}


def _name(table: dict[int, str], value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, str):
        return value
    return table.get(int(value), str(int(value)))


@dataclass(frozen=True)
class ProbeResult:
    """What a decoder sees in a delivered file."""

    frames: int
    fps: float
    duration: float
    width: int
    height: int
    codec: str
    codec_tag: str
    pix_fmt: str
    color_primaries: str
    color_trc: str
    colorspace: str
    color_range: str
    bit_depth: int
    audio: dict[str, Any] | None
    #: the file decodes with errors, or holds fewer/more frames than its header's duration
    damaged: bool = False
    #: why it is damaged (None when it is not)
    damage: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _open(path: str | os.PathLike[str]) -> Any:
    import av

    p = Path(path)
    if not p.is_file():
        raise ProbeError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise ProbeError(f"{p}: empty file (0 bytes)")
    try:
        container = av.open(str(p))
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise ProbeError(f"{p}: not a readable media file ({e})") from None
    if not container.streams.video:
        container.close()
        raise ProbeError(f"{p}: has no video stream")
    return container


def _stream_seconds(stream: Any) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def probe(path: str | os.PathLike[str]) -> ProbeResult:
    """Decode ``path`` fully and report its video (and audio) facts."""
    import av

    container = _open(path)
    try:
        v = container.streams.video[0]
        v.thread_type = "AUTO"
        cc = v.codec_context
        n = 0
        errors: list[str] = []
        for _ in _decode(container, v, errors):
            n += 1
        damage = f"{len(errors)} decode error(s), the first: {errors[0]}" if errors else None
        if n == 0:
            why = f" ({errors[0]})" if errors else ""
            raise ProbeError(f"{path}: the video stream has no decodable frames{why}")
        rate = v.average_rate or v.guessed_rate or v.base_rate
        fps = float(rate) if rate else 0.0
        duration = _stream_seconds(v)
        if duration is None:
            duration = n / fps if fps else float(container.duration or 0) / 1e6
        elif damage is None and fps:
            damage = _count_vs_duration(n, duration, fps)
        fmt = av.VideoFormat(cc.pix_fmt) if cc.pix_fmt else None
        bit_depth = fmt.components[0].bits if fmt is not None else 0
        tag = cc.codec_tag or ""
        video = {
            "frames": n,
            "fps": round(fps, 6),
            "duration": round(duration, 6),
            "width": cc.width,
            "height": cc.height,
            "codec": cc.name,
            "codec_tag": tag.strip("\x00") if isinstance(tag, str) else str(tag),
            "pix_fmt": cc.pix_fmt or "unknown",
            "color_primaries": _name(PRIMARIES, cc.color_primaries),
            "color_trc": _name(TRANSFERS, cc.color_trc),
            "colorspace": _name(MATRICES, cc.colorspace),
            "color_range": _name(RANGES, cc.color_range),
            "bit_depth": int(bit_depth),
        }
    finally:
        container.close()
    try:
        audio = _probe_audio(path)
    except ProbeError as e:
        if damage is None:
            raise
        audio, damage = None, f"{damage}; {e}"
    return ProbeResult(**video, audio=audio, damaged=damage is not None, damage=damage)


def _decode(container: Any, stream: Any, errors: list[str] | None) -> Iterator[Any]:
    """Frames of ``stream``, packet by packet. With ``errors`` a damaged packet (or a
    truncated container) is noted there and skipped, so every frame that can decode
    is seen and counted; without it the first error raises ProbeError."""
    import av

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as e:  # the container itself ends or breaks mid-stream
            if errors is None:
                raise ProbeError(f"{container.name}: decoding failed ({e})") from None
            errors.append(str(e))
            packet = None
        try:
            yield from packet.decode() if packet is not None else stream.decode(None)
        except av.FFmpegError as e:
            if errors is None:
                raise ProbeError(f"{container.name}: decoding failed ({e})") from None
            errors.append(str(e))
        if packet is None:
            return


def _count_vs_duration(frames: int, duration: float, fps: float) -> str | None:
    """A truncated file keeps its header: the header's duration promises more frames than
    decode. One frame of slack covers rounding of the last frame's duration."""
    promised = round(duration * fps)
    if abs(frames - promised) > max(1, round(0.01 * promised)):
        return (
            f"{frames} frames decode, but the header's duration {duration:.3f} s at "
            f"{fps:g} fps promises {promised} (truncated or corrupt)"
        )
    return None


def refuse_damaged(path: str | os.PathLike[str]) -> None:
    """A rejected-item error for a damaged video file (folders of frames pass)."""
    from ..errors import VidgenError

    if Path(path).is_dir():
        return
    r = probe(path)
    if r.damaged:
        raise VidgenError(
            f"{path} is damaged: {r.damage}; pass --allow-damaged to use the frames that decode"
        )


def _probe_audio(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Audio facts; the stream must decode to the end (samples are counted)."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        a = c.streams.audio[0]
        samples = 0
        try:
            for frame in c.decode(a):
                samples += frame.samples
        except av.FFmpegError as e:
            raise ProbeError(f"{path}: audio decoding failed ({e})") from None
        rate = a.codec_context.sample_rate
        played = _stream_seconds(a)
        return {
            "codec": a.codec_context.name,
            "sample_rate": rate,
            "channels": a.codec_context.channels,
            # what players play: the edit list trims AAC priming and the last
            # frame's padding (decoded_samples still counts whole 1024-sample frames)
            "duration": round(played if played is not None else samples / rate, 6),
            "decoded_samples": samples,
        }


def iter_rgb(path: str | os.PathLike[str], damaged_ok: bool = False) -> Iterator[NDArray[Any]]:
    """Decode to full-range 8-bit RGB, honouring the stream's matrix and range tags.

    A decode error raises ProbeError, unless ``damaged_ok``: then damaged packets are
    skipped and every frame that decodes is returned.

    Untagged streams are read as BT.709 limited range (what this pack writes).
    swscale's default YUV->RGB path is biased by 1-2 levels (measured, see
    docs/encode.md); full chroma interpolation with accurate rounding is not.
    """
    import av
    from av.video.reformatter import ColorRange, Colorspace, Interpolation

    flags = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
    container = _open(path)
    try:
        v = container.streams.video[0]
        v.thread_type = "AUTO"
        for frame in _decode(container, v, [] if damaged_ok else None):
            cs = {5: Colorspace.ITU601, 6: Colorspace.ITU601, 7: Colorspace.SMPTE240M,
                  9: Colorspace.BT2020}.get(int(frame.colorspace or 0), Colorspace.ITU709)  # fmt: skip
            rng = ColorRange.JPEG if frame.color_range == 2 else ColorRange.MPEG
            yield frame.reformat(
                format="rgb24",
                src_colorspace=cs,
                dst_colorspace=cs,
                src_color_range=rng,
                dst_color_range=ColorRange.JPEG,
                interpolation=flags,
            ).to_ndarray()
    except av.FFmpegError as e:
        raise ProbeError(f"{path}: decoding failed ({e})") from None
    finally:
        container.close()


def frame_rate_of(path: str | os.PathLike[str]) -> Fraction:
    """The video stream's average frame rate (for re-encoding a video input)."""
    container = _open(path)
    try:
        v = container.streams.video[0]
        rate = v.average_rate or v.guessed_rate or v.base_rate
        return Fraction(rate) if rate else Fraction(30)
    finally:
        container.close()
