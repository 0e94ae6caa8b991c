"""The fake ComfyUI executes what the submitted graph says, and refuses what the real
nodes would not take: a graph that deviates from its manifest cannot pass a test."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from fake_comfyui import NO_NVENC, FakeComfyUI
from orchestrator_inputs import build_test_graph, write_test_manifests

from comfy_vidgen.cli import main
from orchestrator.client import ComfyClient, HistoryEntry
from orchestrator.verify import default_probe
from orchestrator.workflow import fill, from_graph

VIDGEN = [sys.executable, "-m", "comfy_vidgen.cli"]
#: the wrong link of issue #16: the model-native count (camera_only: 120) instead of
#: the delivered one (the test manifests: 8)
WRONG_TARGET = {("RIFEInterpolate", "target_frames"): "frames"}


def _node(graph: dict[str, Any], class_type: str) -> dict[str, Any]:
    (inputs,) = (n["inputs"] for n in graph.values() if n["class_type"] == class_type)
    return inputs  # type: ignore[no-any-return]


@pytest.fixture
def fake(tmp_path: Path):  # type: ignore[no-untyped-def]
    with FakeComfyUI(tmp_path / "comfy") as f:
        yield f


@pytest.fixture
def manifest_json(fake: FakeComfyUI, coffee_jpeg: Path, tmp_path: Path) -> str:
    """A camera_only manifest (64x64, 8 frames at 8 fps, generation.frames 120) whose
    keyframe sits in the fake's input folder, as the orchestrator uploads it."""
    shutil.copy(coffee_jpeg, fake.input_dir / coffee_jpeg.name)
    (path,) = write_test_manifests(
        fake.input_dir, tmp_path / "m", 1, keyframe=fake.input_dir / coffee_jpeg.name
    )
    return path.read_text()


def _execute(fake: FakeComfyUI, graph: dict[str, Any], manifest_json: str) -> HistoryEntry:
    c = ComfyClient(fake.url)
    try:
        prompt = fill(from_graph("camera_only@1", graph), manifest_json, "job-1")
        c.submit(prompt, prompt_id="p1", client_id="c1")
        deadline = time.monotonic() + 60
        while (entry := c.history("p1")) is None:
            assert time.monotonic() < deadline, "the fake never finished"
            time.sleep(0.05)
        return entry
    finally:
        c.close()


