"""Camera-path editor: route logic (editor_api), route registration, JS/Python rule parity.

The JavaScript side runs through Node.js (``node --test`` for its own unit tests and
tests/js/geometry_cli.mjs for parity); those tests skip when ``node`` is absent.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import photo
from PIL import Image

from comfy_vidgen import editor_api
from comfy_vidgen.camera import CameraPath
from comfy_vidgen.manifest import (
    ASPECT_TOLERANCE,
    Crop,
    _motion_error,
    load_manifest,
    manifest_hash,
    verify_keyframe,
)

ROOT = Path(__file__).resolve().parents[1]
JS = ROOT / "tests" / "js"
NODE = shutil.which("node")
# CI (.ci/browser.sh) sets VIDGEN_REQUIRE_BROWSER=1: there a missing Node.js fails
needs_node = pytest.mark.skipif(
    NODE is None and os.environ.get("VIDGEN_REQUIRE_BROWSER") != "1",
    reason="Node.js (node) is not installed",
)


def _node_eval(request: dict[str, Any]) -> dict[str, Any]:
    assert NODE is not None
    out = subprocess.run(
        [NODE, str(JS / "geometry_cli.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _body(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "shot_1",
        "image": "coffee.jpg",
        "motion_type": "zoom_in",
        "easing": "ease_in_out",
        # coffee is 600x400; 1024x576 crops: h = w * 600*576 / (400*1024) = 0.84375 w
        "start": {"x": 0.0, "y": 0.078125, "w": 1.0, "h": 0.84375},
        "end": {"x": 0.3, "y": 0.2, "w": 0.5, "h": 0.421875},
        "width": 1024,
        "height": 576,
        "length": 25,
    }
    base.update(kw)
    return base


def _post(route: str, root: Path, body: Any) -> editor_api.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return editor_api.handle(route, root, raw)


# --------------------------------------------------------------------------- save_manifest


def test_save_writes_a_valid_manifest_with_exactly_the_drawn_values(
    input_root: Path, coffee_jpeg: Path
) -> None:
    body = _body()
    r = _post("save_manifest", input_root, body)
    assert r.status == 200, r.body
    # input/manifests/ is where ManifestLoader lists manifests
    path = input_root / "manifests" / "shot_1.json"
    assert r.body["path"] == "manifests/shot_1.json"
    m = load_manifest(path)
    assert verify_keyframe(m, input_root) == coffee_jpeg.resolve()
    assert m.keyframe.path == "coffee.jpg"
    assert (m.keyframe.width, m.keyframe.height) == (600, 400)
    assert m.camera.start_frame.model_dump() == body["start"]
    assert m.camera.end_frame.model_dump() == body["end"]
    assert (m.camera.motion_type, m.camera.easing) == ("zoom_in", "ease_in_out")
    assert (m.output.width, m.output.height) == (1024, 576)
    assert m.generation.frames == 25 and m.generation.workflow == "camera_only@3"  # the default
    assert r.body["manifest_hash"] == manifest_hash(m)
    # atomic write: no temp file left beside it
    assert sorted(p.name for p in path.parent.iterdir()) == ["shot_1.json"]


def test_save_refuses_to_overwrite_unless_asked(input_root: Path, coffee_jpeg: Path) -> None:
    assert _post("save_manifest", input_root, _body()).status == 200
    saved = input_root / "manifests" / "shot_1.json"
    first = saved.read_bytes()
    r = _post("save_manifest", input_root, _body(easing="linear"))
    assert r.status == 409 and "already exists" in r.body["error"]
    assert saved.read_bytes() == first
    r = _post("save_manifest", input_root, _body(easing="linear", overwrite=True))
    assert r.status == 200
    assert load_manifest(saved).camera.easing == "linear"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"name": "../evil"}, "name must be"),
        ({"name": "a/b"}, "name must be"),
        ({"name": ".hidden"}, "name must be"),
        ({"name": ""}, "name must be"),
        ({"name": 5}, "name must be a string"),
        ({"image": "../coffee.jpg"}, "must not contain '..'"),
        ({"image": "/etc/passwd.png"}, "absolute"),
        ({"image": "coffee.jpg [output]"}, "input-folder images only"),
        ({"image": "notes.txt"}, "image must be one of"),
        ({"image": None}, "image must be a file name"),
        ({"motion_type": "spin"}, "motion_type must be one of"),
        ({"easing": "bounce"}, "easing must be one of"),
        ({"start": [0, 0, 1, 1]}, "start must be an object"),
        ({"end": {"x": 0, "y": 0, "w": 1}}, "end must be an object"),
        ({"end": {"x": 0, "y": 0, "w": True, "h": 1}}, "end.w must be a number"),
        ({"width": 1000.5}, "width must be an integer"),
        ({"width": 10}, "width must be an integer 64..4096"),
        ({"seed": -1}, "seed must be an integer"),
        ({"workflow": "nope@1"}, "workflow must be one of"),
        ({"overwrite": "yes"}, "overwrite must be true or false"),
        # semantic refusals come from the manifest rules, field named
        ({"motion_type": "zoom_out"}, "zoom_out needs an end crop larger"),
        ({"end": {"x": 0.3, "y": 0.2, "w": 0.5, "h": 0.5}}, "crop aspect"),
        ({"end": {"x": 0.6, "y": 0.2, "w": 0.5, "h": 0.421875}}, "crop leaves the image"),
        ({"width": 1020}, "multiple of 8"),
    ],
)
def test_save_refuses_bad_bodies_with_400(
    input_root: Path, coffee_jpeg: Path, change: dict[str, Any], fragment: str
) -> None:
    r = _post("save_manifest", input_root, _body(**change))
    assert r.status == 400, r.body
    assert fragment in r.body["error"]
    assert not list(input_root.rglob("*.json"))


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"[1, 2]", b'"x"', b"\xff\xfe", b'{"a": NaN}', b" " * 70000]
)
def test_malformed_json_is_400(input_root: Path, raw: bytes) -> None:
    for route in editor_api.ROUTES:
        r = _post(route, input_root, raw)
        assert r.status == 400 and r.body["error"]


def test_symlink_escaping_the_input_folder_is_refused(input_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    Image.fromarray(photo("astronaut")[:256, :256]).save(outside)
    (input_root / "link.png").symlink_to(outside)
    r = _post("save_manifest", input_root, _body(image="link.png"))
    assert r.status == 400 and "outside the input root" in r.body["error"]
    r = _post("suggest", input_root, {"image": "link.png", "width": 1024, "height": 576})
    assert r.status == 400 and "outside the input root" in r.body["error"]


def test_missing_image_is_404(input_root: Path) -> None:
    r = _post("suggest", input_root, {"image": "nope.jpg", "width": 1024, "height": 576})
    assert r.status == 404 and "not found" in r.body["error"]


def test_subfolder_images_and_annotations_resolve(input_root: Path) -> None:
    (input_root / "shots").mkdir()
    Image.fromarray(photo("chelsea")).save(input_root / "shots" / "cat.png")
    got = editor_api.input_image(input_root, "shots/cat.png [input]")
    assert got == (input_root / "shots" / "cat.png").resolve()


# --------------------------------------------------------------------------- ManifestLoader


def _saved_base(input_root: Path) -> dict[str, Any]:
    """A manifest with non-default generation/output settings, as an artist would load it."""
    from comfy_vidgen.manifest import build_manifest, dumps_pretty

    m = build_manifest(
        keyframe=input_root / "coffee.jpg",
        input_root=input_root,
        motion_type="zoom_in",
        start=_body()["start"],
        end=_body()["end"],
        workflow="camera_only@1",
        seed=4242,
        size=(1024, 576),
        easing="ease_in",
        output={"fps": 24, "frames": 96, "quality": 18},
        generation={"frames": 33},
    )
    (input_root / "manifests").mkdir(exist_ok=True)
    (input_root / "manifests" / "base.json").write_text(dumps_pretty(m))
    return {"manifest": "base.json", "manifest_json": ""}


def test_manifest_info_gives_keyframe_camera_and_output(
    input_root: Path, coffee_jpeg: Path
) -> None:
    base = _saved_base(input_root)
    r = _post("manifest_info", input_root, base)
    assert r.status == 200, r.body
    assert r.body["image"] == "coffee.jpg" and r.body["image_size"] == [600, 400]
    assert r.body["camera"]["easing"] == "ease_in"
    assert r.body["camera"]["end_frame"] == _body()["end"]
    assert r.body["output"] == {"width": 1024, "height": 576, "fps": 24, "frames": 96}
    assert r.body["generation_frames"] == 33
    bad = _post("manifest_info", input_root, {"manifest": "../base.json"})
    assert bad.status == 400 and "'..'" in bad.body["error"]
    missing = _post("manifest_info", input_root, {"manifest": "nope.json"})
    assert missing.status == 404
    # the keyframe changed after the manifest was written: refused, not silently shown
    Image.fromarray(photo("chelsea")).save(coffee_jpeg, format="JPEG")
    changed = _post("manifest_info", input_root, base)
    assert changed.status == 400 and "sha256" in changed.body["error"]


def test_manifest_workflows_names_each_manifests_workflow(
    input_root: Path, coffee_jpeg: Path, tmp_path: Path
) -> None:
    _saved_base(input_root)  # manifests/base.json, camera_only@1
    other = json.loads((input_root / "manifests" / "base.json").read_text())
    other["generation"]["workflow"] = "svd_img2vid@1"
    (input_root / "manifests" / "shots").mkdir()
    (input_root / "manifests" / "shots" / "svd.json").write_text(json.dumps(other))
    (input_root / "manifests" / "broken.json").write_text("{not json")
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(other))
    (input_root / "manifests" / "escape.json").symlink_to(outside)
    r = _post("manifest_workflows", input_root, {})
    assert r.status == 200, r.body
    # keyed as ManifestLoader lists them; unreadable -> None; a symlink out is not listed
    assert r.body == {
        "manifests": {
            "base.json": "camera_only@1",
            "broken.json": None,
            "shots/svd.json": "svd_img2vid@1",
        }
    }


def test_save_over_a_loaded_manifest_keeps_its_settings(
    input_root: Path, coffee_jpeg: Path
) -> None:
    base = _saved_base(input_root)
    body = _body(name="redrawn", motion_type="pan_right", easing="linear", base=base)
    body["start"] = {"x": 0.0, "y": 0.2, "w": 0.5, "h": 0.421875}
    body["end"] = {"x": 0.4, "y": 0.2, "w": 0.5, "h": 0.421875}
    r = _post("save_manifest", input_root, body)
    assert r.status == 200, r.body
    m = load_manifest(input_root / "manifests" / "redrawn.json")
    assert (
        m.camera.motion_type == "pan_right" and m.camera.start_frame.model_dump() == body["start"]
    )
    assert (m.generation.seed, m.generation.frames) == (4242, 33)
    assert (m.output.fps, m.output.frames, m.output.quality) == (24, 96, 18)


# --------------------------------------------------------------------------- suggest


def test_suggest_returns_paths_that_make_valid_manifests(
    input_root: Path, coffee_jpeg: Path
) -> None:
    r = _post("suggest", input_root, {"image": "coffee.jpg", "width": 1024, "height": 576, "n": 3})
    assert r.status == 200, r.body
    assert r.body["image_size"] == [600, 400]
    found = r.body["suggestions"]
    assert 1 <= len(found) <= 3
    assert [s["score"] for s in found] == sorted((s["score"] for s in found), reverse=True)
    for i, s in enumerate(found):
        cam = s["camera"]
        # what the editor does with a suggestion: fill the widgets, then save
        body = _body(
            name=f"sugg_{i}",
            motion_type=cam["motion_type"],
            easing=cam["easing"],
            start=cam["start_frame"],
            end=cam["end_frame"],
        )
        saved = _post("save_manifest", input_root, body)
        assert saved.status == 200, saved.body
    r = _post("suggest", input_root, {"image": "coffee.jpg", "width": 1024, "height": 576, "n": 0})
    assert r.status == 400 and "n must be an integer 1..10" in r.body["error"]
    r = _post("suggest", input_root, {"image": "coffee.jpg", "width": "1024", "height": 576})
    assert r.status == 400 and "width" in r.body["error"]


def test_suggest_refuses_an_undecodable_image(input_root: Path) -> None:
    (input_root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    r = _post("suggest", input_root, {"image": "broken.jpg", "width": 1024, "height": 576})
    assert r.status == 400 and "broken.jpg" in r.body["error"]


# --------------------------------------------------------------------------- routes module


def test_routes_module_is_inert_without_comfyui() -> None:
    code = (
        "import sys, comfy_vidgen.nodes as n, comfy_vidgen.nodes.routes as r; "
        "assert 'server' not in sys.modules and r.REGISTERED is False; "
        "assert 'routes' not in n.NODE_CLASS_MAPPINGS; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_routes_register_on_a_prompt_server_and_answer(
    tmp_path: Path, input_root: Path, coffee_jpeg: Path
) -> None:
    """A stand-in ``server.PromptServer`` (as ComfyUI's unit tests stub it): routes mount, 200/400."""
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "server.py").write_text(
        "from aiohttp import web\n"
        "class PromptServer:\n"
        "    instance = None\n"
        "PromptServer.instance = PromptServer()\n"
        "PromptServer.instance.routes = web.RouteTableDef()\n"
    )
    (stub / "folder_paths.py").write_text(
        f"def get_input_directory():\n    return {str(input_root)!r}\n"
    )
    sys.path.insert(0, str(stub))
    try:
        import importlib

        import comfy_vidgen.nodes.routes as routes_mod

        routes_mod = importlib.reload(routes_mod)
        assert routes_mod.REGISTERED is True
        server = sys.modules["server"]
        paths = sorted(r.path for r in server.PromptServer.instance.routes)  # type: ignore[attr-defined]
        assert paths == [
            "/vidgen/manifest_info",
            "/vidgen/manifest_workflows",
            "/vidgen/save_manifest",
            "/vidgen/suggest",
        ]

        async def exercise() -> None:
            app = web.Application()
            app.add_routes(server.PromptServer.instance.routes)  # type: ignore[attr-defined]
            async with TestClient(TestServer(app)) as client:
                ok = await client.post("/vidgen/save_manifest", json=_body())
                assert ok.status == 200, await ok.text()
                bad = await client.post("/vidgen/save_manifest", data=b"{nope")
                assert bad.status == 400
                outside = await client.post(
                    "/vidgen/suggest", json={"image": "../x.png", "width": 64, "height": 64}
                )
                assert outside.status == 400 and "'..'" in (await outside.json())["error"]

        asyncio.run(exercise())
        assert (input_root / "manifests" / "shot_1.json").is_file()
    finally:
        sys.path.remove(str(stub))
        for name in ("server", "folder_paths"):
            sys.modules.pop(name, None)
        importlib.reload(routes_mod)
    assert aiohttp


