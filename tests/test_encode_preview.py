"""Browser-playable previews (``comfy_vidgen.encode.preview``) on real photographs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import photo
from PIL import Image

from comfy_vidgen.encode import encode, iter_rgb, probe, psnr
from comfy_vidgen.encode import preview as pv
from comfy_vidgen.encode.preview import (
    PreviewError,
    poster_frames,
    preview_name,
    preview_of_video,
    preview_size,
    strip,
    write_preview,
)


def panned(n: int, w: int = 640, h: int = 360, step: int = 3) -> np.ndarray[Any, Any]:
    """``n`` crops of the astronaut photo (512x512) scaled up and panned ``step`` px/frame."""
    img = np.asarray(Image.fromarray(photo("astronaut")).resize((w + n * step, h + 40)))
    return np.stack([img[20 : 20 + h, i * step : i * step + w] for i in range(n)])


def box(frames: np.ndarray[Any, Any], size: tuple[int, int]) -> list[np.ndarray[Any, Any]]:
    return [np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BOX)) for f in frames]


def test_preview_size_keeps_aspect_even_and_at_most_512_wide() -> None:
    assert preview_size(1024, 576) == (512, 288)
    assert preview_size(1920, 1080) == (512, 288)
    assert preview_size(128, 72) == (128, 72)  # never upscaled
    assert preview_size(576, 1024) == (512, 910)  # portrait: the width is what is bounded
    w, h = preview_size(1023, 577)
    assert (w, h) == (512, 288) and w % 2 == 0 and h % 2 == 0
    assert preview_size(1024, 576, max_width=160) == (160, 90)
    with pytest.raises(PreviewError, match="too small"):
        preview_size(1, 10)


def test_preview_of_float_frames_is_h264_tagged_and_true_to_the_frames(tmp_path: Path) -> None:
    import torch

    frames = panned(40)
    tensor = torch.from_numpy(frames.astype(np.float32) / 255)  # what ComfyUI hands a node
    ticks: list[tuple[int, int]] = []
    r = write_preview(tensor, tmp_path / "p.mp4", 24, on_progress=lambda d, t: ticks.append((d, t)))
    assert (r.width, r.height, r.frames, r.fps) == (512, 288, 40, 24.0)
    assert ticks[-1] == (40, 40)
    p = probe(r.path)
    assert (p.codec, p.codec_tag, p.pix_fmt) == ("h264", "avc1", "yuv420p")  # Chromium plays avc1
    assert (p.frames, p.width, p.height, p.duration) == (40, 512, 288, pytest.approx(40 / 24))
    assert (p.color_primaries, p.colorspace, p.color_range) == ("bt709", "bt709", "tv")
    # what the browser shows is the frames, scaled: no colour shift, no misplaced frame
    got = list(iter_rgb(r.path))
    want = box(frames, (512, 288))
    assert min(psnr(a, b) for a, b in zip(got, want, strict=True)) > 30
    for c in range(3):  # CRF 26 itself moves channel means by up to about 1 level
        bias = np.mean(np.stack(got)[..., c].astype(float) - np.stack(want)[..., c])
        assert abs(bias) < 1.5, (c, bias)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["p.mp4"]  # no temp file left


def test_preview_colour_conversion_is_unbiased(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lossless x264 isolates the scaling and BT.709 conversion: within 0.3 levels (measured
    -0.17..-0.10); a BT.601 matrix or a full/tv range mix-up would be off by several."""
    monkeypatch.setattr(pv, "PREVIEW_OPTIONS", {"crf": "0", "preset": "veryfast"})
    frames = panned(6)
    r = write_preview(frames, tmp_path / "l.mp4", 30)
    got = np.stack(list(iter_rgb(r.path))).astype(float)
    want = np.stack(box(frames, (512, 288))).astype(float)
    for c in range(3):
        assert abs(np.mean(got[..., c] - want[..., c])) < 0.3, c


def test_preview_of_a_delivered_hevc_clip(tmp_path: Path) -> None:
    frames = panned(30, 640, 360)
    d = encode(frames, tmp_path / "d.mp4", fps=30, encoder="libx265", preset="ultrafast")
    r = preview_of_video(d.path, tmp_path / "d.preview.mp4", max_width=320)
    p = probe(r.path)
    assert (p.codec, p.frames, p.fps, p.width, p.height) == ("h264", 30, 30.0, 320, 180)
    got = list(iter_rgb(r.path))
    want = box(frames, (320, 180))
    assert min(psnr(a, b) for a, b in zip(got, want, strict=True)) > 28
    assert abs(np.mean(np.stack(got).astype(float) - np.stack(want))) < 1.0


def test_bad_input_and_interrupts_leave_nothing(tmp_path: Path) -> None:
    with pytest.raises(PreviewError, match="no frames"):
        write_preview(np.zeros((0, 64, 64, 3), np.uint8), tmp_path / "e.mp4", 30)
    with pytest.raises(PreviewError, match=r"must end in \.mp4"):
        write_preview(panned(2, 64, 36), tmp_path / "e.webm", 30)

    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        if done == 5:
            raise Cancelled

    with pytest.raises(Cancelled):
        write_preview(panned(20, 64, 36), tmp_path / "c.mp4", 30, on_progress=cancel)
    assert list(tmp_path.iterdir()) == []
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 500)
    with pytest.raises(PreviewError):
        preview_of_video(junk, tmp_path / "j.preview.mp4")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["junk.mp4"]


def test_missing_encoder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pv, "PREVIEW_CODEC", "no_such_encoder")
    with pytest.raises(PreviewError, match="no no_such_encoder encoder"):
        write_preview(panned(3, 64, 36), tmp_path / "x.mp4", 30)
    assert list(tmp_path.iterdir()) == []


def test_poster_frames_are_evenly_spaced_and_stripped(tmp_path: Path) -> None:
    frames = panned(25, 320, 180, step=8)
    d = encode(frames, tmp_path / "d.mp4", fps=25, encoder="libx265", preset="ultrafast")
    posters = poster_frames(d.path, 4, 160)
    assert len(posters) == 4 and all(p.shape == (90, 160, 3) for p in posters)
    # frames 0, 8, 16, 24: each poster is closest to its own source frame
    want = box(frames, (160, 90))
    for p, k in zip(posters, (0, 8, 16, 24), strict=True):
        scores = [psnr(p, w) for w in want]
        assert int(np.argmax(scores)) == k
    s = strip(posters, gap=2)
    assert s.shape == (90, 4 * 160 + 3 * 2, 3)
    assert (s[:, 160:162] == 255).all() and np.array_equal(s[:, 162:322], posters[1])


def test_preview_names_are_fresh_per_run() -> None:
    a, b = preview_name("job-42.mp4"), preview_name("job-42.mp4")
    assert a != b and a.startswith("job-42.preview-") and a.endswith(".mp4")