def _post_prompt(fake: FakeComfyUI, graph: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"{fake.url}/prompt",
        data=json.dumps({"prompt": graph, "client_id": "c1"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# --------------------------------------------------------------------------- the lint


def test_lint_path_refuses_target_frames_linked_to_frames(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    committed = Path(__file__).resolve().parents[1] / "workflows/camera_only/v1/api.json"
    assert main(["workflow", "lint", str(committed)]) == 0
    assert "OK    camera_only@1" in capsys.readouterr().out
    bad = tmp_path / "camera_only" / "v1" / "api.json"
    bad.parent.mkdir(parents=True)
    bad.write_text(json.dumps(build_test_graph(relink=WRONG_TARGET)))
    assert main(["workflow", "lint", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  camera_only@1" in out
    assert "'target_frames' is linked to ManifestLoader.frames, expected output_frames" in out
    # a file outside <name>/v<N>/ names no workflow: a usage error, not a lint verdict
    loose = tmp_path / "api.json"
    loose.write_text(bad.read_text())
    r = subprocess.run(
        [*VIDGEN, "workflow", "lint", str(loose)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2 and "v<N>" in r.stderr


# --------------------------------------------------------------------------- a full run


def test_wrong_target_frames_delivers_the_wrong_count_and_verification_rejects_it(
    tmp_path: Path, coffee_jpeg: Path, input_root: Path
) -> None:
    wf = tmp_path / "workflows" / "camera_only" / "v1"
    wf.mkdir(parents=True)
    (wf / "api.json").write_text(json.dumps(build_test_graph(relink=WRONG_TARGET)))
    write_test_manifests(input_root, tmp_path / "manifests", 1, keyframe=coffee_jpeg)
    with FakeComfyUI(tmp_path / "comfy") as fake:
        fleet = tmp_path / "fleet.toml"
        fleet.write_text(
            f'poll_interval_s = 0.2\n[[instance]]\nname = "gpu0"\nurl = "{fake.url}"\n'
        )
        r = subprocess.run(
            [
                *VIDGEN,
                "run",
                str(tmp_path / "manifests"),
                "--engine",
                "comfyui",
                "--fleet",
                str(fleet),
                "--workflows",
                str(tmp_path / "workflows"),
                "--ledger",
                str(tmp_path / "l.db"),
                "--out",
                str(tmp_path / "out"),
                "--input-root",
                str(input_root),
                "--lint",
                "basic",  # the full lint refuses this graph before submission (test above)
                "--no-qc",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        (delivered,) = (fake.output_dir / "vidgen").rglob("*.mp4")
        assert default_probe(delivered)["frames"] == 120  # what the graph says, not the manifest
    assert r.returncode == 1, r.stdout + r.stderr
    with sqlite3.connect(tmp_path / "l.db") as c:
        ((state, cls, msg),) = c.execute("SELECT state, error_class, error_message FROM jobs")
    assert state in ("failed", "rejected") and cls == "verify"
    assert "frames 120 (expected 8)" in msg
    assert not list((tmp_path / "out").rglob("*.mp4"))


# --------------------------------------------------------------------------- validation


def test_an_input_name_the_real_node_lacks_is_refused_with_400(fake: FakeComfyUI) -> None:
    g = build_test_graph()
    enc = _node(g, "NVENCEncode")
    enc["frames"] = enc.pop("images")  # the old hand-written graph's name
    _node(g, "ManifestLoader")["manifest_json"] = "{}"  # validation never parses it
    status, body = _post_prompt(fake, g)
    assert status == 400
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    (node_id,) = body["node_errors"]
    ne = body["node_errors"][node_id]
    assert ne["class_type"] == "NVENCEncode" and ne["dependent_outputs"] == [node_id]
    kinds = {(e["type"], e["extra_info"]["input_name"]) for e in ne["errors"]}
    assert kinds == {("undeclared_input", "frames"), ("required_input_missing", "images")}
    assert fake.stats.submitted == 0


@pytest.mark.parametrize(
    ("edit", "node_class", "kind", "details"),
    [
        (lambda g: _node(g, "RIFEInterpolate").update(dtype="fp64"), "RIFEInterpolate",
         "value_not_in_list", "dtype: 'fp64' not in ['auto', 'fp16', 'bf16', 'fp32']"),
        (lambda g: _node(g, "NVENCEncode").update(quality=99), "NVENCEncode",
         "value_bigger_than_max", "quality"),
        (lambda g: _node(g, "NVENCEncode").update(fps=["1", 99]), "NVENCEncode",
         "exception_during_validation", "tuple index out of range"),
        (lambda g: _node(g, "NVENCEncode").update(fps=["99", 0]), "NVENCEncode",
         "exception_during_validation", "'99'"),
        (lambda g: _node(g, "NVENCEncode").update(fps=["1", 1]), "NVENCEncode",
         "return_type_mismatch", "fps, received_type(VIDGEN_MANIFEST) mismatch input_type(INT)"),
        (lambda g: _node(g, "RIFEInterpolate").update(dtype=["1", 2]), "RIFEInterpolate",
         "return_type_mismatch",
         "dtype, received_type(INT) mismatch input_type(['auto', 'fp16', 'bf16', 'fp32'])"),
        (lambda g: _node(g, "ManifestLoader").update(manifest_json=""), "ManifestLoader",
         "custom_validation_failed", "manifest - choose a manifest file or fill manifest_json"),
    ],
)  # fmt: skip
def test_validation_errors_have_comfyuis_shape(
    fake: FakeComfyUI, edit: Any, node_class: str, kind: str, details: str
) -> None:
    g = build_test_graph()
    _node(g, "ManifestLoader")["manifest_json"] = "{}"  # validation never parses it
    edit(g)
    status, body = _post_prompt(fake, g)
    assert status == 400 and body["error"]["type"] == "prompt_outputs_failed_validation"
    errors = [
        e for ne in body["node_errors"].values() if ne["class_type"] == node_class
        for e in ne["errors"]
    ]  # fmt: skip
    assert any(e["type"] == kind and e["details"] == details for e in errors), errors


def test_an_invalid_output_is_dropped_and_the_valid_one_runs(
    fake: FakeComfyUI, manifest_json: str
) -> None:
    g = build_test_graph()
    (enc,) = (k for k, n in g.items() if n["class_type"] == "NVENCEncode")
    g["98"] = {"class_type": "NVENCEncode", "inputs": {**_node(g, "NVENCEncode"), "quality": 99}}
    prompt = fill(from_graph("camera_only@1", g), manifest_json, "job-1")
    status, body = _post_prompt(fake, prompt)
    assert status == 200 and list(body["node_errors"]) == ["98"]
    assert body["node_errors"]["98"]["errors"][0]["type"] == "value_bigger_than_max"
    deadline = time.monotonic() + 60
    c = ComfyClient(fake.url)
    while (entry := c.history(body["prompt_id"])) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    c.close()
    assert entry.success and list(entry.outputs) == [enc]


# --------------------------------------------------------------------------- execution


def test_clip_has_the_count_size_and_fps_the_graph_gives(
    fake: FakeComfyUI, manifest_json: str
) -> None:
    g = build_test_graph(relink=WRONG_TARGET)
    _node(g, "NVENCEncode")["fps"] = 12
    _node(g, "VirtualCamera")["width"] = 128
    entry = _execute(fake, g, manifest_json)
    assert entry.success, entry.messages
    (out,) = entry.vidgen_outputs()
    assert out["frames"] == 120
    clip = fake.output_dir / out["subfolder"] / out["filename"]
    probe = default_probe(clip)
    assert (probe["frames"], probe["fps"], probe["width"], probe["height"]) == (120, 12, 128, 64)
    sidecar = json.loads((clip.parent / out["sidecar"]).read_text())
    assert (sidecar["frames"], sidecar["fps"], sidecar["width"]) == (120, 12, 128)


def test_the_committed_graph_delivers_what_the_manifest_says(
    fake: FakeComfyUI, manifest_json: str
) -> None:
    entry = _execute(fake, build_test_graph(), manifest_json)
    assert entry.success, entry.messages
    (out,) = entry.vidgen_outputs()
    probe = default_probe(fake.output_dir / out["subfolder"] / out["filename"])
    assert (probe["frames"], probe["fps"], probe["width"], probe["height"]) == (8, 8, 64, 64)


@pytest.mark.parametrize(
    ("encoder", "reason"),
    [
        ("auto", f"auto: hevc_nvenc unavailable ({NO_NVENC}); fell back to libx265"),
        ("libx265", "requested explicitly"),
    ],
)
def test_encoder_follows_the_graphs_literal(
    fake: FakeComfyUI, manifest_json: str, encoder: str, reason: str
) -> None:
    g = build_test_graph()
    _node(g, "NVENCEncode")["encoder"] = encoder
    entry = _execute(fake, g, manifest_json)
    assert entry.success, entry.messages
    (out,) = entry.vidgen_outputs()
    assert out["encoder"] == "libx265"
    sidecar = json.loads((fake.output_dir / out["subfolder"] / out["sidecar"]).read_text())
    assert sidecar["encoder_reason"] == reason


def test_explicit_nvenc_fails_like_the_real_node_without_nvenc(
    fake: FakeComfyUI, manifest_json: str
) -> None:
    g = build_test_graph()
    _node(g, "NVENCEncode")["encoder"] = "hevc_nvenc"
    entry = _execute(fake, g, manifest_json)
    assert not entry.success and not entry.outputs
    err = entry.message("execution_error")
    assert err is not None and err["node_type"] == "NVENCEncode"
    assert err["exception_type"] == "comfy_vidgen.encode.errors.EncoderUnavailable"
    assert "hevc_nvenc was requested but cannot open a session" in err["exception_message"]
    assert not list(fake.output_dir.rglob("*.mp4"))


def test_nodes_no_output_needs_do_not_run(fake: FakeComfyUI, manifest_json: str) -> None:
    g = build_test_graph()
    # a conditioner that would raise if it ran: zoom_in crops that grow, no manifest
    spare = {**_node(g, "CameraPathConditioner"), "end_w": 1.0, "end_h": 1.0}
    spare.pop("manifest")
    g["99"] = {"class_type": "CameraPathConditioner", "inputs": spare}
    entry = _execute(fake, g, manifest_json)
    assert entry.success, entry.messages
    # ... and it does raise once an output needs it
    g["99"]["inputs"]["end_x"] = g["99"]["inputs"]["end_y"] = 0.0
    _node(g, "VirtualCamera")["camera_path"] = ["99", 2]
    c = ComfyClient(fake.url)
    try:
        c.submit(
            fill(from_graph("camera_only@1", g), manifest_json, "job-2"),
            prompt_id="p2",
            client_id="c",
        )
        deadline = time.monotonic() + 60
        while (entry := c.history("p2")) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        c.close()
    err = entry.message("execution_error")
    assert err is not None and err["node_id"] == "99", entry.messages
