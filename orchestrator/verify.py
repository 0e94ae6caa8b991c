"""Output verification: nothing is delivered that was not decoded and checked.

Checks, in order: sha256 of the downloaded bytes against the node's report,
then a decode (``comfy_vidgen.encode.probe``) for frame count, fps, size and
codec against the manifest, then an optional QC gate (a callable plugged in by
the caller, e.g. ``comfy_vidgen.qc``). A hash mismatch is transient (retry: the
bytes were damaged on the way); a wrong decode is deterministic (fail).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfy_vidgen.fsutil import sha256_file
from comfy_vidgen.manifest import Manifest

from .retry import ErrorClass

log = logging.getLogger(__name__)

#: ``probe(path) -> dict`` with frames, fps, width, height, codec (``probe(p).to_dict()``)
ProbeFn = Callable[[Path], dict[str, Any]]
#: ``gate(path, manifest) -> (passed, report)``: the QC hook (manifest None: no path checks)
GateFn = Callable[[Path, Manifest | None], tuple[bool, dict[str, Any]]]


@dataclass(frozen=True)
class Expected:
    frames: int
    fps: float
    width: int
    height: int
    codec: str = "hevc"

    @classmethod
    def from_manifest(cls, m: Manifest) -> Expected:
        out = m.output
        return cls(
            frames=out.frames, fps=float(out.fps), width=out.width, height=out.height,
            codec=out.codec,
        )  # fmt: skip


@dataclass
class VerifyResult:
    ok: bool
    sha256: str
    checks: dict[str, Any] = field(default_factory=dict)
    error_class: ErrorClass | None = None
    error: str | None = None
    probe: dict[str, Any] = field(default_factory=dict)
    qc: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sha256": self.sha256,
            "checks": self.checks,
            "error_class": self.error_class.value if self.error_class else None,
            "error": self.error,
            "probe": self.probe,
            "qc": self.qc,
        }


def default_probe(path: Path) -> dict[str, Any]:
    """``comfy_vidgen.encode.probe(path).to_dict()`` (counts decoded frames)."""
    from comfy_vidgen.encode import probe

    result: dict[str, Any] = probe(path).to_dict()
    return result


class Verifier:
    def __init__(
        self,
        probe: ProbeFn | None = None,
        gate: GateFn | None = None,
        fps_tolerance: float = 1e-3,
    ) -> None:
        self.probe = probe or default_probe
        self.gate = gate
        self.fps_tolerance = fps_tolerance

    def verify(
        self,
        path: Path,
        expected: Expected,
        reported_sha256: str | None,
        manifest: Manifest | None = None,
    ) -> VerifyResult:
        sha = sha256_file(path)
        res = VerifyResult(ok=False, sha256=sha)
        res.checks["sha256"] = {"reported": reported_sha256, "actual": sha}
        if reported_sha256 is not None and reported_sha256 != sha:
            res.error_class = ErrorClass.HASH_MISMATCH
            res.error = f"sha256 of {path.name} is {sha}, the node reported {reported_sha256}"
            return res
        try:
            info = self.probe(path)
        except Exception as e:  # any decoder failure means "not deliverable"
            res.error_class = ErrorClass.VERIFY
            res.error = f"cannot decode {path.name}: {e}"
            return res
        res.probe = info
        problems: list[str] = []

        def cmp(name: str, want: Any, got: Any, ok: bool) -> None:
            res.checks[name] = {"expected": want, "actual": got, "ok": ok}
            if not ok:
                problems.append(f"{name} {got} (expected {want})")

        damaged = bool(info.get("damaged"))  # decode errors, or fewer frames than promised
        cmp("damaged", False, info.get("damage") if damaged else False, not damaged)
        cmp("frames", expected.frames, info.get("frames"), info.get("frames") == expected.frames)
        fps = info.get("fps")
        cmp(
            "fps",
            expected.fps,
            fps,
            isinstance(fps, int | float) and abs(float(fps) - expected.fps) <= self.fps_tolerance,
        )
        size = (info.get("width"), info.get("height"))
        cmp(
            "size",
            f"{expected.width}x{expected.height}",
            f"{size[0]}x{size[1]}",
            size == (expected.width, expected.height),
        )
        codec = str(info.get("codec", ""))
        cmp("codec", expected.codec, codec, codec == expected.codec)
        if problems:
            res.error_class = ErrorClass.VERIFY
            res.error = f"{path.name}: " + ", ".join(problems)
            return res
        if self.gate is not None:
            try:
                passed, report = self.gate(path, manifest)
            except Exception as e:  # a QC crash must not deliver the clip either
                log.exception("QC gate crashed on %s", path)
                res.error_class = ErrorClass.VERIFY
                res.error = f"{path.name}: QC gate could not run: {type(e).__name__}: {e}"
                return res
            res.qc = {"passed": passed, **report}
            if not passed:
                reasons = report.get("reasons") or ["gate failed"]
                res.error_class = ErrorClass.QC
                res.error = f"{path.name}: QC gate failed: " + "; ".join(map(str, reasons))
                return res
        res.ok = True
        return res
