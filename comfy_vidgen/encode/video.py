"""H.265 delivery encode on PyAV: hevc_nvenc when a session opens, else libx265.

Colour: frames arrive as full-range sRGB/BT.709 RGB; swscale converts them to
limited-range ("tv") Y'CbCr with the BT.709 matrix (ITU-R BT.709-6 table 3),
and the stream, the HEVC VUI and the MP4 ``colr`` box all say bt709/tv, so
players neither guess BT.601 nor stretch the range (the usual colour shift).

Timing: stream time base 1/fps, frame i at pts i, so N frames last exactly
N/fps seconds at a constant rate. Frames are encoded as they arrive; memory
does not grow with the clip length.

Atomicity: everything is written to a temp file beside the target; the
sidecar is written next, and the MP4 is renamed into place last, so when the
MP4 exists its sidecar already does, and an interrupted encode leaves nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import __version__
from ..fsutil import atomic_write_text, output_error, sha256_file, temp_path_beside
from .audio import AudioInput, PreparedAudio, as_audio_input, check_audio, prepare_audio
from .errors import EncodeError, EncoderUnavailable, FrameError
from .settings import ENCODERS, X265_PRESETS, EncodeDefaults, defaults

log = logging.getLogger(__name__)

SIDECAR_SCHEMA = "comfy-vidgen/encode@1"
MIN_SIDE, MAX_SIDE = 16, 8192
ProgressFn = Callable[[int, int], None]

_BT709 = 1  # AVCOL_PRI_BT709 == AVCOL_TRC_BT709 == AVCOL_SPC_BT709
_RANGE_TV = 1  # AVCOL_RANGE_MPEG
#: +faststart: the index (moov) goes before the media, so playback starts while
#: downloading. movie_timescale: edit-list durations are counted in this unit;
#: MP4's default of 1000 would round 25 frames at 24 fps (1.041666 s) and cut
#: the AAC track to whole milliseconds. 48000 is exact for the audio rate and
#: for every integer and NTSC frame rate up to 240 fps whose period divides it.
_MUX_OPTIONS = {"movflags": "+faststart", "movie_timescale": "48000"}


@dataclass(frozen=True)
class EncoderChoice:
    name: str  # "hevc_nvenc" or "libx265"
    #: for logs, the sidecar and the audit: may hold FFmpeg's error text and the probe's time
    reason: str
    #: what the delivery file's own tags record: the same words for every clip that makes
    #: this choice (FFmpeg words the same failure differently on its first and later
    #: attempts in a process, and the probe's time varies), so the file's bytes depend
    #: only on the manifest, the workflow and the models
    summary: str = ""


@dataclass
class EncodeResult:
    """What was written and how; ``to_dict()`` is the sidecar's core."""

    path: str
    encoder: str
    encoder_reason: str
    frames: int
    fps: float
    duration: float
    width: int
    height: int
    bit_depth: int
    pix_fmt: str
    quality: int
    preset: str
    size_bytes: int
    sha256: str
    wall_seconds: float
    sidecar: str | None = None
    audio: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- checks


def parse_fps(fps: int | float | str | Fraction) -> Fraction:
    """30, 23.976, '30000/1001' or a Fraction -> a Fraction in 1..240."""
    try:
        rate = Fraction(fps).limit_denominator(1001)
    except (ValueError, TypeError, ZeroDivisionError):
        raise EncodeError(
            f"fps must be a number or a fraction like 30000/1001, got {fps!r}"
        ) from None
    if not 1 <= rate <= 240:
        raise EncodeError(f"fps must be between 1 and 240, got {fps!r}")
    return rate


def check_settings(quality: int, bit_depth: int, encoder: str, preset: str) -> None:
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 51:
        raise EncodeError(
            f"quality must be an integer 0..51 (CRF/CQ; lower is better), got {quality!r}"
        )
    if bit_depth not in (8, 10):
        raise EncodeError(f"bit_depth must be 8 or 10, got {bit_depth!r}")
    if encoder not in ENCODERS:
        raise EncodeError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
    if preset not in X265_PRESETS:
        raise EncodeError(f"preset must be one of {', '.join(X265_PRESETS)}, got {preset!r}")


