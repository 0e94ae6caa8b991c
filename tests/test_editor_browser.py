"""The camera-path editor in a real headless Chromium (Debian's ``chromium``, playwright-core).

* harness: a small server on 127.0.0.1 (tests/editor_harness.py) serving the pack's web
  folder, stand-ins for ComfyUI's ``scripts/app.js``/``api.js`` and the pack's real
  routes; runs everywhere the browser and ``tests/js/node_modules`` are installed.
* comfyui: the real ComfyUI from ``COMFYUI_DIR`` with the pack (skipped without it), on
  each front end: the one the checkout pins (1.27.10 for ComfyUI 0.3.64) and, when
  ``VIDGEN_FRONTEND_ROOT`` names another front end's ``static/`` folder (e.g. a newer
  comfyui-frontend-package, passed as ComfyUI's ``--front-end-root``), that one too, in
  both node renderers it offers (classic canvas; the opt-in Vue nodes,
  ``Comfy.VueNodes.Enabled``). One ComfyUI runs per front end for the whole module.

Both drag the end rectangle, resize it, nudge it with the keyboard, undo, switch the
motion type, apply a suggestion, play the move and save a manifest, then check the
saved manifest's crops against what the widgets hold. Screenshots go to
``$VIDGEN_ARTIFACTS/editor`` when set (CI keeps them), else into the test's tmp dir.
With ``VIDGEN_REQUIRE_BROWSER=1`` (set by .ci/run) a missing browser fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import photo
from PIL import Image

from comfy_vidgen.manifest import (
    ASPECT_TOLERANCE,
    Crop,
    _motion_error,
    load_manifest,
    verify_keyframe,
)

ROOT = Path(__file__).resolve().parents[1]
JS = ROOT / "tests" / "js"
NODE = shutil.which("node")
CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
OUT_W, OUT_H = 1024, 576


def _missing() -> str | None:
    if NODE is None:
        return "Node.js (node) is not installed"
    if not (JS / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (cd tests/js && npm ci)"
    if CHROMIUM is None:
        return "no chromium binary (apt-get install chromium)"
    return None


def _require_browser() -> None:
    why = _missing()
    if why is None:
        return
    if os.environ.get("VIDGEN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"VIDGEN_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


def _defaults() -> dict[str, Any]:
    """The node's widget values in declaration order, as a fresh node holds them."""
    from comfy_vidgen.nodes.camera import CameraPathConditioner

    out = {}
    for name, (typ, opts) in CameraPathConditioner.INPUT_TYPES()["required"].items():
        if typ == "IMAGE":
            continue
        out[name] = opts["default"]
    return out


def _artefacts(tmp_path: Path, mode: str) -> Path:
    base = os.environ.get("VIDGEN_ARTIFACTS")
    return Path(base) / "editor" / mode if base else tmp_path / "screenshots"


def _drive(
    url: str,
    mode: str,
    out: Path,
    image: str,
    workflow: Path | None = None,
    manifest: str | None = None,
    node_mode: str = "classic",
    name: str = "e2e_shot",
) -> dict[str, Any]:
    cmd = [
        NODE or "node",
        str(JS / "editor_e2e.mjs"),
        "--url", url, "--mode", mode, "--image", image, "--name", name,
        "--out", str(out), "--chromium", CHROMIUM or "", "--node-mode", node_mode,
    ]  # fmt: skip
    if workflow is not None:
        cmd += ["--workflow", str(workflow)]
    if manifest is not None:
        cmd += ["--manifest", manifest]
    proc = subprocess.run(cmd, cwd=JS, capture_output=True, text=True, timeout=420)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _crop(v: dict[str, Any], p: str) -> dict[str, float]:
    return {k: float(v[f"{p}_{k}"]) for k in "xywh"}


def _aspect_ok(c: dict[str, float], iw: int, ih: int) -> bool:
    return abs((c["w"] * iw) / (c["h"] * ih) / (OUT_W / OUT_H) - 1) <= ASPECT_TOLERANCE


