"""Delivery encoder: real encodes of real photographs, read back by real decodes."""

from __future__ import annotations

import gc
import json
import struct
import threading
import weakref
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from conftest import photo
from numpy.typing import NDArray

from comfy_vidgen.encode import (
    EncodeError,
    EncoderUnavailable,
    FrameError,
    ProbeError,
    encode,
    iter_rgb,
    nvenc_session_error,
    probe,
    psnr,
)
from comfy_vidgen.encode import video as V
from comfy_vidgen.fsutil import sha256_file

W, H = 256, 144
NVENC_ERROR = nvenc_session_error(W, H, 10)

# 75 % colour bars (ITU-R BT.801 order): white, yellow, cyan, green, magenta, red, blue.
BARS = [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0),
        (191, 0, 191), (191, 0, 0), (0, 0, 191), (16, 16, 16)]  # fmt: skip
BAR_W = 32  # W / 8, even so no bar edge splits a chroma pair


def colour_bars() -> NDArray[np.uint8]:
    img = np.zeros((H, W, 3), np.uint8)
    for i, c in enumerate(BARS):
        img[:, i * BAR_W : (i + 1) * BAR_W] = c
    return img


def clip_frames() -> list[NDArray[np.uint8]]:
    """Three real photographs, each panned 3 px per frame, then still colour bars."""
    frames = []
    for name in ("astronaut", "coffee", "chelsea"):
        img = photo(name)
        frames += [np.ascontiguousarray(img[40 : 40 + H, 3 * i : 3 * i + W]) for i in range(6)]
    frames += [colour_bars()] * 4
    return frames


def luma(x: NDArray[Any]) -> NDArray[np.float64]:
    return x[..., 0] * 0.2126 + x[..., 1] * 0.7152 + x[..., 2] * 0.0722


def reference_decode(frame: Any) -> NDArray[np.float64]:
    """Limited-range BT.709 Y'CbCr -> R'G'B' (0..255), written out from the standard
    so the check does not depend on swscale (nearest-neighbour chroma)."""
    bits = 10 if frame.format.name == "yuv420p10le" else 8
    dtype = np.uint16 if bits == 10 else np.uint8
    planes = []
    for p in frame.planes:
        row = p.line_size // np.dtype(dtype).itemsize
        planes.append(np.frombuffer(p, dtype).reshape(p.height, row)[:, : p.width].astype(float))
    s = 2 ** (bits - 8)
    y = (planes[0] / s - 16) / 219
    cb = np.repeat(np.repeat((planes[1] / s - 128) / 224, 2, 0), 2, 1)
    cr = np.repeat(np.repeat((planes[2] / s - 128) / 224, 2, 0), 2, 1)
    kr, kb = 0.2126, 0.0722
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], -1) * 255, 0, 255)  # as every decoder clips


@pytest.mark.parametrize("bit_depth", [10, 8])
@pytest.mark.parametrize("kind", ["uint8", "float_batch"])
def test_round_trip_colour_is_true(tmp_path: Path, bit_depth: int, kind: str) -> None:
    frames = clip_frames()
    src = np.stack(frames).astype(np.float64)
    data: Any = frames
    if kind == "float_batch":
        import torch

        data = torch.from_numpy(np.stack(frames).astype(np.float32) / 255.0)
    r = encode(data, tmp_path / "rt.mp4", bit_depth=bit_depth)
    out = np.stack(list(iter_rgb(r.path))).astype(np.float64)
    assert out.shape == src.shape

    bias = (out - src).mean(axis=(0, 1, 2))
    assert np.all(np.abs(bias) <= 0.5), f"per-channel bias {bias}"
    # Codec fidelity on luma (the standard measure) and in RGB against the
    # unavoidable 4:2:0 reference (the same frames converted and read back unencoded).
    assert psnr(luma(src), luma(out)) >= 40.0
    ref = np.stack(
        [
            V._to_video_frame(np.asarray(f), r.pix_fmt)
            .reformat(
                format="rgb24",
                src_colorspace=1,
                dst_colorspace=1,
                src_color_range=1,
                dst_color_range=2,
                interpolation=270340,
            )  # fmt: skip
            .to_ndarray()
            for f in (frames if kind == "uint8" else [f.astype(np.float32) / 255 for f in frames])
        ]
    ).astype(np.float64)
    assert psnr(ref, out) >= 40.0

    # The matrix and range themselves, read without swscale: bar interiors keep their value.
    with av.open(r.path) as c:
        last = list(c.decode(video=0))[-1]
    decoded = reference_decode(last)
    for i, colour in enumerate(BARS):
        inner = decoded[8:-8, i * BAR_W + 4 : (i + 1) * BAR_W - 4].reshape(-1, 3).mean(axis=0)
        # half a code step of Cb/Cr is ~1.06 levels of R/B at 8 bits, a quarter of that at 10
        atol = 1.25 if bit_depth == 8 else 0.5
        assert np.allclose(inner, colour, atol=atol), f"bar {colour} came back as {inner}"


