"""Optional soundtrack: decode, fit to the video duration, normalise loudness, fade.

The result is exactly ``n_samples`` of 48 kHz stereo float32, ready for the AAC
encoder. Loudness is measured with pyloudnorm (ITU-R BS.1770-4 integrated
loudness, gated) and brought to the preset's target, then held under a
sample-peak ceiling so the gain never clips.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..fsutil import sha256_bytes, sha256_file
from .errors import AudioError
from .settings import AudioDefaults

log = logging.getLogger(__name__)

_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 8: "7.1"}
#: pyloudnorm's gating block is 400 ms; shorter clips have no integrated loudness.
_MIN_LOUDNESS_SECONDS = 0.4


@dataclass(frozen=True)
class AudioInput:
    """A soundtrack: a file path, or in-memory samples ``[channels, samples]``."""

    path: Path | None = None
    samples: NDArray[np.float32] | None = None
    sample_rate: int | None = None
    gain_db: float = 0.0
    sha256: str | None = None  # expected file hash (from a manifest): checked


#: extra gain on top of the loudness target, dB (the manifest's output.audio.gain_db bounds)
GAIN_DB_RANGE = (-30.0, 30.0)


@dataclass
class PreparedAudio:
    samples: NDArray[np.float32]  # [channels, n_samples]
    sample_rate: int
    info: dict[str, Any] = field(default_factory=dict)


def as_audio_input(audio: Any) -> AudioInput:
    """Accept a path, an AudioInput, or ComfyUI's AUDIO dict ``{waveform, sample_rate}``."""
    if isinstance(audio, AudioInput):
        return audio
    if isinstance(audio, str | os.PathLike):
        return AudioInput(path=Path(audio))
    if isinstance(audio, Mapping) and "waveform" in audio and "sample_rate" in audio:
        wave = audio["waveform"]
        if hasattr(wave, "detach"):  # torch tensor, [B, C, S]
            wave = wave.detach().to("cpu").float().numpy()
        arr = np.asarray(wave, dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[0]
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[0] not in _LAYOUTS or arr.shape[1] == 0:
            raise AudioError(
                f"audio waveform must be [batch, channels, samples] with 1..8 channels and at "
                f"least one sample, got shape {tuple(np.shape(wave))}"
            )
        rate = int(audio["sample_rate"])
        if not 8000 <= rate <= 192000:
            raise AudioError(f"audio sample_rate must be 8000..192000 Hz, got {rate}")
        return AudioInput(samples=np.ascontiguousarray(arr), sample_rate=rate)
    raise AudioError(
        f"audio must be a file path, an AudioInput or a {{waveform, sample_rate}} dict, "
        f"got {type(audio).__name__}"
    )


def check_audio(src: AudioInput) -> None:
    """Fail fast (before any video is encoded) on a missing, wrong or unreadable soundtrack."""
    if not (isinstance(src.gain_db, int | float) and math.isfinite(src.gain_db)) or not (
        GAIN_DB_RANGE[0] <= src.gain_db <= GAIN_DB_RANGE[1]
    ):
        raise AudioError(
            f"audio gain must be a number in {GAIN_DB_RANGE[0]:g}..{GAIN_DB_RANGE[1]:g} dB, "
            f"got {src.gain_db!r}"
        )
    if src.path is None:
        return
    import av

    if not src.path.is_file():
        raise AudioError(f"audio file {src.path} does not exist or is not a file")
    if src.sha256 is not None:
        actual = sha256_file(src.path)
        if actual != src.sha256:
            raise AudioError(
                f"audio file {src.path} has sha256 {actual}, the manifest says {src.sha256}"
            )
    try:
        with av.open(str(src.path)) as c:
            if not c.streams.audio:
                raise AudioError(f"audio file {src.path} has no audio stream")
    except av.FFmpegError as e:
        raise AudioError(f"audio file {src.path} is not readable audio ({e})") from None


def _resample(
    frames: list[Any], rate: int, channels: int, n_samples: int, resampler: Any
) -> NDArray[np.float32]:
    """Run frames through the resampler; return [channels, <=n_samples]."""
    chunks: list[NDArray[np.float32]] = []
    have = 0
    for frame in [*frames, None]:
        for out in resampler.resample(frame):
            arr = out.to_ndarray().astype(np.float32, copy=False).reshape(channels, -1)
            chunks.append(arr)
            have += arr.shape[1]
        if have >= n_samples:
            break
    if not chunks:
        return np.zeros((channels, 0), np.float32)
    return np.concatenate(chunks, axis=1)[:, :n_samples]


def _decode(src: AudioInput, rate: int, channels: int, n_samples: int) -> NDArray[np.float32]:
    """Decode/resample to ``rate`` and ``channels``; stop once ``n_samples`` are had."""
    import av

    layout = _LAYOUTS[channels]
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    if src.samples is not None:
        assert src.sample_rate is not None
        in_layout = _LAYOUTS[src.samples.shape[0]]
        frames = []
        step = 4096
        for start in range(0, src.samples.shape[1], step):
            part = np.ascontiguousarray(src.samples[:, start : start + step])
            f = av.AudioFrame.from_ndarray(part, format="fltp", layout=in_layout)
            f.sample_rate = src.sample_rate
            f.pts = start
            frames.append(f)
        return _resample(frames, rate, channels, n_samples, resampler)
    assert src.path is not None
    chunks: list[NDArray[np.float32]] = []
    have = 0
    try:
        with av.open(str(src.path)) as c:
            stream = c.streams.audio[0]
            for frame in c.decode(stream):
                frame.pts = None  # let the resampler count samples, not trust odd timestamps
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().astype(np.float32, copy=False).reshape(channels, -1)
                    chunks.append(arr)
                    have += arr.shape[1]
                if have >= n_samples:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().astype(np.float32).reshape(channels, -1))
    except av.FFmpegError as e:
        raise AudioError(f"audio file {src.path}: decoding failed ({e})") from None
    if not chunks:
        return np.zeros((channels, 0), np.float32)
    return np.concatenate(chunks, axis=1)[:, :n_samples]