def _consistent(v: dict[str, Any]) -> bool:
    start, end = Crop.model_validate(_crop(v, "start")), Crop.model_validate(_crop(v, "end"))
    return _motion_error(v["motion_type"], start, end) is None


def _check_report(
    rep: dict[str, Any], input_dir: Path, iw: int, ih: int, name: str = "e2e_shot"
) -> None:
    assert rep["console"] == [], rep["console"]
    init = rep["initial"]
    # loading the keyframe gave the default crops the output aspect (the node's defaults are square)
    for p in ("start", "end"):
        assert _aspect_ok(_crop(init, p), iw, ih), init
    assert _consistent(init)

    # drag: the end crop moved by the pointer delta (canvas px -> keyframe fraction), same size
    lay, d = rep["layout"], rep["drag"]
    e0, e1 = _crop(init, "end"), _crop(rep["afterDrag"], "end")
    assert e1["x"] == pytest.approx(e0["x"] + d["dx"] / lay["dw"], abs=2e-3)
    assert e1["y"] == pytest.approx(e0["y"] + d["dy"] / lay["dh"], abs=2e-3)
    assert (e1["w"], e1["h"]) == pytest.approx((e0["w"], e0["h"]), abs=1e-6)
    assert _crop(rep["afterDrag"], "start") == _crop(init, "start")
    assert _consistent(rep["afterDrag"])

    # resize from the south-east handle: smaller, north-west corner fixed, aspect locked
    e2 = _crop(rep["afterResize"], "end")
    assert e2["w"] < e1["w"] - 0.01
    assert (e2["x"], e2["y"]) == pytest.approx((e1["x"], e1["y"]), abs=1e-6)
    assert _aspect_ok(e2, iw, ih) and _consistent(rep["afterResize"])

    # keyboard: one ArrowRight = one keyframe pixel; Ctrl+Z undoes exactly the last nudge
    n2, n3 = _crop(rep["afterNudge2"], "end"), _crop(rep["afterNudge3"], "end")
    assert n2["x"] == pytest.approx(e2["x"] + 2 / iw, abs=2e-6)
    assert n3["x"] == pytest.approx(n2["x"] + 1 / iw, abs=2e-6)
    assert rep["afterUndo"] == rep["afterNudge2"]

    # picking pan_right moves the rectangles so that pan_right holds; Undo restores
    assert rep["afterPanRight"]["motion_type"] == "pan_right" and _consistent(rep["afterPanRight"])
    assert rep["afterPanUndo"] == rep["afterUndo"]

    # a suggestion fills exactly its camera fragment; Undo restores
    cam = rep["suggestions"][0]["camera"]
    s = rep["afterSuggestion"]
    assert (s["motion_type"], s["easing"]) == (cam["motion_type"], cam["easing"])
    assert _crop(s, "start") == pytest.approx(cam["start_frame"], abs=1e-6)
    assert _crop(s, "end") == pytest.approx(cam["end_frame"], abs=1e-6)
    assert rep["afterSuggestionUndo"] == rep["afterPanUndo"]

    # play: 120 output frames at 30 fps, ran to the last frame
    ps = rep["playStats"]
    assert (ps["frames"], ps["fps"], ps["lastFrame"], ps["runs"]) == (120, 30, 119, 1)
    assert 2 <= ps["framesShown"] <= 120

    # save: the manifest in the input folder holds exactly the widget values
    assert rep["saved"]["path"] == f"manifests/{name}.json", rep["saved"]
    final = rep["final"]
    assert final == rep["afterSuggestionUndo"]
    m = load_manifest(input_dir / "manifests" / f"{name}.json")
    verify_keyframe(m, input_dir)
    assert m.camera.start_frame.model_dump() == _crop(final, "start")
    assert m.camera.end_frame.model_dump() == _crop(final, "end")
    assert (m.camera.motion_type, m.camera.easing) == (final["motion_type"], final["easing"])
    assert (m.output.width, m.output.height) == (final["width"], final["height"])
    assert "px at" in rep["readout"]

    for shot in rep["screenshots"]:
        with Image.open(shot) as im:
            assert im.format == "PNG" and im.width > 200 and im.height > 200