def _top_level_boxes(path: str) -> list[str]:
    names = []
    with open(path, "rb") as f:
        while header := f.read(8):
            size, name = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
                f.seek(size - 16, 1)
            else:
                f.seek(size - 8, 1)
            names.append(name.decode("latin-1"))
    return names


def test_stream_tags_hvc1_faststart_and_provenance(tmp_path: Path, coffee_jpeg: Path) -> None:
    from comfy_vidgen.manifest import build_manifest, full_crop, manifest_hash

    crop = full_crop(600, 400, 1024, 576)
    m = build_manifest(keyframe=coffee_jpeg, input_root=coffee_jpeg.parent, motion_type="static",
                       start=crop, end=crop, workflow="camera_only@1", seed=7)  # fmt: skip
    out = tmp_path / "out"
    r = encode(clip_frames()[:4], out / "tags.mp4", preset="ultrafast",
               metadata={"manifest": m, "job_id": "job-1"})  # fmt: skip
    p = probe(r.path).to_dict()
    assert list(p) == ["frames", "fps", "duration", "width", "height", "codec", "codec_tag",
                       "pix_fmt", "color_primaries", "color_trc", "colorspace", "color_range",
                       "bit_depth", "audio", "damaged", "damage"]  # fmt: skip
    assert (p["damaged"], p["damage"]) == (False, None)
    assert (p["codec"], p["codec_tag"], p["pix_fmt"], p["bit_depth"]) == (
        "hevc", "hvc1", "yuv420p10le", 10)  # fmt: skip
    assert (p["color_primaries"], p["color_trc"], p["colorspace"], p["color_range"]) == (
        "bt709", "bt709", "bt709", "tv")  # fmt: skip
    assert p["audio"] is None
    boxes = _top_level_boxes(r.path)
    assert boxes.index("moov") < boxes.index("mdat"), boxes  # +faststart

    with av.open(r.path) as c:
        tags = dict(c.metadata)
    assert tags["title"] == m.id
    assert f"manifest={m.id}" in tags["comment"]
    assert f"manifest_hash={manifest_hash(m)}" in tags["comment"]
    assert "encoder=libx265" in tags["comment"] or "encoder=hevc_nvenc" in tags["comment"]
    assert "comfy-vidgen" in tags["comment"]

    side = json.loads(Path(r.sidecar or "").read_text())
    assert side["sha256"] == sha256_file(r.path) == r.sha256
    assert side["size_bytes"] == Path(r.path).stat().st_size
    assert side["manifest_hash"] == manifest_hash(m)
    assert side["manifest"]["id"] == m.id
    assert side["encoder"] == r.encoder and side["encoder_reason"] == r.encoder_reason
    assert side["settings"]["encoder_options"]["preset"] == "ultrafast"
    assert side["metadata"]["job_id"] == "job-1"
    assert side["pack_version"]
    assert sorted(p.name for p in out.iterdir()) == ["tags.json", "tags.mp4"]