def _loudness(samples: NDArray[np.float32], rate: int) -> float:
    import pyloudnorm

    meter = pyloudnorm.Meter(rate)
    return float(meter.integrated_loudness(samples.T.astype(np.float64)))


def prepare_audio(src: AudioInput, n_samples: int, cfg: AudioDefaults) -> PreparedAudio:
    """Exactly ``n_samples`` of normalised, faded audio plus a record of what was done."""
    rate, channels = cfg.sample_rate, cfg.channels
    if src.path is not None:
        source: dict[str, Any] = {"path": str(src.path), "sha256": sha256_file(src.path)}
    else:
        assert src.samples is not None
        source = {
            "path": None,
            "sha256": sha256_bytes(np.ascontiguousarray(src.samples, np.float32).tobytes()),
        }
    decoded = _decode(src, rate, channels, n_samples)
    have = decoded.shape[1]
    if have == 0:
        raise AudioError(f"audio {source['path'] or '(waveform)'} contains no samples")
    out = np.zeros((channels, n_samples), np.float32)
    out[:, :have] = decoded
    # Fades: in at the start, out at the end of the real content (the cut or the
    # start of the padding), so neither a trim nor a pad produces a click.
    fin = min(have, round(rate * cfg.fade_in_ms / 1000))
    fout = min(have, round(rate * cfg.fade_out_ms / 1000))
    if fin:
        out[:, :fin] *= np.linspace(0.0, 1.0, fin, endpoint=False, dtype=np.float32)
    if fout:
        out[:, have - fout : have] *= np.linspace(1.0, 0.0, fout, dtype=np.float32)

    info: dict[str, Any] = {
        "source": source,
        "codec": cfg.codec,
        "sample_rate": rate,
        "channels": channels,
        "bitrate": cfg.bitrate,
        "samples": n_samples,
        "duration": round(n_samples / rate, 6),
        "source_samples_used": have,
        "padded_seconds": round((n_samples - have) / rate, 6),
        "target_lufs": cfg.target_lufs,
        "peak_ceiling_dbfs": cfg.peak_dbfs,
        "gain_db_extra": src.gain_db,
    }
    measured = _loudness(out, rate) if n_samples >= _MIN_LOUDNESS_SECONDS * rate else -math.inf
    peak = float(np.max(np.abs(out)))
    if math.isfinite(measured):
        gain_db = cfg.target_lufs - measured + src.gain_db
        info["normalised"] = True
        info["measured_lufs"] = round(measured, 2)
    else:
        gain_db = src.gain_db
        info["normalised"] = False
        info["why_not_normalised"] = (
            "silent or shorter than the 0.4 s loudness block" if peak > 0 else "the audio is silent"
        )
        info["measured_lufs"] = None
    peak_limited = False
    if peak > 0:
        ceiling_gain = cfg.peak_dbfs - 20 * math.log10(peak)
        if gain_db > ceiling_gain:
            gain_db, peak_limited = ceiling_gain, True
    out *= np.float32(10 ** (gain_db / 20))
    info["gain_db_applied"] = round(gain_db, 3)
    info["peak_limited"] = peak_limited
    final = _loudness(out, rate) if info["normalised"] else -math.inf
    info["output_lufs"] = round(final, 2) if math.isfinite(final) else None
    log.info(
        "audio: %d samples (%d from source), gain %.2f dB, output %s LUFS",
        n_samples,
        have,
        gain_db,
        info["output_lufs"],
    )
    return PreparedAudio(samples=out, sample_rate=rate, info=info)