def _write_keyframe(input_dir: Path) -> tuple[str, int, int]:
    rgb = photo("coffee")
    Image.fromarray(rgb).save(input_dir / "coffee.jpg", quality=92)
    return "coffee.jpg", rgb.shape[1], rgb.shape[0]


def test_editor_in_harness(tmp_path: Path) -> None:
    _require_browser()
    from editor_harness import serving

    input_dir = tmp_path / "input"
    input_dir.mkdir()
    name, iw, ih = _write_keyframe(input_dir)
    query = urlencode({"widgets": json.dumps(_defaults()), "image": name})
    with serving(input_dir) as base:
        rep = _drive(f"{base}/?{query}", "harness", _artefacts(tmp_path, "harness"), name)
    # the guarded hooks: the failure is shown in the editor and logged, nothing propagates
    guard = rep["guard"]
    assert guard["threw"] is None and guard["statusIsError"], guard
    assert "camera-path editor refresh failed: boom from the test" in guard["error"], guard
    logged = [c for c in rep["console"] if "boom from the test" in c]
    assert len(logged) == 2  # onConfigure and onConnectionsChange
    rep["console"] = [c for c in rep["console"] if c not in logged]
    _check_report(rep, input_dir, iw, ih)


# --------------------------------------------------------------------------- real ComfyUI

#: the front ends a run covers: the pinned one always, a newer one when VIDGEN_FRONTEND_ROOT is set
FRONTENDS = ("pinned", "newest")
#: node renderers per front end. The pinned 1.27.10 has only an experimental, hidden Vue
#: renderer that does not mount DOM widgets (no editor to test there); 1.58 offers it as
#: the "Modern Node Design (Nodes 2.0)" setting.
NODE_MODES = {"pinned": ("classic",), "newest": ("classic", "vue")}
EDITOR_CASES = [(fe, mode) for fe in FRONTENDS for mode in NODE_MODES[fe]]


@dataclass
class LiveFrontend:
    """One ComfyUI serving one front end, shared by the module's tests."""

    name: str
    live: Any  # live_comfyui.LiveComfyUI
    image: str
    iw: int
    ih: int
    full: dict[str, float]
    #: manifest file -> the workflow it is made for, as written before start-up
    manifests: dict[str, str]


def _frontend_root(name: str) -> str | None:
    if name == "pinned":
        return None
    root = os.environ.get("VIDGEN_FRONTEND_ROOT")
    if not root:
        pytest.skip(
            "VIDGEN_FRONTEND_ROOT is not set: only the pinned front end is tested "
            "(point it at a newer comfyui-frontend-package's static/ folder)"
        )
    if not (Path(root) / "index.html").is_file():
        pytest.fail(f"VIDGEN_FRONTEND_ROOT={root} has no index.html")
    return root


def _write_manifests(input_dir: Path, image: str, iw: int, ih: int) -> dict[str, str]:
    """Manifests of three workflows, so the ManifestLoader's narrowed list can be checked."""
    from comfy_vidgen.manifest import build_manifest, dumps_pretty, full_crop

    full = full_crop(iw, ih, OUT_W, OUT_H)
    end = {"x": 0.25, "y": 0.3, "w": 0.5, "h": 0.5 * full["h"]}
    made = {"start.json": "camera_only@1", "v2_shot.json": "camera_only@2", "svd.json": "svd_xt@2"}
    for fname, wf in made.items():
        m = build_manifest(
            keyframe=input_dir / image,
            input_root=input_dir,
            motion_type="zoom_in",
            start=full,
            end=end,
            workflow=wf,
            seed=777,
            size=(OUT_W, OUT_H),
        )
        (input_dir / "manifests" / fname).write_text(dumps_pretty(m))
    return made


