"""`vidgen run --engine comfyui` against a real, headless ComfyUI, and the fake checked against it.

Runs when COMFYUI_DIR points at a ComfyUI checkout (COMFYUI_PYTHON: its interpreter)
and the RIFE weights are fetched; skipped otherwise. One ComfyUI instance serves the
whole module (``--cpu``, loopback, private base directory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from live_comfyui import LiveComfyUI, comfyui_dir, running_comfyui

from comfy_vidgen.manifest import (
    build_manifest,
    canonical_json,
    dumps_pretty,
    full_crop,
    manifest_hash,
    parse_manifest,
)
from comfy_vidgen.models import load_lock, locate

pytestmark = [
    pytest.mark.comfyui,
    pytest.mark.skipif(
        comfyui_dir() is None,
        reason="COMFYUI_DIR not set to a ComfyUI checkout: the real-ComfyUI run and the"
        " fake's cross-check need one (docs/comfyui.md)",
    ),
]

VIDGEN = [sys.executable, "-m", "comfy_vidgen.cli"]
SIZE = (256, 144)
#: (photo, motion) of the three shots; real photos, three different camera moves
SHOTS = (("coffee", "zoom_in"), ("astronaut", "zoom_out"), ("chelsea", "pan_right"))


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveComfyUI]:
    rife = locate(load_lock().get("rife-4.25"))
    if rife is None:
        pytest.skip(
            "rife-4.25 weights not fetched (make test fetches them: vidgen models fetch rife-4.25)"
        )
    base = tmp_path_factory.mktemp("comfyui")
    (base / "models" / "rife").mkdir(parents=True)
    (base / "models" / "rife" / rife.name).symlink_to(rife)
    with running_comfyui(base) as live:
        yield live


def _crops(motion: str, w: int, h: int) -> tuple[dict[str, float], dict[str, float]]:
    full = full_crop(w, h, *SIZE)
    inner = {
        "x": full["x"] + 0.15 * full["w"],
        "y": full["y"] + 0.15 * full["h"],
        "w": 0.7 * full["w"],
        "h": 0.7 * full["h"],
    }
    if motion == "zoom_in":
        return full, inner
    if motion == "zoom_out":
        return inner, full
    left = {**inner, "x": full["x"]}
    right = {**inner, "x": full["x"] + 0.3 * full["w"]}
    return left, right


def _write_manifest(root: Path, name: str, motion: str, seed: int, manifest_id: str) -> Path:
    """A camera_only@1 manifest (256x144, 120 frames at 30 fps) of a real photo."""
    from conftest import photo
    from PIL import Image

    kf = root / f"{name}.jpg"
    img = photo(name)
    if not kf.exists():
        Image.fromarray(img).save(kf, quality=92)
    start, end = _crops(motion, img.shape[1], img.shape[0])
    m = build_manifest(
        keyframe=kf,
        input_root=root,
        motion_type=motion,
        start=start,
        end=end,
        workflow="camera_only@1",
        seed=seed,
        size=SIZE,
        manifest_id=manifest_id,
        output={"frames": 120, "fps": 30},
    )
    p = root / "manifests" / f"{manifest_id}.json"
    p.parent.mkdir(exist_ok=True)
    p.write_text(dumps_pretty(m))
    return p


@pytest.fixture(scope="module")
def shoot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Three manifests of three real photos, three different camera moves."""
    root = tmp_path_factory.mktemp("shoot")
    paths = [
        _write_manifest(root, name, motion, 10 + i, f"it-{name}")
        for i, (name, motion) in enumerate(SHOTS)
    ]
    return root, paths


def _vidgen(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VIDGEN, *args], capture_output=True, text=True, timeout=timeout)


def _history_ids(url: str) -> set[str]:
    r = requests.get(f"{url}/history", timeout=10)
    r.raise_for_status()
    return set(r.json())


