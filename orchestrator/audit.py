"""The audit record written next to every delivered video (``<job>.audit.json``).

It answers "what exactly produced this file?" without the ledger: the manifest
(as submitted and as identified), workflow version and graph hash, ComfyUI and
pack versions, locked model hashes, seed, instance/GPU, timings, the encoder
actually used and every verification result.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

from comfy_vidgen.fsutil import atomic_write_text

AUDIT_SCHEMA = "comfy-vidgen/audit@1"


def pack_version() -> str:
    from comfy_vidgen import __version__

    return str(__version__)


_DEFAULT_LOCK = Path(__file__).resolve().parent.parent / "models.lock.json"


@functools.lru_cache(maxsize=8)
def _read_lock(path: str, mtime_ns: int, size: int) -> Any:
    """Parsed lock file, re-read only when it changes (one audit per job reads it)."""
    return json.loads(Path(path).read_text("utf-8"))


def locked_models(workflow: str, lock_path: Path | None = None) -> list[dict[str, Any]]:
    """Entries of ``models.lock.json`` used by ``workflow`` (name@N or name), with sha256."""
    path = lock_path or _DEFAULT_LOCK
    try:
        st = path.stat()
        data = _read_lock(str(path), st.st_mtime_ns, st.st_size)
    except (OSError, ValueError):
        return []
    entries = data.get("models", data) if isinstance(data, dict) else data
    if isinstance(entries, dict):
        entries = [{"name": k, **v} for k, v in entries.items() if isinstance(v, dict)]
    name = workflow.split("@")[0]
    out: list[dict[str, Any]] = []
    for e in entries if isinstance(entries, list) else []:
        used = e.get("used_by") or []
        if workflow in used or name in used or any(str(u).split("@")[0] == name for u in used):
            out.append({k: e.get(k) for k in ("name", "filename", "sha256", "folder")})
    return out


def build_record(
    *,
    job_id: str,
    attempt: int,
    prompt_id: str | None,
    manifest: dict[str, Any],
    manifest_hash: str,
    submitted_manifest_hash: str | None,
    workflow: str,
    workflow_sha256: str | None,
    instance: str,
    gpu: str | None,
    comfyui_version: str | None,
    timings: dict[str, float | None],
    encoder: str | None,
    output: dict[str, Any],
    verification: dict[str, Any],
    engine: str,
) -> dict[str, Any]:
    return {
        "schema": AUDIT_SCHEMA,
        "job_id": job_id,
        "attempt": attempt,
        "prompt_id": prompt_id,
        "engine": engine,
        "manifest": manifest,
        "manifest_hash": manifest_hash,
        # the manifest actually submitted differs only in keyframe.path (uploaded copy)
        "submitted_manifest_hash": submitted_manifest_hash,
        "workflow": workflow,
        "workflow_sha256": workflow_sha256,
        "comfyui_version": comfyui_version,
        "pack_version": pack_version(),
        "models": locked_models(workflow),
        "seed": (manifest.get("generation") or {}).get("seed"),
        "instance": instance,
        "gpu": gpu,
        "timings": timings,
        "encoder": encoder,
        "output": output,
        "verification": verification,
        "written_at": time.time(),
    }


def dumps_record(record: dict[str, Any]) -> str:
    """One top-level key per line, each value compact: C-encoded (``indent`` would force
    the pure-Python encoder, ~0.5 ms per record) and still readable with a pager."""
    items = (
        f"  {json.dumps(k)}: {json.dumps(record[k], sort_keys=True, allow_nan=False)}"
        for k in sorted(record)
    )
    return "{\n" + ",\n".join(items) + "\n}\n"


def write_record(path: Path, record: dict[str, Any]) -> Path:
    atomic_write_text(path, dumps_record(record))
    return path