@pytest.fixture(scope="module", params=FRONTENDS)
def live_front(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveFrontend]:
    from live_comfyui import comfyui_dir, running_comfyui

    from comfy_vidgen.manifest import full_crop

    if comfyui_dir() is None:
        pytest.skip("COMFYUI_DIR is not set to a ComfyUI checkout")
    _require_browser()
    root = _frontend_root(request.param)
    base = tmp_path_factory.mktemp(f"comfy-{request.param}")
    (base / "input" / "manifests").mkdir(parents=True)
    image, iw, ih = _write_keyframe(base / "input")
    manifests = _write_manifests(base / "input", image, iw, ih)
    extra = ("--front-end-root", root) if root else ()
    with running_comfyui(base, extra_args=extra) as live:
        yield LiveFrontend(
            request.param, live, image, iw, ih, full_crop(iw, ih, OUT_W, OUT_H), manifests
        )
    assert "vidgen editor routes registered" in live.log.read_text()


@pytest.mark.parametrize(
    ("live_front", "node_mode"), EDITOR_CASES, indirect=["live_front"],
    ids=[f"{fe}-{mode}" for fe, mode in EDITOR_CASES],
)  # fmt: skip
def test_editor_in_real_comfyui(live_front: LiveFrontend, node_mode: str, tmp_path: Path) -> None:
    fe = live_front
    name = f"e2e_{fe.name}_{node_mode}"
    wf = ROOT / "workflows" / "camera_only" / "v1" / "workflow.json"
    # camera_only@1 feeds CameraPathConditioner from a ManifestLoader: the artist picks a manifest
    rep = _drive(
        fe.live.url,
        "comfyui",
        _artefacts(tmp_path, f"comfyui-{fe.name}-{node_mode}"),
        fe.image,
        wf,
        manifest="start.json",
        node_mode=node_mode,
        name=name,
    )
    assert rep["renderer"]["vueNodes"] is (node_mode == "vue"), rep["renderer"]
    assert rep["sameNodeAfterUndo"] is True  # Ctrl+Z in the editor is not also a graph undo
    _check_report(rep, fe.live.input_dir, fe.iw, fe.ih, name)
    assert rep["setup"]["source"] == "ManifestLoader"
    # the editor opened on the selected manifest's camera; the saved one keeps its seed
    assert _crop(rep["initial"], "start") == pytest.approx(fe.full, abs=1e-6)
    saved = load_manifest(fe.live.input_dir / "manifests" / f"{name}.json")
    assert saved.generation.seed == 777
    # what Queue would submit: the drawn values (linked inputs stay links), no editor widget
    inputs = rep["prompt"]["inputs"]
    for key, value in rep["final"].items():
        if not isinstance(inputs[key], list):
            assert inputs[key] == value, key
    assert "camera_editor" not in inputs
    assert rep["prompt"]["class_type"] == "CameraPathConditioner"


