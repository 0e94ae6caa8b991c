"""Encoder defaults, read from ``presets/encode-delivery.toml`` (one source of truth).

The file is validated here so a bad edit fails with a message naming the key,
not with an FFmpeg error halfway through an encode.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from typing import Any

from ..errors import VidgenError
from ..paths import PRESETS_DIR

#: libx265's preset names, fastest first.
X265_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
ENCODERS = ("auto", "hevc_nvenc", "libx265")
PRESET_FILE = "encode-delivery.toml"


class PresetError(VidgenError):
    """The packaged encoder preset file is malformed."""


@dataclass(frozen=True)
class AudioDefaults:
    codec: str
    sample_rate: int
    channels: int
    bitrate: int
    target_lufs: float
    peak_dbfs: float
    fade_in_ms: int
    fade_out_ms: int


@dataclass(frozen=True)
class EncodeDefaults:
    quality: int
    preset: str
    bit_depth: int
    fps: int
    gop_seconds: float
    x265_params: str
    nvenc_tune: str
    nvenc_rc: str
    nvenc_spatial_aq: int
    nvenc_presets: dict[str, str]
    audio: AudioDefaults


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise PresetError(f"{PRESET_FILE}: [{where}] lacks {key!r}")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PresetError(f"{PRESET_FILE}: [{where}].{key} has the wrong type ({value!r})")
    return value


def parse_defaults(data: dict[str, Any]) -> EncodeDefaults:
    """Validate the TOML tables into typed defaults."""
    v = data.get("video", {})
    x = data.get("libx265", {})
    n = data.get("hevc_nvenc", {})
    a = data.get("audio", {})
    quality = _get(v, "quality", int, "video")
    if not 0 <= quality <= 51:
        raise PresetError(f"{PRESET_FILE}: [video].quality must be 0..51, got {quality}")
    preset = _get(v, "preset", str, "video")
    if preset not in X265_PRESETS:
        raise PresetError(f"{PRESET_FILE}: [video].preset must be one of {X265_PRESETS}")
    bit_depth = _get(v, "bit_depth", int, "video")
    if bit_depth not in (8, 10):
        raise PresetError(f"{PRESET_FILE}: [video].bit_depth must be 8 or 10")
    presets = _get(n, "presets", dict, "hevc_nvenc")
    missing = [p for p in X265_PRESETS if p not in presets]
    if missing:
        raise PresetError(f"{PRESET_FILE}: [hevc_nvenc].presets lacks {missing}")
    return EncodeDefaults(
        quality=quality,
        preset=preset,
        bit_depth=bit_depth,
        fps=_get(v, "fps", int, "video"),
        gop_seconds=float(_get(v, "gop_seconds", (int, float), "video")),
        x265_params=_get(x, "x265_params", str, "libx265"),
        nvenc_tune=_get(n, "tune", str, "hevc_nvenc"),
        nvenc_rc=_get(n, "rc", str, "hevc_nvenc"),
        nvenc_spatial_aq=_get(n, "spatial_aq", int, "hevc_nvenc"),
        nvenc_presets={str(k): str(val) for k, val in presets.items()},
        audio=AudioDefaults(
            codec=_get(a, "codec", str, "audio"),
            sample_rate=_get(a, "sample_rate", int, "audio"),
            channels=_get(a, "channels", int, "audio"),
            bitrate=_get(a, "bitrate", int, "audio"),
            target_lufs=float(_get(a, "target_lufs", (int, float), "audio")),
            peak_dbfs=float(_get(a, "peak_dbfs", (int, float), "audio")),
            fade_in_ms=_get(a, "fade_in_ms", int, "audio"),
            fade_out_ms=_get(a, "fade_out_ms", int, "audio"),
        ),
    )


@functools.cache
def defaults() -> EncodeDefaults:
    """The packaged delivery defaults (parsed once per process)."""
    text = (PRESETS_DIR / PRESET_FILE).read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PresetError(f"{PRESET_FILE}: {e}") from None
    return parse_defaults(data)