@pytest.mark.parametrize(("n", "fps"), [(120, 30), (121, 30), (25, 24)])
def test_timing_is_exact(tmp_path: Path, n: int, fps: int) -> None:
    frames = np.zeros((n, 64, 64, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(n, dtype=np.uint8)[:, None, None]  # every frame differs
    r = encode(frames, tmp_path / "t.mp4", fps=fps, preset="ultrafast", sidecar=False)
    p = probe(r.path)
    assert p.frames == r.frames == n
    assert p.fps == fps
    assert p.duration == pytest.approx(n / fps, abs=1e-6)
    assert r.duration == pytest.approx(n / fps, abs=1e-6)
    with av.open(r.path) as c:
        s = c.streams.video[0]
        pts = [f.pts * s.time_base * fps for f in c.decode(s)]
    assert pts == [Fraction(i) for i in range(n)]  # constant rate, 0..n-1


def test_frames_stream_through_without_accumulating(tmp_path: Path) -> None:
    refs: list[weakref.ref[NDArray[np.uint8]]] = []

    def gen() -> Iterator[NDArray[np.uint8]]:
        for i in range(24):
            if i >= 4:
                gc.collect()
                assert refs[i - 4]() is None, f"frame {i - 4} is still held by the encoder"
            a = np.full((64, 64, 3), i * 10, np.uint8)
            refs.append(weakref.ref(a))
            yield a

    seen: list[tuple[int, int]] = []
    r = encode(gen(), tmp_path / "g.mp4", preset="ultrafast",
               on_progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    assert r.frames == 24 and probe(r.path).frames == 24
    assert [d for d, _ in seen] == list(range(1, 25))


# --------------------------------------------------------------------------- encoder choice


def test_auto_records_what_it_chose_and_why(tmp_path: Path) -> None:
    r = encode(np.zeros((3, H, W, 3), np.uint8), tmp_path / "a.mp4", preset="ultrafast")
    if NVENC_ERROR is None:
        assert r.encoder == "hevc_nvenc"
    else:
        assert r.encoder == "libx265"
        assert r.encoder_reason.startswith("auto: hevc_nvenc unavailable")
        assert NVENC_ERROR in r.encoder_reason


@pytest.mark.skipif(NVENC_ERROR is None, reason="this machine has a working NVENC")
def test_explicit_nvenc_without_nvenc_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderUnavailable, match="hevc_nvenc was requested") as e:
        encode(np.zeros((3, H, W, 3), np.uint8), tmp_path / "n.mp4", encoder="hevc_nvenc")
    assert "--encoder auto" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_auto_falls_back_when_the_session_probe_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(V, "_nvenc_probe", lambda w, h, b, r: "OpenEncodeSessionEx failed: busy")
    r = encode(np.zeros((2, 64, 64, 3), np.uint8), tmp_path / "b.mp4", preset="ultrafast")
    assert r.encoder == "libx265"
    assert "OpenEncodeSessionEx failed: busy" in r.encoder_reason
    with pytest.raises(EncoderUnavailable, match="busy"):
        encode(np.zeros((2, 64, 64, 3), np.uint8), tmp_path / "c.mp4", encoder="hevc_nvenc")


def test_the_file_does_not_depend_on_how_the_probe_words_its_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FFmpeg words the same NVENC failure differently on its first and later attempts in
    a process; the delivery's bytes must not follow (the reason stays in the result)."""
    frames = np.random.default_rng(3).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    digests, reasons = [], []
    for i, words in enumerate(
        ("Cannot load libcuda.so.1", "[hevc_nvenc] Cannot load libcuda.so.1")
    ):
        monkeypatch.setattr(V, "_nvenc_probe", lambda w, h, b, r, words=words: words)
        (tmp_path / str(i)).mkdir()
        r = encode(frames, tmp_path / str(i) / "clip.mp4", preset="ultrafast")
        digests.append(sha256_file(r.path))
        reasons.append(r.encoder_reason)
    assert digests[0] == digests[1]
    assert "[hevc_nvenc] Cannot load" in reasons[1] and "[hevc_nvenc]" not in reasons[0]


@pytest.mark.skipif(NVENC_ERROR is None, reason="needs a machine where NVENC cannot open")
def test_auto_falls_back_when_the_real_session_then_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The probe says yes (as if a session opened), the real open then fails
    # (e.g. the GPU's session limit was reached in between).
    monkeypatch.setattr(V, "_nvenc_probe", lambda w, h, b, r: None)
    r = encode(np.zeros((2, H, W, 3), np.uint8), tmp_path / "r.mp4", preset="ultrafast")
    assert r.encoder == "libx265"
    assert "session failed to open" in r.encoder_reason
    assert probe(r.path).frames == 2
    with pytest.raises(EncoderUnavailable, match="failed to open"):
        encode(np.zeros((2, H, W, 3), np.uint8), tmp_path / "s.mp4", encoder="hevc_nvenc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.mp4"]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("frames", "match"),
    [
        (np.zeros((2, 64, 65, 3), np.uint8), "width 65 is odd"),
        (np.zeros((2, 63, 64, 3), np.uint8), "height 63 is odd"),
        (np.zeros((2, 8, 8, 3), np.uint8), "outside 16..8192"),
        (np.zeros((2, 64, 64, 4), np.uint8), r"shape \(64, 64, 4\); expected HxWx3"),
        ([np.zeros((64, 64), np.uint8)] * 2, r"frame 0 has shape \(64, 64\); expected HxWx3"),
        (np.zeros((2, 64, 64, 3), np.int32), "dtype int32"),
        (np.full((2, 64, 64, 3), np.nan, np.float32), "NaN"),
        ([], "no frames"),
        (42, "frames must be an iterable"),
    ],
)
def test_bad_frames_are_refused_clearly(tmp_path: Path, frames: Any, match: str) -> None:
    with pytest.raises(FrameError, match=match):
        encode(frames, tmp_path / "x.mp4", preset="ultrafast")
    assert list(tmp_path.iterdir()) == []


def test_a_frame_of_another_size_midway_leaves_nothing(tmp_path: Path) -> None:
    frames = [np.zeros((64, 64, 3), np.uint8)] * 3 + [np.zeros((64, 96, 3), np.uint8)]
    with pytest.raises(FrameError, match="frame 3 is 96x64, but frame 0 is 64x64"):
        encode(frames, tmp_path / "x.mp4", preset="ultrafast")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quality": 52}, "quality must be an integer 0..51"),
        ({"bit_depth": 12}, "bit_depth must be 8 or 10"),
        ({"encoder": "libx264"}, "encoder must be one of"),
        ({"preset": "p5"}, "preset must be one of"),
        ({"fps": 0}, "fps must be between 1 and 240"),
        ({"fps": "abc"}, "fps must be a number"),
    ],
)
def test_bad_settings_are_refused_clearly(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(EncodeError, match=match):
        encode(np.zeros((2, 64, 64, 3), np.uint8), tmp_path / "x.mp4", **kwargs)


def test_wrong_output_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EncodeError, match=r"must end in \.mp4"):
        encode(np.zeros((2, 64, 64, 3), np.uint8), tmp_path / "x.avi")