def _as_frame_array(item: Any, index: int) -> NDArray[Any]:
    if hasattr(item, "detach"):  # torch tensor (possibly on a GPU, possibly bf16)
        item = item.detach().to("cpu")
        if str(item.dtype) != "torch.uint8":
            item = item.float()
        item = item.numpy()
    arr = np.asarray(item)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise FrameError(
            f"frame {index} has shape {arr.shape}; expected HxWx3 RGB (or batches shaped [B,H,W,3])"
        )
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        return arr
    if arr.dtype.kind != "f":
        raise FrameError(
            f"frame {index} has dtype {arr.dtype}; expected uint8, uint16 or float in 0..1"
        )
    if not np.isfinite(arr).all():
        raise FrameError(f"frame {index} contains NaN or infinite values")
    return arr


def iter_frames(frames: Any) -> Iterator[NDArray[Any]]:
    """Flatten arrays, tensors and iterables of either into single HxWx3 frames."""
    if hasattr(frames, "ndim") and getattr(frames, "ndim", 0) in (3, 4):
        batches: Iterable[Any] = [frames]
    elif isinstance(frames, Iterable) and not isinstance(frames, str | bytes):
        batches = frames
    else:
        raise FrameError(
            f"frames must be an iterable of HxWx3 arrays or [B,H,W,3] batches, "
            f"got {type(frames).__name__}"
        )
    index = 0
    for batch in batches:
        ndim = getattr(batch, "ndim", None)
        if ndim is None:
            batch = np.asarray(batch)
            ndim = batch.ndim
        if ndim == 4:
            for i in range(batch.shape[0]):
                yield _as_frame_array(batch[i], index)
                index += 1
        else:
            yield _as_frame_array(batch, index)
            index += 1


def count_frames(frames: Any) -> int:
    """The frame total when knowable without consuming an iterator, else 0."""
    ndim = getattr(frames, "ndim", None)
    if ndim == 4:
        return int(frames.shape[0])
    if ndim == 3:
        return 1
    if isinstance(frames, list | tuple):
        return sum(int(f.shape[0]) if getattr(f, "ndim", 3) == 4 else 1 for f in frames)
    return 0


def _check_size(width: int, height: int) -> None:
    for name, v in (("width", width), ("height", height)):
        if not MIN_SIDE <= v <= MAX_SIDE:
            raise FrameError(
                f"frame {name} {v} is outside {MIN_SIDE}..{MAX_SIDE} pixels ({width}x{height})"
            )
        if v % 2:
            raise FrameError(
                f"frame {name} {v} is odd: 4:2:0 H.265 needs even sizes "
                f"(crop or pad {width}x{height} to an even size)"
            )


# --------------------------------------------------------------------------- encoder choice


def _pix_fmt(encoder: str, bit_depth: int) -> str:
    if encoder == "hevc_nvenc":
        return "p010le" if bit_depth == 10 else "yuv420p"
    return "yuv420p10le" if bit_depth == 10 else "yuv420p"


def _codec_options(
    encoder: str, quality: int, preset: str, bit_depth: int, gop: int, d: EncodeDefaults
) -> dict[str, str]:
    if encoder == "hevc_nvenc":
        return {
            "preset": d.nvenc_presets[preset],
            "tune": d.nvenc_tune,
            "rc": d.nvenc_rc,
            "cq": str(quality),
            "b": "0",
            "profile": "main10" if bit_depth == 10 else "main",
            "spatial_aq": str(d.nvenc_spatial_aq),
            "g": str(gop),
        }
    return {
        "crf": str(quality),
        "preset": preset,
        "x265-params": f"{d.x265_params}:keyint={gop}",
    }


def _configure(cc: Any, width: int, height: int, pix_fmt: str, rate: Fraction) -> None:
    cc.width, cc.height, cc.pix_fmt = width, height, pix_fmt
    cc.time_base = 1 / rate
    cc.framerate = rate
    cc.color_primaries = _BT709
    cc.color_trc = _BT709
    cc.colorspace = _BT709
    cc.color_range = _RANGE_TV


