"""Deliveries: where a verified clip goes, its audit record beside it, and whether it is
still what the audit says.

One module owns the output layout (``<out>/<manifest id>/<job id>.mp4`` with
``.json`` sidecar and ``.audit.json`` record) for both engines, so a delivery made by
the local engine and one made through ComfyUI look the same and are checked the same.
A ``done`` job is only as true as its file: a later run notices a delivery that was
deleted or changed, and ``vidgen retry JOB`` makes it again, keeping the earlier
audit record beside the new one.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comfy_vidgen.fsutil import sha256_file

from . import audit
from .ledger import Job

#: the folder verified-but-not-yet-delivered clips are staged in (same filesystem)
INCOMING = ".incoming"


@dataclass(frozen=True)
class Layout:
    mp4: Path
    sidecar: Path
    audit: Path

    @property
    def folder(self) -> Path:
        return self.mp4.parent


def layout(out_dir: Path, job: Job) -> Layout:
    folder = out_dir / job.manifest_id
    return Layout(
        folder / f"{job.job_id}.mp4",
        folder / f"{job.job_id}.json",
        folder / f"{job.job_id}.audit.json",
    )


def staging(out_dir: Path, attempt_job_id: str) -> Path:
    """Where an attempt's clip is downloaded or rendered before it is verified."""
    return out_dir / INCOMING / attempt_job_id


def deliver(
    out_dir: Path, job: Job, clip: Path, record: dict[str, Any], sidecar: Path | None = None
) -> Layout:
    """Move a verified clip (and its sidecar) into place, then write its audit record.

    ``record`` is ``audit.build_record``'s result; its ``output`` gains the final path
    and size here (what a later run checks the delivery against).
    """
    where = layout(out_dir, job)
    where.folder.mkdir(parents=True, exist_ok=True)
    os.replace(clip, where.mp4)
    if sidecar is not None and sidecar.is_file():
        os.replace(sidecar, where.sidecar)
    record["output"] = {
        **record["output"],
        "path": str(where.mp4),
        "size": where.mp4.stat().st_size,
    }
    audit.write_record(where.audit, record)
    return where


def problem(job: Job, *, full: bool = False) -> str | None:
    """Why a ``done`` job's delivery is no longer what its audit record says (None: fine).

    Checks that the clip exists with the audited size; ``full`` also re-hashes it
    (what ``vidgen verify`` does; a run only stats, to stay cheap at 1000 jobs a day).
    """
    if not job.output_path:
        return "no delivery recorded"
    mp4 = Path(job.output_path)
    if not mp4.is_file():
        return f"delivery {mp4} is missing"
    out: dict[str, Any] = {}
    if job.audit_path:
        try:
            out = json.loads(Path(job.audit_path).read_text("utf-8")).get("output") or {}
        except (OSError, ValueError) as e:
            return f"audit record {job.audit_path} is unreadable ({e})"
    size = out.get("size")
    if isinstance(size, int) and mp4.stat().st_size != size:
        return f"delivery {mp4} changed size ({mp4.stat().st_size} bytes, audited {size})"
    if full and out.get("sha256") and sha256_file(mp4) != out["sha256"]:
        return f"delivery {mp4} changed content (sha256 differs from its audit record)"
    return None


def keep_previous_audit(job: Job) -> Path | None:
    """Before a job is delivered again: its audit record moves to ``.audit.a<N>.json``
    (N: the attempt it records), so the trail keeps both deliveries."""
    if not job.audit_path or not Path(job.audit_path).is_file():
        return None
    old = Path(job.audit_path)
    try:
        attempt = int(json.loads(old.read_text("utf-8"))["attempt"])
    except (OSError, ValueError, KeyError, TypeError):
        attempt = job.attempts
    kept = old.with_name(old.name.replace(".audit.json", f".audit.a{attempt}.json"))
    os.replace(old, kept)
    return kept


def clean_leftovers(out_dir: Path) -> int:
    """Remove what a killed run left behind: staged clips and half-written ``.part`` files.

    Only called while holding the ledger's dispatch lock, so no other run is writing
    here; staged clips of in-flight attempts are downloaded or rendered again.
    """
    removed = 0
    incoming = out_dir / INCOMING
    if incoming.is_dir():
        removed += sum(1 for p in incoming.rglob("*") if p.is_file())
        shutil.rmtree(incoming, ignore_errors=True)
    if out_dir.is_dir():
        for part in out_dir.rglob(".*.part*"):
            if part.is_file():
                part.unlink(missing_ok=True)
                removed += 1
    return removed
