"""One typed job: on the control side a manifest is validated once and its keyframe hashed
once, however many steps (ledger, engine, verification, QC gate, audit) use it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import comfy_vidgen.manifest as manifest_module
from comfy_vidgen.manifest import Manifest, build_manifest, dumps_pretty, full_crop
from comfy_vidgen.qc import verifier_gate
from orchestrator.engine import LocalEngine, default_local_runner, submit_manifests
from orchestrator.ledger import SqliteLedger
from orchestrator.verify import Verifier


def test_each_job_is_validated_and_hashed_once_on_the_control_side(
    tmp_path: Path, input_root: Path, coffee_jpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n_jobs = 3
    crop = full_crop(600, 400, 64, 64)
    paths = []
    for i in range(n_jobs):
        m = build_manifest(
            keyframe=coffee_jpeg, input_root=input_root, motion_type="static", start=crop,
            end=crop, workflow="camera_only@2", seed=i, size=(64, 64), manifest_id=f"s{i}",
            generation={"frames": 8}, output={"frames": 8, "fps": 8},
        )  # fmt: skip
        p = tmp_path / f"s{i}.json"
        p.write_text(dumps_pretty(m))
        paths.append(p)

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