class Cancelled(Exception):
    pass


def test_interrupted_encode_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"previous delivery")  # an earlier good file must survive untouched

    def cancel(done: int, total: int) -> None:
        if done == 5:
            raise Cancelled

    with pytest.raises(Cancelled):
        encode(np.zeros((20, 64, 64, 3), np.uint8), out, preset="ultrafast", on_progress=cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    assert out.read_bytes() == b"previous delivery"


def _converter_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "vidgen-encode-convert"]


def test_a_failing_frame_source_stops_the_encode_and_its_converter(tmp_path: Path) -> None:
    # frames are pulled and converted in a worker thread while x265 encodes: the
    # source's own exception must reach the caller, and the worker must not linger
    def frames() -> Iterator[NDArray[np.uint8]]:
        for i in range(30):
            if i == 7:
                raise Cancelled("source failed at frame 7")
            yield np.full((64, 64, 3), i * 8, np.uint8)

    with pytest.raises(Cancelled, match="source failed at frame 7"):
        encode(frames(), tmp_path / "x.mp4", preset="ultrafast")
    assert list(tmp_path.iterdir()) == []
    assert _converter_threads() == []


def test_cancel_mid_encode_joins_the_converter(tmp_path: Path) -> None:
    pulled: list[int] = []

    def frames() -> Iterator[NDArray[np.uint8]]:
        for i in range(200):
            pulled.append(i)
            yield np.full((64, 64, 3), i, np.uint8)

    def cancel(done: int, total: int) -> None:
        if done == 3:
            raise Cancelled

    with pytest.raises(Cancelled):
        encode(frames(), tmp_path / "x.mp4", preset="ultrafast", on_progress=cancel)
    assert _converter_threads() == []
    # the worker runs at most the bounded queue (plus the frame in hand) ahead
    assert len(pulled) <= 3 + V.PREFETCH_DEPTH + 2


def test_probe_refuses_unreadable_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ProbeError, match="not a readable media file"):
        probe(junk)
    with pytest.raises(ProbeError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ProbeError, match="empty file"):
        probe(tmp_path / "empty.mp4")


def test_very_short_clips_always_mux(tmp_path: Path) -> None:
    """x265 sometimes returns an uninitialised dts for the first packet of a 2-frame clip;
    without the repair ~40% of these encodes failed in the MP4 muxer."""
    from comfy_vidgen.encode import encode, probe

    for i in range(25):
        out = tmp_path / f"short{i}.mp4"
        encode(np.zeros((2, 64, 64, 3), np.uint8), out, preset="ultrafast", encoder="libx265")
        assert probe(out).frames == 2