def test_every_released_workflow_loads_in_real_comfyui(live_front: LiveFrontend) -> None:
    """Each workflow.json opens in the real front end, in each node renderer it offers, with
    no error or dialog, and the prompt the front end makes of it is its api.json. From @2
    exactly; the @1 files predate two optional widgets (ManifestLoader.workflow,
    RIFEInterpolate.timing), which the front end fills with their defaults. The
    ManifestLoader offers only the manifests of the graph's declared workflow."""
    from comfy_vidgen.manifest_loading import INLINE_CHOICE
    from comfy_vidgen.workflow_graph import list_workflows, load_workflow

    fe = live_front
    modes = NODE_MODES[fe.name]
    r = subprocess.run(
        [NODE or "node", str(JS / "load_workflows.mjs"), "--url", fe.live.url,
         "--workflows", str(ROOT / "workflows"), "--chromium", str(CHROMIUM),
         "--node-modes", ",".join(modes)],
        capture_output=True, text=True, timeout=600, cwd=JS,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    added_since_v1 = {
        "ManifestLoader": {"workflow": ""},
        "RIFEInterpolate": {"timing": "midpoint_gated"},
    }
    # every manifest in the folder (the editor tests may have saved some) and its workflow
    folder = fe.live.input_dir / "manifests"
    listed = {
        p.relative_to(folder).as_posix(): json.loads(p.read_text())["generation"]["workflow"]
        for p in folder.rglob("*.json")
    }
    assert set(fe.manifests) <= set(listed)
    for mode in modes:
        got_mode = report["modes"][mode]
        assert got_mode["renderer"]["vueNodes"] is (mode == "vue"), got_mode["renderer"]
        assert got_mode["startupErrors"] == [], (mode, got_mode["startupErrors"])
        assert set(got_mode["workflows"]) == set(list_workflows())
        for ref, got in got_mode["workflows"].items():
            assert got["errors"] == [] and got["dialogs"] == [], (mode, ref, got)
            api = load_workflow(ref).api
            want = {
                k: {"class_type": n["class_type"], "inputs": n["inputs"]} for k, n in api.items()
            }
            made = {k: {"class_type": n["class_type"], "inputs": n["inputs"]} for k, n in got["prompt"].items()}  # fmt: skip
            if ref.endswith("@1"):
                for node in want.values():
                    node["inputs"] = {
                        **added_since_v1.get(node["class_type"], {}),
                        **node["inputs"],
                    }
            assert made == want, (mode, ref)
            # the manifest list: only those made for the declared workflow (the first five
            # workflows' @1 graphs declare none; wan22_i2v_a14b_4step declares from its @1)
            declared = next(
                (n["inputs"].get("workflow", "") for n in api.values()
                 if n["class_type"] == "ManifestLoader"),
                "",
            )  # fmt: skip
            files = sorted(f for f, wf in listed.items() if not declared or wf == declared)
            assert got["manifestChoices"] == [INLINE_CHOICE, *files], (mode, ref)


def test_templates_appear_in_the_template_browser_and_open(
    live_front: LiveFrontend, tmp_path: Path
) -> None:
    """example_workflows/ as an artist meets it: Workflow > Browse Templates lists the
    pack with one card per workflow (our thumbnail on it), and a click opens the graph."""
    from comfy_vidgen import workflow_examples
    from comfy_vidgen.workflow_graph import load_workflow

    fe = live_front
    ref = next(r for r in workflow_examples.newest_versions() if r.startswith("camera_only@"))
    title = workflow_examples.example_name(ref)
    mode = NODE_MODES[fe.name][-1]  # Vue nodes where the front end offers them
    r = subprocess.run(
        [NODE or "node", str(JS / "templates.mjs"), "--url", fe.live.url, "--title", title,
         "--node-mode", mode, "--chromium", str(CHROMIUM),
         "--out", str(_artefacts(tmp_path, f"templates-{fe.name}-{mode}"))],
        capture_output=True, text=True, timeout=300, cwd=JS,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["errors"] == [], rep["errors"]
    assert sorted(rep["listed"]["comfy-vidgen"]) == sorted(workflow_examples.expected())
    assert rep["thumbnail"] == {"naturalWidth": 400, "naturalHeight": 300}
    assert rep["thumbnailFetch"]["status"] == 200, rep["thumbnailFetch"]
    assert rep["opened"]["workflow"] == ref
    api = load_workflow(ref).api
    made = {k: {"class_type": n["class_type"], "inputs": n["inputs"]} for k, n in rep["opened"]["prompt"].items()}  # fmt: skip
    assert made == {
        k: {"class_type": n["class_type"], "inputs": n["inputs"]} for k, n in api.items()
    }