def _ffmpeg_message(exc: BaseException, logs: list[tuple[int, str, str]]) -> str:
    lines = [m.strip() for level, _name, m in logs if level <= 16 and m.strip()]
    detail = "; ".join(dict.fromkeys(lines))
    text = str(exc)
    if not detail and "last error log:" in text:
        detail = text.split("last error log:", 1)[1].strip()
    return detail or text


def nvenc_session_error(
    width: int, height: int, bit_depth: int, rate: Fraction = Fraction(30)
) -> str | None:
    """Try to open a real hevc_nvenc session; None if it opens, else FFmpeg's reason."""
    import av
    import av.logging

    if "hevc_nvenc" not in av.codecs_available:
        return "this FFmpeg build has no hevc_nvenc encoder"
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)  # so the "last error log" reaches the exception
    try:
        with av.logging.Capture(local=True) as logs:
            try:
                cc = av.CodecContext.create("hevc_nvenc", "w")
                _configure(cc, width, height, _pix_fmt("hevc_nvenc", bit_depth), rate)
                cc.options = {"profile": "main10" if bit_depth == 10 else "main"}
                cc.open()
                del cc  # frees the session (avcodec_free_context)
                return None
            except (av.FFmpegError, ValueError) as e:
                return _ffmpeg_message(e, list(logs))
    finally:
        av.logging.set_level(previous)


#: Hook for tests and tools: replaces the real NVENC probe when set.
_nvenc_probe: Callable[[int, int, int, Fraction], str | None] = nvenc_session_error


def choose_encoder(
    encoder: str, width: int, height: int, bit_depth: int, rate: Fraction
) -> EncoderChoice:
    """``auto``: NVENC if a session opens, else libx265 with the reason; explicit: as asked."""
    if encoder == "libx265":
        return EncoderChoice("libx265", "requested explicitly", "requested explicitly")
    t0 = time.perf_counter()
    error = _nvenc_probe(width, height, bit_depth, rate)
    probe_ms = (time.perf_counter() - t0) * 1000
    if error is None:
        why = "requested explicitly" if encoder == "hevc_nvenc" else "auto: an NVENC session opened"
        return EncoderChoice("hevc_nvenc", f"{why} (probe {probe_ms:.0f} ms)", why)
    if encoder == "hevc_nvenc":
        raise EncoderUnavailable(
            f"encoder hevc_nvenc was requested but cannot open a session on this machine: "
            f"{error}. Use --encoder auto (falls back to libx265) or --encoder libx265."
        )
    log.info("hevc_nvenc unavailable (%s); falling back to libx265", error)
    return _fell_back("unavailable", error)


def _fell_back(what: str, error: object) -> EncoderChoice:
    """libx265 because NVENC was ``what``: the error in the reason, not in the summary."""
    return EncoderChoice(
        "libx265",
        f"auto: hevc_nvenc {what} ({error}); fell back to libx265",
        f"auto: hevc_nvenc {what}; fell back to libx265",
    )


# --------------------------------------------------------------------------- encode


# BT.709 luma coefficients (ITU-R BT.709-6, table 3, item 3.2).
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB


def _down2(c: NDArray[np.float32]) -> NDArray[np.float32]:
    """4:2:0 chroma by 2x2 averaging: "center" siting (H.273 chroma_loc_type 1).

    The same siting swscale uses for 8-bit input and assumes when decoding, and
    the one the x265 VUI declares (``chromaloc=1``), so chroma does not shift by
    half a pixel between the two input paths or on the way back.
    """
    v = c[0::2] + c[1::2]
    out: NDArray[np.float32] = (v[:, 0::2] + v[:, 1::2]) * np.float32(0.25)
    return out


