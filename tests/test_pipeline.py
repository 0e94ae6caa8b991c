"""The local engine end to end on a real photo: render, RIFE (real weights), H.265, verify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from comfy_vidgen.manifest import (
    ManifestError,
    build_manifest,
    dumps_pretty,
    full_crop,
    manifest_hash,
)
from comfy_vidgen.models import load_lock, locate

pytestmark = pytest.mark.skipif(
    locate(load_lock().get("rife-4.25")) is None,
    reason="rife-4.25 weights not fetched (make test runs `vidgen models fetch rife-4.25` first)",
)

SIZE = (128, 72)


def _manifest(kf: Path, root: Path, **gen: int) -> object:
    full = full_crop(600, 400, *SIZE)
    end = {
        "x": full["x"] + 0.25 * full["w"],
        "y": full["y"] + 0.25 * full["h"],
        "w": 0.5 * full["w"],
        "h": 0.5 * full["h"],
    }
    return build_manifest(
        keyframe=kf,
        input_root=root,
        motion_type="zoom_in",
        start=full,
        end=end,
        workflow="camera_only@3",
        seed=3,
        size=SIZE,
        generation={"frames": 13, **gen},
        output={"frames": 48, "fps": 24},
    )


def test_run_camera_only_makes_a_verified_clip(
    coffee_jpeg: Path, input_root: Path, tmp_path: Path
) -> None:
    from skimage.metrics import structural_similarity

    from comfy_vidgen.camera import CameraPath, render_path
    from comfy_vidgen.encode import iter_rgb, probe
    from comfy_vidgen.images import load_rgb_array
    from comfy_vidgen.pipeline import run_camera_only

    m = _manifest(coffee_jpeg, input_root)
    ticks: list[tuple[int, int]] = []
    r = run_camera_only(m, input_root, tmp_path / "out", "job-1", lambda d, t: ticks.append((d, t)))  # type: ignore[arg-type]
    facts = probe(r.mp4).to_dict()
    assert (
        facts["frames"] == 48 and facts["fps"] == 24 and (facts["width"], facts["height"]) == SIZE
    )
    assert r.encoder == "libx265" and "hevc_nvenc" in r.encoder_reason
    assert ticks[-1] == (13 + 2 * 48, 13 + 2 * 48) and all(
        a <= b for (a, _), (b, _) in zip(ticks, ticks[1:], strict=False)
    )
    sidecar = json.loads(r.sidecar.read_text())  # type: ignore[union-attr]
    assert sidecar["manifest_hash"] == manifest_hash(m)  # type: ignore[arg-type]
    # the first and last delivered frames are the start and end crops, exactly rendered
    rendered = list(render_path(load_rgb_array(coffee_jpeg), CameraPath.from_manifest(m), 13, SIZE))  # type: ignore[arg-type]
    decoded = list(iter_rgb(r.mp4))
    for ours, ref in ((decoded[0], rendered[0]), (decoded[-1], rendered[-1])):
        ssim = structural_similarity(ours, ref, channel_axis=2, data_range=255)
        assert ssim > 0.95, ssim
    # frames in between move: the clip is not a still
    assert np.abs(decoded[0].astype(int) - decoded[24].astype(int)).mean() > 2.0


def test_other_workflows_need_a_rack(coffee_jpeg: Path, input_root: Path, tmp_path: Path) -> None:
    from comfy_vidgen.pipeline import PipelineError, run_camera_only

    full = full_crop(600, 400, 1024, 576)
    m = build_manifest(
        keyframe=coffee_jpeg,
        input_root=input_root,
        motion_type="static",
        start=full,
        end=full,
        workflow="svd_xt@1",
        seed=1,
    )
    with pytest.raises(PipelineError, match="--engine comfyui"):
        run_camera_only(m, input_root, tmp_path, "j")


def test_tampered_keyframe_is_refused_before_any_work(
    coffee_jpeg: Path, input_root: Path, tmp_path: Path
) -> None:
    from comfy_vidgen.pipeline import run_camera_only

    m = _manifest(coffee_jpeg, input_root)
    coffee_jpeg.write_bytes(coffee_jpeg.read_bytes() + b"x")
    with pytest.raises(ManifestError, match="keyframe.sha256"):
        run_camera_only(m, input_root, tmp_path / "out", "j")  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_interrupt_leaves_no_output(coffee_jpeg: Path, input_root: Path, tmp_path: Path) -> None:
    from comfy_vidgen.pipeline import run_camera_only

    m = _manifest(coffee_jpeg, input_root)

    def stop(done: int, total: int) -> None:
        if done > 13 + 48 + 5:  # during the encode
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_camera_only(m, input_root, tmp_path / "out", "j", stop)  # type: ignore[arg-type]
    assert not list((tmp_path / "out").rglob("*.mp4")) and not list(
        (tmp_path / "out").rglob("*.json")
    )


def test_vidgen_run_local_end_to_end_and_dedup(
    coffee_jpeg: Path, input_root: Path, tmp_path: Path
) -> None:
    mdir = tmp_path / "manifests"
    mdir.mkdir()
    (mdir / "a.json").write_text(dumps_pretty(_manifest(coffee_jpeg, input_root)))  # type: ignore[arg-type]
    (mdir / "b.json").write_text(dumps_pretty(_manifest(coffee_jpeg, input_root, frames=9)))  # type: ignore[arg-type]
    cmd = [
        sys.executable,
        "-m",
        "comfy_vidgen.cli",
        "run",
        str(mdir),
        "--input-root",
        str(input_root),
        "--out",
        str(tmp_path / "out"),
        "--ledger",
        str(tmp_path / "v.db"),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    st = subprocess.run(
        [
            sys.executable,
            "-m",
            "comfy_vidgen.cli",
            "status",
            "--ledger",
            str(tmp_path / "v.db"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(st.stdout)["counts"]["done"] == 2
    audits = sorted((tmp_path / "out").rglob("*.audit.json"))
    assert len(audits) == 2
    rec = json.loads(audits[0].read_text())
    assert (
        rec["encoder"] == "libx265"
        and rec["workflow"] == "camera_only@3"
        and rec["workflow_sha256"]
    )
    assert rec["verification"]["ok"] is True
    # the default QC gate ran and passed: an eased move's slow start is not "frozen"
    qc = rec["verification"]["qc"]
    assert qc["passed"] is True, qc["reasons"]
    assert qc["metrics"]["stability"]["frozen_frames"] <= 2
    # the same manifests again: nothing new runs, nothing is delivered twice
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert sorted((tmp_path / "out").rglob("*.mp4")) == sorted(
        p.with_suffix("").with_suffix(".mp4") for p in audits
    )


def test_the_local_engine_retimes_as_the_graph_does(tmp_path: Path) -> None:
    """The local engine runs the timing the released graph runs on the rack (@1 sets none
    and keeps arbitrary), not the new node's default; a graph whose timing is not a
    literal it knows is refused by name."""
    from comfy_vidgen.pipeline import PipelineError, graph_timing

    assert [graph_timing(f"camera_only@{v}") for v in (1, 2, 3)] == [
        "arbitrary",
        "midpoint",
        "midpoint_gated",
    ]
    folder = tmp_path / "camera_only" / "v9"
    folder.mkdir(parents=True)
    graph = json.loads(
        (Path(__file__).parents[1] / "workflows/camera_only/v3/api.json").read_text()
    )
    rife = next(n for n in graph.values() if n["class_type"] == "RIFEInterpolate")
    rife["inputs"]["timing"] = "bisect"
    (folder / "api.json").write_text(json.dumps(graph))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDGEN_WORKFLOWS", str(tmp_path))
        with pytest.raises(
            PipelineError, match=r"camera_only@9: RIFEInterpolate timing .*'bisect'"
        ):
            graph_timing("camera_only@9")
