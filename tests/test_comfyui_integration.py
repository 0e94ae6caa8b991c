"""Against a real, headless ComfyUI (the pinned version) with this pack installed.

Runs when COMFYUI_DIR points at a ComfyUI checkout with its requirements installed
(COMFYUI_PYTHON: its interpreter); skipped otherwise. See docs/comfyui.md.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_comfyui import LiveComfyUI, comfyui_dir, running_comfyui

from comfy_vidgen.fsutil import sha256_file
from comfy_vidgen.manifest import (
    build_manifest,
    canonical_json,
    full_crop,
    manifest_hash,
    parse_manifest,
)
from comfy_vidgen.models import load_lock, locate
from comfy_vidgen.nodes import NODE_CLASS_MAPPINGS
from comfy_vidgen.workflow_graph import list_workflows, load_workflow
from comfy_vidgen.workflow_specs import get_spec

pytestmark = [
    pytest.mark.comfyui,
    pytest.mark.skipif(
        comfyui_dir() is None, reason="COMFYUI_DIR not set to a ComfyUI checkout (docs/comfyui.md)"
    ),
]

MODEL_FILE_INPUTS = {"ckpt_name", "unet_name", "clip_name", "vae_name", "lora_name"}


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveComfyUI]:
    base = tmp_path_factory.mktemp("comfyui")
    rife = locate(load_lock().get("rife-4.25"))
    if rife is None:
        pytest.skip(
            "rife-4.25 weights not fetched (make test fetches them: vidgen models fetch rife-4.25)"
        )
    (base / "models" / "rife").mkdir(parents=True)
    (base / "models" / "rife" / rife.name).symlink_to(rife)
    with running_comfyui(base) as live:
        yield live


@pytest.fixture(scope="module")
def client(comfy: LiveComfyUI) -> Iterator[Any]:
    from orchestrator.client import ComfyClient

    c = ComfyClient(comfy.url)
    yield c
    c.close()


def test_object_info_lists_our_nodes_with_their_inputs(client: Any) -> None:
    info = client.object_info()
    assert info.keys() >= set(NODE_CLASS_MAPPINGS)
    for node_id, cls in NODE_CLASS_MAPPINGS.items():
        declared = cls.INPUT_TYPES()
        for section in ("required", "optional"):
            assert set(info[node_id]["input"].get(section, {}) or {}) == set(
                declared.get(section, {})
            )
        assert info[node_id]["category"].startswith("vidgen/")
        assert info[node_id]["python_module"].startswith("custom_nodes.")


def _camera_only_prompt(
    client: Any, comfy: LiveComfyUI, tmp_path: Path, job: str, ref: str = "camera_only@1"
) -> tuple[dict[str, Any], str]:
    from conftest import photo
    from PIL import Image

    shoot = tmp_path / "shoot"
    shoot.mkdir(exist_ok=True)
    kf = shoot / "coffee.jpg"
    Image.fromarray(photo("coffee")).save(kf, quality=92)
    size = (256, 144)
    full = full_crop(600, 400, *size)
    end = {
        "x": full["x"] + 0.2 * full["w"],
        "y": full["y"] + 0.2 * full["h"],
        "w": 0.6 * full["w"],
        "h": 0.6 * full["h"],
    }
    m = build_manifest(
        keyframe=kf,
        input_root=shoot,
        motion_type="zoom_in",
        start=full,
        end=end,
        workflow=ref,
        seed=5,
        size=size,
        manifest_id="coffee-it",
    )
    sha = sha256_file(kf)
    up = client.upload_image(kf, subfolder=f"vidgen/{sha[:16]}")
    data = json.loads(canonical_json(m))
    data["keyframe"]["path"] = f"{up['subfolder']}/{up['name']}"
    sent = parse_manifest(data)
    api = copy.deepcopy(load_workflow(ref).api)
    for node in api.values():
        if node["class_type"] == "ManifestLoader":
            node["inputs"]["manifest_json"] = canonical_json(sent).decode()
        if node["class_type"] == "NVENCEncode":
            node["inputs"]["job_id"] = job
    return api, manifest_hash(sent)


def _run(client: Any, api: dict[str, Any], timeout: float = 900.0) -> tuple[str, list[str], Any]:
    """Submit, follow the websocket, then take /history as the truth."""
    client_id, prompt_id = uuid.uuid4().hex, uuid.uuid4().hex
    stop = threading.Event()
    seen: list[str] = []

    def listen() -> None:
        for ev in client.events(client_id, stop=stop):
            if ev.prompt_id in (None, prompt_id):
                seen.append(ev.type)
            if ev.prompt_id == prompt_id and ev.type in ("execution_success", "execution_error"):
                return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    time.sleep(0.5)  # the socket is open before the prompt is queued
    client.submit(api, prompt_id=prompt_id, client_id=client_id)
    deadline = time.monotonic() + timeout
    entry = None
    while time.monotonic() < deadline:
        entry = client.history(prompt_id)
        if entry is not None and (entry.completed or entry.status_str in ("success", "error")):
            break
        time.sleep(1.0)
    stop.set()
    t.join(timeout=10)
    assert entry is not None, f"no history for {prompt_id} after {timeout} s"
    return prompt_id, seen, entry


def test_camera_only_end_to_end_through_the_api(
    client: Any, comfy: LiveComfyUI, tmp_path: Path
) -> None:
    from comfy_vidgen.encode import probe

    # @2: every encode setting linked from ManifestLoader (bit_depth as a combo link)
    api, mhash = _camera_only_prompt(client, comfy, tmp_path, job="it-job-1", ref="camera_only@2")
    t0 = time.monotonic()
    prompt_id, seen, entry = _run(client, api)
    elapsed = time.monotonic() - t0
    assert entry.success, entry.messages
    assert "execution_start" in seen and "executed" in seen, seen
    outs = entry.vidgen_outputs()
    assert len(outs) == 1
    out = outs[0]
    mp4 = tmp_path / "out.mp4"
    assert client.download(out["filename"], mp4, subfolder=out["subfolder"])
    assert sha256_file(mp4) == out["sha256"]
    facts = probe(mp4).to_dict()
    assert facts["frames"] == 120 and facts["fps"] == 30 and abs(facts["duration"] - 4.0) < 1e-6
    assert (facts["width"], facts["height"]) == (256, 144) and facts["codec"] == "hevc"
    sidecar = json.loads(client.view_bytes(out["sidecar"], subfolder=out["subfolder"]))
    assert sidecar["manifest_hash"] == mhash
    assert out["filename"].startswith("it-job-1")
    # what the front end shows: an H.264 preview in the temp folder, not the delivery
    shown = [o for o in entry.outputs.values() if o.get("vidgen_outputs")][0]
    (item,) = shown["images"]
    assert item["type"] == "temp" and shown["animated"] == [True]
    prev = tmp_path / "preview.mp4"
    assert client.download(item["filename"], prev, subfolder=item["subfolder"], type="temp")
    assert (probe(prev).codec, probe(prev).frames, probe(prev).width) == ("h264", 120, 256)
    (
        Path(os.environ.get("VIDGEN_IT_REPORT", str(tmp_path))) / "camera_only_seconds.txt"
    ).write_text(f"{elapsed:.1f}\n")


def test_a_self_declaring_graph_refuses_another_workflows_manifest(
    client: Any, comfy: LiveComfyUI, tmp_path: Path
) -> None:
    """camera_only@2 declares its id: an svd_xt@2 manifest is refused by /prompt
    validation, naming both ids, and nothing is queued, run or written."""
    from conftest import photo
    from PIL import Image

    from orchestrator.client import PromptRejected

    kf = tmp_path / "coffee.jpg"
    Image.fromarray(photo("coffee")).save(kf, quality=92)
    crop = full_crop(600, 400, 512, 288)
    m = build_manifest(
        keyframe=kf, input_root=tmp_path, motion_type="static", start=crop, end=crop,
        workflow="svd_xt@2", seed=5, size=(512, 288), manifest_id="other-workflow",
    )  # fmt: skip
    api = copy.deepcopy(load_workflow("camera_only@2").api)
    for node in api.values():
        if node["class_type"] == "ManifestLoader":
            node["inputs"]["manifest_json"] = canonical_json(m).decode()
        if node["class_type"] == "NVENCEncode":
            node["inputs"]["job_id"] = "it-wrong-workflow"
    prompt_id = uuid.uuid4().hex
    with pytest.raises(PromptRejected) as e:
        client.submit(api, prompt_id=prompt_id, client_id=uuid.uuid4().hex)
    assert "svd_xt@2" in str(e.value) and "camera_only@2" in str(e.value), str(e.value)
    [(nid, err)] = e.value.node_errors.items()
    assert err["class_type"] == "ManifestLoader"
    assert client.history(prompt_id) is None
    assert not list((comfy.base / "output").rglob("it-wrong-workflow*"))


def test_manifest_loader_refuses_paths_outside_the_input_folder(
    client: Any, comfy: LiveComfyUI, tmp_path: Path
) -> None:
    api, _ = _camera_only_prompt(client, comfy, tmp_path, job="it-escape")
    loader = next(n for n in api.values() if n["class_type"] == "ManifestLoader")
    loader["inputs"]["manifest_json"] = ""
    loader["inputs"]["manifest"] = "../../../../etc/passwd"
    _, _, entry = _run(client, api, timeout=120)
    assert not entry.success
    err = entry.message("execution_error")
    assert err is not None and err["node_type"] == "ManifestLoader"
    assert "'..'" in err["exception_message"] or "outside" in err["exception_message"]


def test_manifest_loader_refuses_a_symlinked_keyframe_escaping(
    client: Any, comfy: LiveComfyUI, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.jpg"
    api, _ = _camera_only_prompt(client, comfy, tmp_path, job="it-symlink")
    loader = next(n for n in api.values() if n["class_type"] == "ManifestLoader")
    data = json.loads(loader["inputs"]["manifest_json"])
    real = comfy.input_dir / data["keyframe"]["path"]
    secret.write_bytes(real.read_bytes())
    link = comfy.input_dir / "escape.jpg"
    link.symlink_to(secret)
    data["keyframe"]["path"] = "escape.jpg"
    loader["inputs"]["manifest_json"] = json.dumps(data)
    _, _, entry = _run(client, api, timeout=120)
    err = entry.message("execution_error")
    assert err is not None and "outside the input root" in err["exception_message"]


@pytest.mark.parametrize("ref", [r for r in list_workflows() if not r.startswith("camera_only@")])
def test_generation_workflows_validate_in_real_comfyui_except_missing_weights(
    client: Any, ref: str, tmp_path: Path
) -> None:
    """ComfyUI's own validation (types of every link, input names, bounds) accepts the
    graph; the only complaints are the model files this CPU test machine does not have."""
    from conftest import photo
    from PIL import Image

    from orchestrator.client import PromptRejected

    kf = tmp_path / "coffee.jpg"
    Image.fromarray(photo("coffee")).save(kf, quality=92)
    full = full_crop(600, 400, 1024, 576)
    m = build_manifest(
        keyframe=kf,
        input_root=tmp_path,
        motion_type="static",
        start=full,
        end=full,
        workflow=ref,
        seed=1,
        generation={"prompt": "a cup of coffee"} if "prompt" in get_spec(ref).params else {},
    )
    api = copy.deepcopy(load_workflow(ref).api)
    for node in api.values():
        if node["class_type"] == "ManifestLoader":
            node["inputs"]["manifest_json"] = canonical_json(m).decode()
    with pytest.raises(PromptRejected) as exc:
        client.submit(api, prompt_id=uuid.uuid4().hex, client_id="lint")
    node_errors = exc.value.node_errors
    assert node_errors, exc.value
    for nid, ne in node_errors.items():
        for e in ne["errors"]:
            name = e.get("extra_info", {}).get("input_name")
            assert e["type"] == "value_not_in_list" and name in MODEL_FILE_INPUTS, (ref, nid, e)