def rgb_to_yuv420(rgb: NDArray[Any], bits: int) -> NDArray[Any]:
    """Full-range R'G'B' (float 0..1 or uint16) -> limited-range BT.709 4:2:0 planes.

    Returned as PyAV's packed ``[H*3/2, W]`` layout (Y, then U, then V). Done in
    float32 so float frames keep more than 8 bits of precision (swscale's 16-bit
    RGB input path is biased by about +0.5 levels; measured, see docs/encode.md).
    """
    x = rgb.astype(np.float32)
    if rgb.dtype == np.uint16:
        x *= np.float32(1 / 65535)
    np.clip(x, 0.0, 1.0, out=x)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = _KR * r + _KG * g + _KB * b
    rd, gd, bd = _down2(r), _down2(g), _down2(b)
    yd = _KR * rd + _KG * gd + _KB * bd
    cb = (bd - yd) / np.float32(2 * (1 - _KB))
    cr = (rd - yd) / np.float32(2 * (1 - _KR))
    scale = np.float32(1 << (bits - 8))
    top = (1 << bits) - 1
    dtype = np.uint16 if bits > 8 else np.uint8
    # Limited range: Y' = 16 + 219 E'y, C = 128 + 224 E'c (scaled by 2^(bits-8)).
    yq = np.clip(np.rint((16 + 219 * y) * scale), 0, top).astype(dtype)
    cbq = np.clip(np.rint((128 + 224 * cb) * scale), 0, top).astype(dtype)
    crq = np.clip(np.rint((128 + 224 * cr) * scale), 0, top).astype(dtype)
    h, w = yq.shape
    return np.concatenate([yq.ravel(), cbq.ravel(), crq.ravel()]).reshape(h * 3 // 2, w)


def _to_video_frame(arr: NDArray[Any], pix_fmt: str, reformatter: Any = None) -> Any:
    """One RGB frame -> a tagged BT.709 limited-range YUV frame in ``pix_fmt``.

    Pass one ``VideoReformatter`` per encode: it keeps its swscale context, which
    is otherwise rebuilt (filters and all) for every frame.
    """
    import av
    from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter

    if arr.dtype == np.uint8:
        # swscale with accurate rounding is exact enough from 8-bit (bias < 0.05
        # levels, measured) and much faster than numpy.
        src = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        out = (reformatter or VideoReformatter()).reformat(
            src,
            format=pix_fmt,
            src_colorspace=Colorspace.ITU709,
            dst_colorspace=Colorspace.ITU709,
            src_color_range=ColorRange.JPEG,
            dst_color_range=ColorRange.MPEG,
            interpolation=Interpolation.BICUBIC | Interpolation.ACCURATE_RND,
        )
    else:
        ten = pix_fmt in ("yuv420p10le", "p010le")
        planes = rgb_to_yuv420(arr, 10 if ten else 8)
        out = av.VideoFrame.from_ndarray(planes, format="yuv420p10le" if ten else "yuv420p")
        if pix_fmt == "p010le":
            out = out.reformat(format="p010le")  # a repack: same 10-bit values, MSB-aligned
    out.colorspace = _BT709
    out.color_range = _RANGE_TV
    out.color_primaries = _BT709
    out.color_trc = _BT709
    return out


def _manifest_facts(
    metadata: Mapping[str, Any],
) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """(manifest dict, manifest_hash, manifest id) from metadata['manifest'], if any."""
    m = metadata.get("manifest")
    if m is None:
        return None, None, None
    from ..manifest import Manifest, manifest_dict, manifest_hash, parse_manifest

    if not isinstance(m, Manifest):
        m = getattr(m, "manifest", m)
    if not isinstance(m, Manifest):
        m = parse_manifest(m, source="metadata['manifest']")
    return manifest_dict(m), manifest_hash(m), m.id


def _container_tags(
    title: str, manifest_id: str | None, mhash: str | None, choice: EncoderChoice
) -> dict[str, str]:
    parts = [f"comfy-vidgen {__version__}", f"encoder={choice.name}"]
    if manifest_id is not None:
        parts.append(f"manifest={manifest_id}")
        parts.append(f"manifest_hash={mhash}")
    return {"title": title, "comment": "; ".join(parts), "description": choice.summary}


def _add_audio_stream(container: Any, rate: int, bitrate: int) -> Any:
    """The AAC stream must exist before the header is written (first mux)."""
    stream = container.add_stream("aac", rate=rate, layout="stereo")
    stream.bit_rate = bitrate
    stream.time_base = Fraction(1, rate)
    return stream


def _encode_audio(container: Any, stream: Any, prepared: PreparedAudio) -> None:
    import av

    samples = prepared.samples
    step = 1024  # one AAC frame
    tb = Fraction(1, prepared.sample_rate)
    for start in range(0, samples.shape[1], step):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples[:, start : start + step]), format="fltp", layout="stereo"
        )
        frame.sample_rate = prepared.sample_rate
        frame.pts = start
        frame.time_base = tb
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


