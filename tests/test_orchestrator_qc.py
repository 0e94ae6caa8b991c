"""The QC gate in verification: a clip that fails it ends `rejected` with the gate's
reasons and is never delivered; one that passes is delivered (`vidgen run` + fake ComfyUI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fake_comfyui import FakeComfyUI
from orchestrator_inputs import build_test_graph, write_test_manifests

VIDGEN = [sys.executable, "-m", "comfy_vidgen.cli"]


def test_qc_gate_rejects_flicker_and_delivers_clean(
    tmp_path: Path, coffee_jpeg: Path, input_root: Path
) -> None:
    wf = tmp_path / "workflows" / "camera_only" / "v1"
    wf.mkdir(parents=True)
    (wf / "api.json").write_text(json.dumps(build_test_graph()))
    shape = {"keyframe": coffee_jpeg, "size": (128, 72), "frames": 60, "fps": 30}
    (bad,) = write_test_manifests(input_root, tmp_path / "m-bad", 1, prefix="flk", **shape)  # type: ignore[arg-type]
    (good,) = write_test_manifests(input_root, tmp_path / "m-good", 1, prefix="ok", **shape)  # type: ignore[arg-type]
    # "gradient": a synthetic clip whose blue channel jumps every frame (flicker, flashes,
    # not the keyframe); "camera": the manifest's camera path over the uploaded keyframe
    flicker = FakeComfyUI(tmp_path / "c1", render="gradient").start()
    clean = FakeComfyUI(tmp_path / "c2", render="camera").start()
    db, out = tmp_path / "l.db", tmp_path / "out"

    def run(manifest: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *VIDGEN,
                "run",
                str(manifest),
                "--comfyui",
                url,
                "--workflows",
                str(tmp_path / "workflows"),
                "--ledger",
                str(db),
                "--out",
                str(out),
                "--input-root",
                str(input_root),
                "--json",
                *extra,
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=180,
        )

    try:
        r = run(good, clean.url)
        assert r.returncode == 0, r.stdout + r.stderr
        (ok,) = json.loads(r.stdout)["jobs"]
        assert ok["state"] == "done", ok["error"]
        audit = json.loads(Path(ok["audit"]).read_text())
        assert audit["verification"]["qc"]["passed"] is True
        assert audit["verification"]["qc"]["reasons"] == []

        r = run(bad, flicker.url)
        assert r.returncode == 1, r.stderr
        (rej,) = json.loads(r.stdout)["jobs"]
        assert rej["state"] == "rejected" and rej["error_class"] == "qc"
        assert "QC gate failed" in rej["error"] and "flicker" in rej["error"]
        delivered = [p for p in out.rglob("*.mp4") if ".incoming" not in p.parts]
        assert [p.parent.name for p in delivered] == ["ok00000"]
        assert not (out / "flk00000").exists() or not list((out / "flk00000").iterdir())
        # a QC rejection is final: one attempt, not retried elsewhere
        assert flicker.stats.completed_job_ids == {f"{rej['job_id']}.a1": 1}

        st = subprocess.run(
            [*VIDGEN, "status", "--ledger", str(db), "--json"], capture_output=True, text=True
        )
        status = json.loads(st.stdout)
        assert status["counts"]["rejected"] == 1 and status["counts"]["done"] == 1
        (f,) = status["failures"]
        assert f["error_class"] == "qc" and "luma_spike_max" in f["error"]
        txt = subprocess.run(
            [*VIDGEN, "status", "--ledger", str(db)], capture_output=True, text=True
        ).stdout
        assert "[qc]" in txt and "flicker" in txt

        # --no-qc: the same flickering clip passes the decode checks and is delivered
        db2 = tmp_path / "l2.db"
        r = subprocess.run(
            [
                *VIDGEN,
                "run",
                str(bad),
                "--comfyui",
                flicker.url,
                "--workflows",
                str(tmp_path / "workflows"),
                "--ledger",
                str(db2),
                "--out",
                str(tmp_path / "o2"),
                "--input-root",
                str(input_root),
                "--json",
                "--no-qc",
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["jobs"][0]["state"] == "done"
    finally:
        flicker.close()
        clean.close()


def test_bad_qc_profile_is_a_usage_error(tmp_path: Path, input_root: Path) -> None:
    r = subprocess.run(
        [*VIDGEN, "run", str(tmp_path), "--qc-profile", "no-such-profile",
         "--ledger", str(tmp_path / "l.db"), "--input-root", str(input_root)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 2
    assert "no-such-profile" in r.stderr and "Traceback" not in r.stderr