def test_vidgen_run_three_manifests_on_one_real_comfyui(
    comfy: LiveComfyUI, shoot: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    from comfy_vidgen.encode import probe
    from comfy_vidgen.workflow_graph import load_workflow

    root, manifests = shoot
    db, out = tmp_path / "vidgen.db", tmp_path / "out"
    run_args = [
        "run",
        str(root / "manifests"),
        "--engine",
        "comfyui",
        "--comfyui",
        comfy.url,
        "--ledger",
        str(db),
        "--out",
        str(out),
        "--input-root",
        str(root),
        "--json",
    ]  # QC-gated (the default gate): real camera_only clips pass it
    before = _history_ids(comfy.url)
    t0 = time.monotonic()
    r = _vidgen(*run_args)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads(r.stdout)
    assert res["counts"]["done"] == 3 and all(j["created"] for j in res["jobs"]), res
    (Path(os.environ.get("VIDGEN_IT_REPORT", str(tmp_path))) / "run_three_seconds.txt").write_text(
        f"{elapsed:.1f}\n"
    )

    st = _vidgen("status", "--ledger", str(db), "--json", timeout=60)
    assert st.returncode == 0, st.stderr
    status = json.loads(st.stdout)
    assert status["counts"]["done"] == 3
    assert sum(status["counts"].values()) == 3 and status["failures"] == []

    version = requests.get(f"{comfy.url}/system_stats", timeout=10).json()["system"][
        "comfyui_version"
    ]
    wf_sha = load_workflow("camera_only@1").sha256
    submitted = _history_ids(comfy.url) - before
    assert len(submitted) == 3  # one prompt per job, none retried
    by_source = {j["source"]: j for j in res["jobs"]}
    assert sorted(by_source) == sorted(str(m) for m in manifests)
    for src in manifests:
        job = by_source[str(src)]
        assert job["state"] == "done"
        rec = json.loads(Path(job["audit"]).read_text())
        assert rec["comfyui_version"] == version == "0.3.64"
        assert rec["workflow_sha256"] == wf_sha
        assert rec["manifest_hash"] == manifest_hash(parse_manifest(src.read_text()))
        assert rec["verification"]["qc"] is not None  # the gate ran and passed
        facts = probe(job["output"]).to_dict()
        assert (facts["frames"], facts["fps"]) == (120, 30), facts
        assert (facts["width"], facts["height"], facts["codec"]) == (*SIZE, "hevc"), facts
        assert Path(job["output"]).parent == out / rec["manifest"]["id"]

    # the same run again: every job is known and done, nothing reaches ComfyUI
    r2 = _vidgen(*run_args)
    assert r2.returncode == 0, r2.stderr[-4000:]
    res2 = json.loads(r2.stdout)
    assert [j["created"] for j in res2["jobs"]] == [False] * 3
    assert [j["job_id"] for j in res2["jobs"]] == [j["job_id"] for j in res["jobs"]]
    assert _history_ids(comfy.url) - before == submitted
    assert requests.get(f"{comfy.url}/queue", timeout=10).json() == {
        "queue_running": [],
        "queue_pending": [],
    }


# --------------------------------------------------------------------------- the fake vs the real


def _prompt(client: Any, manifest_path: Path, root: Path, job: str) -> dict[str, Any]:
    """The pack's camera_only@1 graph filled the way the dispatcher fills it."""
    from comfy_vidgen.fsutil import sha256_file
    from orchestrator.workflow import fill, load_workflow

    m = parse_manifest(manifest_path.read_text())
    kf = root / m.keyframe.path
    up = client.upload_image(kf, subfolder=f"vidgen/{sha256_file(kf)[:16]}")
    data = json.loads(canonical_json(m))
    data["keyframe"]["path"] = f"{up['subfolder']}/{up['name']}"
    return fill(load_workflow("camera_only@1"), canonical_json(parse_manifest(data)).decode(), job)


def _record(
    url: str, api: dict[str, Any], timeout: float = 600, raw: list[tuple[str, str]] | None = None
) -> tuple[list[Any], Any]:
    """Submit ``api`` with our own websocket open; the events until the end, and /history.
    ``raw`` collects each text frame's (type, text) as the dispatcher's filter sees it."""
    from orchestrator.client import ComfyClient

    def keep(kind: str, text: str) -> bool:
        if raw is not None:
            raw.append((kind, text))
        return True

    client = ComfyClient(url)
    client_id, prompt_id = uuid.uuid4().hex, uuid.uuid4().hex
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    events = []
    try:
        it = client.events(client_id, stop=stop, keep=keep)
        first = next(it)  # the socket is open (ComfyUI greets with `status`) before we submit
        events.append(first)
        client.submit(api, prompt_id=prompt_id, client_id=client_id)
        for ev in it:
            events.append(ev)
            if ev.type == "executing" and ev.data.get("node") is None:
                if ev.prompt_id == prompt_id:
                    break
    finally:
        timer.cancel()
        stop.set()
    assert events[-1].type == "executing" and events[-1].prompt_id == prompt_id, (
        f"no end of {prompt_id} within {timeout} s: {[e.type for e in events[-5:]]}"
    )
    body = requests.get(f"{url}/history/{prompt_id}", timeout=10).json()
    client.close()
    return events, body[prompt_id]


def _types(events: list[Any]) -> list[str]:
    """Event types in order; a run of progress/progress_state (one per frame) counts once."""
    out: list[str] = []
    for ev in events:
        t = "progress*" if ev.type in ("progress", "progress_state") else ev.type
        if not (out and out[-1] == t == "progress*"):
            out.append(t)
    return out


def _key_shapes(events: list[Any]) -> dict[str, set[tuple[str, ...]]]:
    """Per event type, the key sets of its data (and of nested objects the client reads)."""
    shapes: dict[str, set[tuple[str, ...]]] = {}
    for ev in events:
        shapes.setdefault(ev.type, set()).add(tuple(sorted(ev.data)))
        if ev.type == "progress_state":
            for n in ev.data["nodes"].values():
                shapes.setdefault("progress_state.nodes[]", set()).add(tuple(sorted(n)))
        if ev.type == "executed":
            shapes.setdefault("executed.output", set()).add(tuple(sorted(ev.data["output"])))
        if ev.type == "status":
            shapes.setdefault("status.status", set()).add(tuple(sorted(ev.data["status"])))
    return shapes


def _history_shape(entry: dict[str, Any]) -> dict[str, Any]:
    outputs = entry["outputs"]
    shape: dict[str, Any] = {
        "keys": sorted(entry),
        "prompt": [type(x).__name__ for x in entry["prompt"]],
        "status": sorted(entry["status"]),
        "status.messages": [(name, sorted(data)) for name, data in entry["status"]["messages"]],
        "outputs": {n: sorted(o) for n, o in outputs.items()},
        "outputs.vidgen_outputs[]": sorted(
            {tuple(sorted(i)) for o in outputs.values() for i in o.get("vidgen_outputs", [])}
        ),
        "outputs.images[]": sorted(
            {tuple(sorted(i)) for o in outputs.values() for i in o.get("images", [])}
        ),
    }
    if "meta" in entry:
        shape["meta"] = {n: sorted(v) for n, v in entry["meta"].items()}
    return shape


def test_fake_comfyui_speaks_like_the_real_one(comfy: LiveComfyUI, tmp_path: Path) -> None:
    from fake_comfyui import FakeComfyUI

    from orchestrator.client import ComfyClient

    # a manifest of its own: nothing of its graph is in ComfyUI's cache (the fake has no
    # cache, so a cached run would differ in `execution_cached` and the skipped nodes)
    root = tmp_path / "xcheck"
    root.mkdir()
    manifest = _write_manifest(root, "coffee", "zoom_in", 99, "xcheck-coffee")
    real_client = ComfyClient(comfy.url)
    api = _prompt(real_client, manifest, root, job="xcheck-1")
    raw: list[tuple[str, str]] = []
    real_events, real_hist = _record(comfy.url, api, raw=raw)
    real_stats = real_client.system_stats()
    real_client.close()
    assert real_hist["status"]["status_str"] == "success", real_hist["status"]

    with FakeComfyUI(tmp_path / "fake", render="camera") as fake:
        fake_client = ComfyClient(fake.url)
        assert _prompt(fake_client, manifest, root, job="xcheck-1") == api  # same upload path
        fake_events, fake_hist = _record(fake.url, api, timeout=120)
        fake_stats = fake_client.system_stats()
        fake_client.close()

    assert _types(fake_events) == _types(real_events)
    # the dispatcher drops per-node `executing` from the raw text: ComfyUI's layout
    from orchestrator.fleet import dispatch_filter

    keep = dispatch_filter(interval_s=0)
    executing = [(text, json.loads(text)["data"]["node"]) for k, text in raw if k == "executing"]
    assert executing and executing[-1][1] is None
    assert [keep("executing", text) for text, _ in executing] == [
        node is None for _, node in executing
    ]
    nodes = [
        (e.type, e.data.get("node")) for e in real_events if e.type in ("executing", "executed")
    ]
    assert [
        (e.type, e.data.get("node")) for e in fake_events if e.type in ("executing", "executed")
    ] == nodes
    assert {e.data["node"] for e in real_events if e.type == "progress"} <= {
        e.data["node"] for e in fake_events if e.type == "progress"
    }
    assert _key_shapes(fake_events) == _key_shapes(real_events)
    assert _history_shape(fake_hist) == _history_shape(real_hist)
    assert sorted(fake_stats) == sorted(real_stats)
    assert sorted(fake_stats["system"]) == sorted(real_stats["system"])
    assert [sorted(d) for d in fake_stats["devices"]] == [sorted(d) for d in real_stats["devices"]]


# --------------------------------------------------------------------------- local = rack


def test_the_local_engine_retimes_as_the_rack_does(comfy: LiveComfyUI, tmp_path: Path) -> None:
    """One retimed move (13 rendered frames -> 120) per graph version, on the local engine
    and on the real ComfyUI: the same frames (the local engine runs the timing the
    released graph runs, arbitrary for @1, midpoint_gated for @3), while the two versions
    differ from each other."""
    from conftest import photo
    from PIL import Image

    from comfy_vidgen.encode import iter_rgb
    from comfy_vidgen.pipeline import run_camera_only

    root = tmp_path / "shoot"
    (root / "manifests").mkdir(parents=True)
    kf = root / "coffee.jpg"
    img = photo("coffee")
    Image.fromarray(img).save(kf, quality=92)
    start, end = _crops("zoom_in", img.shape[1], img.shape[0])
    frames: dict[tuple[str, int], Any] = {}
    for version in (1, 3):
        m = build_manifest(
            keyframe=kf, input_root=root, motion_type="zoom_in", start=start, end=end,
            workflow=f"camera_only@{version}", seed=7, size=SIZE,
            generation={"frames": 13}, output={"frames": 120, "fps": 30},
            manifest_id=f"retime-v{version}",
        )  # fmt: skip
        src = root / "manifests" / f"v{version}.json"
        src.write_text(dumps_pretty(m))
        local = run_camera_only(m, root, tmp_path / f"local-v{version}", f"l{version}")
        frames["local", version] = np.stack(list(iter_rgb(local.mp4))).astype(np.int16)
        out = tmp_path / f"rack-v{version}"
        r = _vidgen(
            "run", str(src), "--engine", "comfyui", "--comfyui", comfy.url, "--no-qc",
            "--ledger", str(tmp_path / f"v{version}.db"), "--out", str(out),
            "--input-root", str(root), "--json",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-4000:]
        (job,) = json.loads(r.stdout)["jobs"]
        frames["rack", version] = np.stack(list(iter_rgb(job["output"]))).astype(np.int16)

    def mad(a: tuple[str, int], b: tuple[str, int]) -> float:
        return float(np.abs(frames[a] - frames[b]).mean())

    for v in (1, 3):
        assert frames["local", v].shape == frames["rack", v].shape == (120, SIZE[1], SIZE[0], 3)
        assert mad(("local", v), ("rack", v)) < 0.05, v
    assert mad(("local", 1), ("local", 3)) > 4 * max(mad(("local", v), ("rack", v)) for v in (1, 3))
