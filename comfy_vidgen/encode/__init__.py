"""H.265 delivery encoder: NVENC or libx265 via PyAV, true colour, exact timing, provenance.

``encode`` writes the MP4 and its JSON sidecar; ``probe`` reads a file back by
decoding it. See docs/encode.md for the defaults and why.
"""

from __future__ import annotations

from .audio import AudioInput
from .errors import AudioError, EncodeError, EncoderUnavailable, FrameError, ProbeError
from .probe import ProbeResult, iter_rgb, probe
from .settings import ENCODERS, X265_PRESETS, defaults
from .video import EncoderChoice, EncodeResult, choose_encoder, encode, nvenc_session_error, psnr

__all__ = [
    "ENCODERS",
    "X265_PRESETS",
    "AudioError",
    "AudioInput",
    "EncodeError",
    "EncodeResult",
    "EncoderChoice",
    "EncoderUnavailable",
    "FrameError",
    "ProbeError",
    "ProbeResult",
    "choose_encoder",
    "defaults",
    "encode",
    "iter_rgb",
    "nvenc_session_error",
    "probe",
    "psnr",
]
