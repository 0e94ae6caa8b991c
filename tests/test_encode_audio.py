"""Soundtrack: real audio files muxed, decoded back and measured."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray

from comfy_vidgen.encode import AudioError, AudioInput, encode, probe
from comfy_vidgen.fsutil import sha256_file

RATE_OUT = 48000


def write_audio(path: Path, signal: NDArray[np.float32], rate: int, codec: str) -> Path:
    """Write ``signal`` ([channels, samples], -1..1) with a real encoder."""
    layout = "stereo" if signal.shape[0] == 2 else "mono"
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate, layout=layout)
        fmt = s.codec_context.format.name
        step = 1024 if codec != "libmp3lame" else 1152
        for start in range(0, signal.shape[1], step):
            chunk = signal[:, start : start + step]
            if fmt == "s16":
                arr = (chunk.T.reshape(1, -1) * 32767).astype(np.int16)
            elif fmt == "fltp":
                arr = np.ascontiguousarray(chunk, dtype=np.float32)
            elif fmt == "s16p":
                arr = (chunk * 32767).astype(np.int16)
            elif fmt == "s32p":
                arr = (chunk * 2147483647).astype(np.int32)
            else:
                raise AssertionError(fmt)
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout=layout)
            f.sample_rate = rate
            f.pts = start
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def tone(seconds: float, rate: int, channels: int, amp: float = 0.1) -> NDArray[np.float32]:
    t = np.arange(round(seconds * rate)) / rate
    return np.tile((amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32), (channels, 1))


def decoded_audio(path: str) -> NDArray[np.float32]:
    """All decoded samples [channels, n], trimmed to the edit-list duration players use."""
    with av.open(path) as c:
        a = c.streams.audio[0]
        played = round(float(a.duration * a.time_base) * a.codec_context.sample_rate)
        chunks = [f.to_ndarray() for f in c.decode(a)]
    return np.concatenate(chunks, axis=1)[:, :played]


def lufs(x: NDArray[np.float32]) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(RATE_OUT).integrated_loudness(x.T.astype(np.float64)))


FRAMES = np.zeros((120, 64, 64, 3), np.uint8)


def test_long_wav_is_trimmed_to_the_video_and_normalised(tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "long.wav", tone(6.5, 44100, 2), 44100, "pcm_s16le")
    r = encode(FRAMES, tmp_path / "v.mp4", fps=30, preset="ultrafast", audio=wav)
    p = probe(r.path)
    assert p.audio is not None
    assert (p.audio["codec"], p.audio["sample_rate"], p.audio["channels"]) == ("aac", 48000, 2)
    assert p.audio["duration"] == pytest.approx(4.0, abs=1e-6) == p.duration
    assert r.audio is not None
    assert r.audio["source"]["sha256"] == sha256_file(wav)
    assert r.audio["padded_seconds"] == 0.0
    x = decoded_audio(r.path)
    assert x.shape[1] == 4 * RATE_OUT
    assert lufs(x) == pytest.approx(-14.0, abs=1.0)  # the documented target, measured back
    # trimmed, not faded away: the tone is there until the final fade
    assert np.sqrt(np.mean(x[:, -int(0.3 * RATE_OUT) : -int(0.1 * RATE_OUT)] ** 2)) > 0.05


def test_mono_flac_at_another_rate_fits_25_frames_at_24fps(tmp_path: Path) -> None:
    flac = write_audio(tmp_path / "m.flac", tone(1.5, 22050, 1), 22050, "flac")
    r = encode(FRAMES[:25], tmp_path / "v.mp4", fps=24, preset="ultrafast", audio=flac)
    p = probe(r.path)
    assert p.audio is not None and p.audio["duration"] == pytest.approx(25 / 24, abs=1e-6)
    assert r.audio is not None
    assert r.audio["source_samples_used"] == r.audio["samples"] == round(25 / 24 * RATE_OUT)
    assert r.audio["padded_seconds"] == 0.0
    x = decoded_audio(r.path)
    assert x.shape == (2, round(25 / 24 * RATE_OUT))  # mono source, stereo delivery
    assert np.sqrt(np.mean(x[:, : RATE_OUT // 2] ** 2, axis=1)).min() > 0.05


def test_short_clip_pads_after_the_source_ends(tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "s.wav", tone(1.0, 48000, 2), 48000, "pcm_s16le")
    r = encode(FRAMES[:60], tmp_path / "v.mp4", fps=30, preset="ultrafast", audio=wav)
    assert r.audio is not None and r.audio["padded_seconds"] == pytest.approx(1.0, abs=1e-6)
    x = decoded_audio(r.path)
    assert x.shape[1] == 2 * RATE_OUT
    assert np.sqrt(np.mean(x[:, int(0.2 * RATE_OUT) : int(0.8 * RATE_OUT)] ** 2)) > 0.05
    assert np.abs(x[:, int(1.1 * RATE_OUT) :]).max() < 0.01  # silence after the source


@pytest.mark.skipif("libmp3lame" not in av.codecs_available, reason="no MP3 encoder here")
def test_mp3_source(tmp_path: Path) -> None:
    mp3 = write_audio(tmp_path / "m.mp3", tone(5.0, 44100, 2), 44100, "libmp3lame")
    r = encode(FRAMES[:30], tmp_path / "v.mp4", preset="ultrafast", audio=mp3)
    assert probe(r.path).audio is not None


def test_peaky_audio_is_held_under_the_ceiling(tmp_path: Path) -> None:
    clicks = np.zeros((2, 4 * 48000), np.float32)
    clicks[:, ::12000] = 0.9  # quiet overall, loud peaks: the LUFS gain would clip
    wav = write_audio(tmp_path / "c.wav", clicks, 48000, "pcm_s16le")
    r = encode(FRAMES, tmp_path / "v.mp4", preset="ultrafast", audio=wav)
    assert r.audio is not None and r.audio["peak_limited"] is True
    assert r.audio["output_lufs"] < -14.0


def test_silence_is_not_amplified(tmp_path: Path) -> None:
    wav = write_audio(tmp_path / "z.wav", np.zeros((2, 48000), np.float32), 48000, "pcm_s16le")
    r = encode(FRAMES[:30], tmp_path / "v.mp4", preset="ultrafast", audio=wav)
    assert r.audio is not None and r.audio["normalised"] is False
    assert "silent" in r.audio["why_not_normalised"]


def test_comfyui_audio_dict(tmp_path: Path) -> None:
    import torch

    wave = torch.from_numpy(tone(3.0, 44100, 1, amp=0.3))[None]  # [B, C, S]
    r = encode(FRAMES[:60], tmp_path / "v.mp4", preset="ultrafast",
               audio={"waveform": wave, "sample_rate": 44100})  # fmt: skip
    assert r.audio is not None and r.audio["source"]["path"] is None
    assert lufs(decoded_audio(r.path)) == pytest.approx(-14.0, abs=1.0)


def test_bad_audio_fails_before_any_video_is_written(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really" * 10)
    with pytest.raises(AudioError, match="not readable audio"):
        encode(FRAMES[:4], tmp_path / "v.mp4", audio=junk)
    with pytest.raises(AudioError, match="does not exist"):
        encode(FRAMES[:4], tmp_path / "v.mp4", audio=tmp_path / "missing.wav")
    wav = write_audio(tmp_path / "ok.wav", tone(1.0, 48000, 2), 48000, "pcm_s16le")
    with pytest.raises(AudioError, match="the manifest says"):
        encode(FRAMES[:4], tmp_path / "v.mp4", audio=AudioInput(path=wav, sha256="0" * 64))
    with pytest.raises(AudioError, match="waveform must be"):
        encode(FRAMES[:4], tmp_path / "v.mp4",
               audio={"waveform": np.zeros((1, 1, 0), np.float32), "sample_rate": 44100})  # fmt: skip
    assert not (tmp_path / "v.mp4").exists()