# --------------------------------------------------------------------------- JS <-> Python parity


def _crop(d: dict[str, float]) -> Crop:
    return Crop.model_validate(d)


@needs_node
def test_node_unit_tests_pass() -> None:
    out = subprocess.run(
        [NODE or "node", "--test", "geometry.test.mjs"],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "# fail 0" in out.stdout


@needs_node
def test_js_motion_rules_agree_with_the_manifest() -> None:
    cases = json.loads((JS / "motion_cases.json").read_text())["cases"]
    got = _node_eval({"motion": cases})["motion"]
    both = 0
    for case, js in zip(cases, got, strict=True):
        py = _motion_error(case["motion"], _crop(case["start"]), _crop(case["end"]))
        assert (js is None) == (py is None), (case["name"], js, py)
        if py is not None:
            both += 1
            assert js.split("(")[0] == py.split("(")[0], (js, py)
    assert 0 < both < len(cases)  # the cases exercise both verdicts


@needs_node
def test_js_path_matches_the_renderer_path() -> None:
    """The preview plays the same per-frame crops that VirtualCamera renders."""
    iw, ih = 600, 400
    paths = [
        ("zoom_in", (0.0, 0.078125, 1.0, 0.84375), (0.3, 0.2, 0.5, 0.421875), "ease_in_out"),
        ("zoom_out", (0.3, 0.2, 0.5, 0.421875), (0.0, 0.078125, 1.0, 0.84375), "ease_in"),
        ("pan_right", (0.0, 0.2, 0.6, 0.50625), (0.35, 0.2, 0.6, 0.50625), "linear"),
        ("custom", (0.1, 0.1, 0.5, 0.421875), (0.2, 0.5, 0.4, 0.3375), "ease_out"),
    ]
    req = [
        {
            "start": dict(zip("xywh", s, strict=True)),
            "end": dict(zip("xywh", e, strict=True)),
            "easing": es,
            "n": 120,
        }
        for _, s, e, es in paths
    ]
    got = _node_eval({"paths": req})["paths"]
    for (motion, s, e, es), js in zip(paths, got, strict=True):
        py = CameraPath.from_values(motion, s, e, es, (iw, ih)).rects(120)
        arr = np.array([[f["x"] * iw, f["y"] * ih, f["w"] * iw, f["h"] * ih] for f in js])
        assert np.abs(arr - py).max() < 1e-6, motion


@needs_node
def test_js_conform_and_infer_always_satisfy_the_manifest(coffee_jpeg: Path) -> None:
    """Every rectangle pair the editor produces for a motion type is one the manifest accepts."""
    rng = np.random.default_rng(5)
    iw, ih, ow, oh = 600, 400, 1024, 576
    hw = iw * oh / (ih * ow)

    def crop() -> dict[str, float]:
        w = float(rng.uniform(0.1, 1.0))
        h = w * hw
        return {
            "x": float(rng.uniform(0, 1 - w)),
            "y": float(rng.uniform(0, 1 - h)),
            "w": w,
            "h": h,
        }

    from comfy_vidgen.manifest import MOTION_TYPES

    conform = [
        {"motion": m, "start": crop(), "end": crop(), "iw": iw, "ih": ih, "ow": ow, "oh": oh}
        for _ in range(25)
        for m in MOTION_TYPES
    ]
    infer = [{"start": crop(), "end": crop(), "previous": "static"} for _ in range(100)]
    res = _node_eval({"conform": conform, "infer": infer})
    for req, out in zip(conform, res["conform"], strict=True):
        start, end = _crop(_round(out["start"])), _crop(_round(out["end"]))
        assert _motion_error(req["motion"], start, end) is None, (req["motion"], out)
        for c in (start, end):
            aspect = (c.w * iw) / (c.h * ih)
            assert abs(aspect / (ow / oh) - 1) <= ASPECT_TOLERANCE
    for req, motion in zip(infer, res["infer"], strict=True):
        assert _motion_error(motion, _crop(req["start"]), _crop(req["end"])) is None


def _round(c: dict[str, float]) -> dict[str, float]:
    """As roundCrop in camera_geometry.js (what the widgets receive)."""
    r = {k: round(v * 1e6) / 1e6 for k, v in c.items()}
    if r["x"] + r["w"] > 1:
        r["x"] = round((1 - r["w"]) * 1e6) / 1e6
    if r["y"] + r["h"] > 1:
        r["y"] = round((1 - r["h"]) * 1e6) / 1e6
    assert all(math.isfinite(v) for v in r.values())
    return r


def test_web_folder_is_what_comfyui_serves() -> None:
    """WEB_DIRECTORY points at the editor; the entry imports the front end's documented shims."""
    from comfy_vidgen.nodes import WEB_DIRECTORY

    web_dir = (ROOT / WEB_DIRECTORY).resolve()
    assert web_dir == ROOT / "comfy_vidgen" / "web"
    entry = (web_dir / "camera_editor.js").read_text()
    assert 'from "../../scripts/app.js"' in entry and 'from "../../scripts/api.js"' in entry
    assert '"CameraPathConditioner"' in entry
    # the widget names the editor writes are exactly the node's inputs
    from comfy_vidgen.nodes.camera import CameraPathConditioner

    req = CameraPathConditioner.INPUT_TYPES()["required"]
    for key in ("motion_type", "easing", "width", "height", "length"):
        assert key in req and f'"{key}"' in entry
    for p in ("start", "end"):
        for k in "xywh":
            assert f"{p}_{k}" in req
    assert os.path.isfile(web_dir / "camera_geometry.js")