@dataclass
class _Run:
    """State of one encode attempt (so a failed NVENC open can retry cleanly)."""

    choice: EncoderChoice
    pix_fmt: str
    options: dict[str, str]
    container: Any = None
    stream: Any = None
    audio_stream: Any = None


def encode(
    frames: Any,
    path: str | os.PathLike[str],
    fps: int | float | str | Fraction = 30,
    quality: int | None = None,
    bit_depth: int | None = None,
    encoder: str = "auto",
    preset: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    audio: Any = None,
    on_progress: ProgressFn | None = None,
    sidecar: bool = True,
) -> EncodeResult:
    """Encode RGB frames to an H.265 MP4 at ``path`` (plus ``<path>.json`` sidecar).

    ``frames``: an iterable of HxWx3 uint8 / uint16 / float (0..1) arrays or
    [B,H,W,3] numpy/torch batches. ``quality`` is the CRF (libx265) or CQ
    (NVENC), ``preset`` a libx265 preset name (mapped for NVENC).
    ``metadata`` may carry ``title``, ``manifest`` (a Manifest or its dict) and
    any JSON-able extras for the sidecar. ``audio`` is a file path, an
    ``AudioInput`` or ComfyUI's AUDIO dict.
    """
    import av

    d = defaults()
    quality = d.quality if quality is None else quality
    bit_depth = d.bit_depth if bit_depth is None else bit_depth
    preset = d.preset if preset is None else preset
    check_settings(quality, bit_depth, encoder, preset)
    rate = parse_fps(fps)
    metadata = dict(metadata or {})
    manifest, mhash, manifest_id = _manifest_facts(metadata)
    audio_in: AudioInput | None = as_audio_input(audio) if audio is not None else None
    if audio_in is not None:
        check_audio(audio_in)
    final = Path(path)
    if final.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise EncodeError(f"output {final} must end in .mp4, .m4v or .mov")
    if final.is_dir():
        raise EncodeError(f"output {final} is a directory")

    t0 = time.perf_counter()
    total = count_frames(frames)
    it = iter_frames(frames)
    first = next(it, None)
    if first is None:
        raise FrameError("no frames to encode (the input is empty)")
    height, width = int(first.shape[0]), int(first.shape[1])
    _check_size(width, height)
    gop = max(1, round(d.gop_seconds * rate))
    choice = choose_encoder(encoder, width, height, bit_depth, rate)
    title = str(metadata.get("title") or manifest_id or final.stem)

    tmp = temp_path_beside(final, suffix=final.suffix)
    side_path = final.with_suffix(".json")
    n = 0
    run: _Run | None = None

    def open_run(c: EncoderChoice) -> _Run:
        r = _Run(
            c,
            _pix_fmt(c.name, bit_depth),
            _codec_options(c.name, quality, preset, bit_depth, gop, d),
        )
        r.container = av.open(str(tmp), "w", format="mp4", container_options=_MUX_OPTIONS)
        try:
            r.container.metadata.update(_container_tags(title, manifest_id, mhash, c))
            r.stream = r.container.add_stream(c.name, rate=rate)
            _configure(r.stream.codec_context, width, height, r.pix_fmt, rate)
            r.stream.time_base = 1 / rate
            r.stream.codec_context.codec_tag = "hvc1"  # Apple players refuse 'hev1'
            r.stream.options = r.options
            r.stream.codec_context.open()  # fail here, before any frame, if refused
            if audio_in is not None:
                r.audio_stream = _add_audio_stream(
                    r.container, d.audio.sample_rate, d.audio.bitrate
                )
        except BaseException:
            with contextlib.suppress(Exception):
                r.container.close()
            raise
        return r

    try:
        try:
            run = open_run(choice)
        except av.FFmpegError as e:
            if choice.name != "hevc_nvenc":
                raise EncodeError(f"{choice.name} could not be opened: {e}") from None
            if encoder == "hevc_nvenc":
                raise EncoderUnavailable(
                    f"hevc_nvenc probed fine but its session failed to open: {e}"
                ) from None
            choice = _fell_back("session failed to open", e)
            run = open_run(choice)
        log.info(
            "encoding %dx%d @ %s fps with %s (%s)", width, height, rate, choice.name, choice.reason
        )
        stream, container = run.stream, run.container
        from av.video.reformatter import VideoReformatter

        reformatter = VideoReformatter()
        held = [first]
        del first  # frames must not outlive their encode (memory stays flat)
        frame_iter: Iterator[NDArray[Any]] = _chain(held, it)
        pix_fmt = run.pix_fmt

        def convert(i: int, arr: NDArray[Any]) -> Any:
            if arr.shape[:2] != (height, width):
                raise FrameError(
                    f"frame {i} is {arr.shape[1]}x{arr.shape[0]}, but frame 0 is {width}x{height}; "
                    "all frames must have the same size"
                )
            return _to_video_frame(arr, pix_fmt, reformatter)

        dts = _DtsGuard(int(getattr(stream.codec_context, "has_b_frames", 0) or 0))
        with _Prefetch(frame_iter, convert) as converted:
            for vf in converted:
                vf.pts = n
                vf.time_base = 1 / rate
                for packet in stream.encode(vf):
                    container.mux(dts.fix(packet))
                n += 1
                if on_progress is not None:
                    on_progress(n, max(total, n))
        for packet in stream.encode(None):
            container.mux(dts.fix(packet))
        duration = Fraction(n) / rate
        audio_info: dict[str, Any] | None = None
        if audio_in is not None:
            n_samples = round(duration * d.audio.sample_rate)
            prepared = prepare_audio(audio_in, n_samples, d.audio)
            _encode_audio(container, run.audio_stream, prepared)
            audio_info = prepared.info
        container.close()
        run = None
        wall = time.perf_counter() - t0
        result = EncodeResult(
            path=str(final),
            encoder=choice.name,
            encoder_reason=choice.reason,
            frames=n,
            fps=float(rate),
            duration=round(float(duration), 6),
            width=width,
            height=height,
            bit_depth=bit_depth,
            pix_fmt=_pix_fmt(choice.name, bit_depth),
            quality=quality,
            preset=preset,
            size_bytes=tmp.stat().st_size,
            sha256=sha256_file(tmp),
            wall_seconds=round(wall, 3),
            sidecar=str(side_path) if sidecar else None,
            audio=audio_info,
            settings={
                "codec": "hevc",
                "codec_tag": "hvc1",
                "fps_fraction": f"{rate.numerator}/{rate.denominator}",
                "gop": gop,
                "color": {
                    "input": "full-range RGB, sRGB/BT.709",
                    "matrix": "bt709",
                    "primaries": "bt709",
                    "transfer": "bt709",
                    "range": "tv",
                },
                "movflags": "+faststart",
                "encoder_options": run_options(choice.name, quality, preset, bit_depth, gop, d),
            },
        )
        if sidecar:
            atomic_write_text(
                side_path, _sidecar_json(result, metadata, manifest, mhash, manifest_id)
            )
        try:
            os.replace(tmp, final)
        except OSError:
            if sidecar:
                with contextlib.suppress(FileNotFoundError):
                    side_path.unlink()
            raise
        log.info(
            "wrote %s (%d frames, %.3f s, %d bytes) in %.2f s",
            final,
            n,
            duration,
            result.size_bytes,
            wall,
        )
        return result
    except av.error.OSError as e:  # disk full or an I/O error while muxing: one line
        raise output_error(final, e) from None
    finally:
        if run is not None and run.container is not None:
            with contextlib.suppress(Exception):
                run.container.close()
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def run_options(
    encoder: str, quality: int, preset: str, bit_depth: int, gop: int, d: EncodeDefaults
) -> dict[str, str]:
    """The exact FFmpeg encoder options used (recorded in the sidecar)."""
    return _codec_options(encoder, quality, preset, bit_depth, gop, d)


