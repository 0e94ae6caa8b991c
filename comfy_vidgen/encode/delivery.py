"""Where and how a job's clip is delivered (the NVENCEncode node's core, ComfyUI-free).

Layout: ``<output>/vidgen/<manifest id or 'adhoc'>/<job>.mp4`` plus ``<job>.json``.
The encoder settings are the node's inputs, which a released graph links from
ManifestLoader. With a manifest connected they must equal ``manifest.output``: a
value that differs (a literal in an ``@1`` graph, a re-wired link) is refused, never
silently replaced, so what the graph shows is what ran ("never deviate").
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .audio import AudioInput, as_audio_input
from .errors import EncodeError
from .video import EncodeResult, ProgressFn, encode

log = logging.getLogger(__name__)

_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
ADHOC = "adhoc"


@dataclass(frozen=True)
class Delivery:
    result: EncodeResult
    subfolder: str  # relative to the output directory, POSIX separators
    filename: str
    sidecar_filename: str


def _manifest_of(manifest: Any) -> Any:
    from ..manifest import Manifest, parse_manifest

    if manifest is None or isinstance(manifest, Manifest):
        return manifest
    inner = getattr(manifest, "manifest", None)
    if isinstance(inner, Manifest):
        return inner
    return parse_manifest(manifest, source="manifest input")


def output_subfolder(manifest_id: str | None) -> str:
    """Where NVENCEncode writes in ComfyUI's output folder (POSIX, relative to it): the
    orchestrator looks a finished attempt up there after a restart, so this is the one
    definition of that layout."""
    return f"vidgen/{manifest_id if manifest_id is not None else ADHOC}"


def job_name(job_id: str, prefix: str, now: datetime | None = None) -> str:
    """The orchestrator's job id as is (validated), else ``<prefix>_<timestamp>``."""
    job_id = job_id.strip()
    if job_id:
        if not _SAFE.match(job_id) or job_id in (".", ".."):
            raise EncodeError(
                f"job_id {job_id!r} must be 1..128 characters of letters, digits, '.', '_' or '-'"
            )
        return job_id
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", prefix.strip()).strip("._") or "vidgen"
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    return f"{clean[:64]}_{stamp}"


def deliver(
    frames: Any,
    output_dir: str | os.PathLike[str],
    *,
    fps: int,
    quality: int,
    bit_depth: int,
    encoder: str = "auto",
    job_id: str = "",
    filename_prefix: str = "vidgen",
    manifest: Any = None,
    audio: Any = None,
    input_dir: str | os.PathLike[str] | None = None,
    on_progress: ProgressFn | None = None,
) -> Delivery:
    """Encode ``frames`` into the delivery layout, settings from the manifest when given."""
    m = _manifest_of(manifest)
    audio_in: AudioInput | None = as_audio_input(audio) if audio is not None else None
    if m is not None:
        given = {"fps": fps, "quality": quality, "bit_depth": bit_depth}
        differ = [
            f"{k} {v} (the manifest's output.{k} is {getattr(m.output, k)})"
            for k, v in given.items()
            if v != getattr(m.output, k)
        ]
        if differ:
            raise EncodeError(
                f"manifest {m.id}: the graph gives "
                + ", ".join(differ)
                + "; link these inputs from ManifestLoader so the manifest decides them"
            )
        a = m.output.audio
        if a is not None:
            if audio_in is None:
                if input_dir is None:
                    raise EncodeError(
                        "the manifest names output.audio but no input folder is known"
                    )
                from ..manifest import resolve_under

                path = resolve_under(input_dir, a.path, what="output.audio.path")
                audio_in = AudioInput(path=path, gain_db=a.gain_db, sha256=a.sha256)
            else:
                audio_in = AudioInput(
                    path=audio_in.path,
                    samples=audio_in.samples,
                    sample_rate=audio_in.sample_rate,
                    gain_db=a.gain_db,
                )
    subfolder = output_subfolder(m.id if m is not None else None)
    name = job_name(job_id, filename_prefix)
    folder = Path(output_dir, *subfolder.split("/"))
    target = folder / f"{name}.mp4"
    if not job_id.strip():
        n = 1
        while target.exists():  # timestamped names never overwrite
            target = folder / f"{name}_{n}.mp4"
            n += 1
    metadata: dict[str, Any] = {"job_id": job_id.strip() or None, "settings_source": "widgets"}
    if m is not None:
        metadata.update(manifest=m, settings_source="manifest")
    result = encode(
        frames,
        target,
        fps=fps,
        quality=quality,
        bit_depth=bit_depth,
        encoder=encoder,
        metadata=metadata,
        audio=audio_in,
        on_progress=on_progress,
    )
    return Delivery(
        result=result,
        subfolder=subfolder,
        filename=target.name,
        sidecar_filename=target.with_suffix(".json").name,
    )
