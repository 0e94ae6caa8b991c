"""One typed job: on the control side a manifest is validated once and its keyframe hashed
once, however many steps (ledger, engine, verification, QC gate, audit) use it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from orchestrator_inputs import write_test_manifests

import comfy_vidgen.manifest as manifest_module
from comfy_vidgen.manifest import Manifest
from comfy_vidgen.qc import verifier_gate
from orchestrator.engine import LocalEngine, default_local_runner, submit_manifests
from orchestrator.ledger import SqliteLedger
from orchestrator.verify import Verifier


def test_each_job_is_validated_and_hashed_once_on_the_control_side(
    tmp_path: Path, input_root: Path, coffee_jpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n_jobs = 3
    paths = write_test_manifests(
        input_root, tmp_path / "m", n_jobs, keyframe=coffee_jpeg, workflow="camera_only@2",
        motion="static", gen_frames=8,
    )  # fmt: skip

    counts = {"validate": 0, "hash": 0}
    rendering = threading.local()
    real_validate = Manifest.model_validate.__func__  # type: ignore[attr-defined]
    real_hash = manifest_module.sha256_file

    def validate(cls: type[Manifest], *a: Any, **kw: Any) -> Manifest:
        if not getattr(rendering, "on", False):
            counts["validate"] += 1
        return real_validate(cls, *a, **kw)  # type: ignore[no-any-return]

    def hash_file(path: Any) -> str:
        if not getattr(rendering, "on", False):
            counts["hash"] += 1
        return real_hash(path)

    monkeypatch.setattr(Manifest, "model_validate", classmethod(validate))
    monkeypatch.setattr(manifest_module, "sha256_file", hash_file)
    render = default_local_runner()

    def runner(*args: Any) -> Any:
        """The render side (ComfyUI's ManifestLoader, or this stand-in) checks the keyframe
        it renders on purpose: that is integrity at the time of use, not control work."""
        rendering.on = True
        try:
            return render(*args)
        finally:
            rendering.on = False

    ledger = SqliteLedger(tmp_path / "l.db")
    subs = submit_manifests(ledger, paths, input_root)
    assert all(s.created for s in subs)
    engine = LocalEngine(
        ledger, out_dir=tmp_path / "out", runner=runner,
        verifier=Verifier(gate=verifier_gate(None, input_root)),
    )  # fmt: skip
    summary = engine.run(None, threading.Event())
    assert summary.counts.get("done") == n_jobs, summary.counts
    assert counts == {"validate": n_jobs, "hash": n_jobs}
    ledger.close()