#: frames converted ahead of the encoder (bounds memory: about this many + 2 frames)
PREFETCH_DEPTH = 3
_DONE = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _DtsGuard:
    """Repair an impossible decode timestamp before muxing.

    libx265 (via PyAV's FFmpeg 8) sometimes hands back the first packet of a very
    short clip (2 frames) with an uninitialised dts (e.g. -244813135929 for pts 0);
    the MP4 muxer then fails with "patches welcome". A dts is valid when it is at
    most pts and at most ``MAX_REORDER`` frames before it, and strictly increases;
    anything else is replaced by the smallest value that satisfies both.
    """

    MAX_REORDER = 64

    def __init__(self, reorder_delay: int) -> None:
        self.delay = max(0, reorder_delay)
        self.last: int | None = None

    def fix(self, packet: Any) -> Any:
        pts, dts = packet.pts, packet.dts
        if pts is not None:
            bad = dts is None or dts > pts or pts - dts > self.MAX_REORDER
            if bad or (self.last is not None and dts <= self.last):
                fixed = pts - self.delay if self.last is None else self.last + 1
                log.debug("encoder dts %s for pts %s repaired to %s", dts, pts, fixed)
                packet.dts = fixed
            self.last = packet.dts
        return packet


class _Prefetch:
    """Pulls and converts frames in a worker thread while the caller encodes.

    The ffmpeg CLI converts RGB -> YUV in its filter thread while x265 encodes;
    doing it in the encoding thread serialises the two. swscale and
    ``avcodec_send_frame`` both release the GIL, so a worker overlaps them.
    The queue is bounded (memory stays flat); an exception in the worker (a bad
    frame, a failing source iterator) is re-raised in the caller at that frame;
    leaving the ``with`` block early (error, cancel) stops and joins the worker.
    Order, and so the bitstream, is unchanged.
    """

    def __init__(
        self, frames: Iterator[NDArray[Any]], convert: Callable[[int, NDArray[Any]], Any]
    ) -> None:
        self._frames, self._convert = frames, convert
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=PREFETCH_DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._work, name="vidgen-encode-convert", daemon=True
        )

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for i, arr in enumerate(self._frames):
                if self._stop.is_set():
                    return
                item = self._convert(i, arr)
                del arr
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as e:  # handed to the caller, raised there
            self._put(_Failed(e))

    def __enter__(self) -> Iterator[Any]:
        self._thread.start()
        return self._iter()

    def _iter(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._thread.join()


def _chain(held: list[NDArray[Any]], rest: Iterator[NDArray[Any]]) -> Iterator[NDArray[Any]]:
    """Yield the peeked first frame, then the rest, keeping no reference to it."""
    yield held.pop()
    yield from rest


def _sidecar_json(
    result: EncodeResult,
    metadata: Mapping[str, Any],
    manifest: dict[str, Any] | None,
    mhash: str | None,
    manifest_id: str | None,
) -> str:
    import av

    extra = {k: v for k, v in metadata.items() if k != "manifest"}
    doc: dict[str, Any] = {
        "schema": SIDECAR_SCHEMA,
        "file": Path(result.path).name,
        **result.to_dict(),
        "manifest_id": manifest_id,
        "manifest_hash": mhash,
        "manifest": manifest,
        "metadata": extra,
        "pack_version": __version__,
        "pyav_version": av.__version__,
        "ffmpeg_version": ".".join(str(v) for v in av.ffmpeg_version_info)
        if isinstance(av.ffmpeg_version_info, tuple)
        else str(av.ffmpeg_version_info),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    doc.pop("sidecar", None)
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"


def psnr(a: NDArray[Any], b: NDArray[Any], peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (used by tests and the benchmark)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)
