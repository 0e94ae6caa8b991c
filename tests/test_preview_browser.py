"""The browser-playable previews, in a real headless Chromium.

1. After a run queued from the real front end, the H.265 Encode node plays its preview.

A real, headless ComfyUI (``COMFYUI_DIR``; the pinned front end, or the one in
``VIDGEN_FRONTEND_ROOT``, e.g. a newer comfyui-frontend-package's ``static/``) with this
pack and the RIFE weights; Debian's Chromium through playwright-core
(tests/js/preview_e2e.mjs) loads camera_only@2, picks a manifest in ManifestLoader and
queues the graph as an artist would. The test then checks what the browser got: a
``<video>`` for the encode node whose source is the H.264 preview in ComfyUI's temp
folder, loaded far enough to play (``readyState >= 2``), while Chromium cannot play the
HEVC delivery itself.

2. The shootout report folder, opened from disk, plays every candidate's preview.

With ``VIDGEN_REQUIRE_BROWSER=1`` a missing browser fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from conftest import photo
from PIL import Image
from test_editor_browser import CHROMIUM, JS, NODE, ROOT, _require_browser

from comfy_vidgen.encode import probe
from comfy_vidgen.models import load_lock, locate

SIZE = (256, 144)


@pytest.mark.comfyui
def test_encode_node_plays_its_preview_after_a_run_queued_from_the_ui(tmp_path: Path) -> None:
    from live_comfyui import comfyui_dir, running_comfyui

    from comfy_vidgen.manifest import build_manifest, dumps_pretty, full_crop

    if comfyui_dir() is None:
        pytest.skip("COMFYUI_DIR is not set to a ComfyUI checkout")
    _require_browser()
    rife = locate(load_lock().get("rife-4.25"))
    if rife is None:
        pytest.skip("rife-4.25 weights not fetched (vidgen models fetch rife-4.25)")
    base = tmp_path / "comfy"
    (base / "input" / "manifests").mkdir(parents=True)
    (base / "models" / "rife").mkdir(parents=True)
    (base / "models" / "rife" / rife.name).symlink_to(rife)
    kf = base / "input" / "coffee.jpg"
    Image.fromarray(photo("coffee")).save(kf, quality=92)
    full = full_crop(600, 400, *SIZE)
    end = {"x": full["x"] + 0.2 * full["w"], "y": full["y"] + 0.2 * full["h"],
           "w": 0.6 * full["w"], "h": 0.6 * full["h"]}  # fmt: skip
    m = build_manifest(keyframe=kf, input_root=base / "input", motion_type="zoom_in",
                       start=full, end=end, workflow="camera_only@2", seed=3, size=SIZE)  # fmt: skip
    (base / "input" / "manifests" / "shot.json").write_text(dumps_pretty(m))
    front = os.environ.get("VIDGEN_FRONTEND_ROOT")
    extra = ("--front-end-root", front) if front else ()
    # the pinned front end has only the classic canvas; a newer one also the Vue nodes
    modes = ("classic", "vue") if front else ("classic",)
    art = os.environ.get("VIDGEN_ARTIFACTS")
    out = Path(art) / "preview" if art else tmp_path / "screenshots"
    reports = {}
    with running_comfyui(base, extra_args=extra) as live:
        for mode in modes:
            r = subprocess.run(
                [NODE or "node", str(JS / "preview_e2e.mjs"), "--url", live.url,
                 "--workflow", str(ROOT / "workflows" / "camera_only" / "v2" / "workflow.json"),
                 "--manifest", "shot.json", "--out", str(out), "--node-mode", mode,
                 "--prefix", f"shot-{mode}", "--chromium", CHROMIUM or ""],
                cwd=JS, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert r.returncode == 0, mode + r.stdout[-3000:] + r.stderr[-5000:]
            reports[mode] = json.loads(r.stdout.strip().splitlines()[-1])
        temp = live.base / "temp"
        output = live.output_dir
    delivered_names = []
    for mode, rep in reports.items():
        assert rep["errors"] == [], (mode, rep["errors"])
        assert "shot.json" in rep["setup"]["choices"]
        assert rep["setup"]["vueNodes"] is (mode == "vue")
        res = rep["result"]
        assert "failed" not in res, (mode, res)
        # the executed message: the preview (temp) is shown, the delivery is reported apart
        ui = res["output"]
        (item,) = ui["images"]
        assert item["type"] == "temp" and ui["animated"] == [True]
        (delivery,) = ui["vidgen_outputs"]
        assert delivery["type"] == "output" and delivery["filename"].startswith(f"shot-{mode}_")
        delivered_names += [delivery["filename"], delivery["sidecar"]]
        # the browser loaded that file and can play it; it could not play the delivery
        shown = res["shown"]
        q = parse_qs(urlparse(shown["src"]).query)
        assert (q["filename"], q["type"], q["subfolder"]) == (
            [item["filename"]], ["temp"], ["vidgen"])  # fmt: skip
        assert shown["readyState"] >= 2 and shown["error"] is None, (mode, shown)
        assert (shown["videoWidth"], shown["videoHeight"]) == SIZE
        assert shown["duration"] == pytest.approx(4.0, abs=0.05)
        assert shown["canPlayH264"] == "probably" and shown["canPlayHevc"] == ""
        prev = probe(temp / "vidgen" / item["filename"])
        assert (prev.codec, prev.frames, prev.width) == ("h264", 120, SIZE[0])
        delivered = probe(output / delivery["subfolder"] / delivery["filename"])
        assert (delivered.codec, delivered.frames) == ("hevc", 120)
        for shot in rep["screenshots"]:
            with Image.open(shot) as im:
                assert im.format == "PNG" and im.width > 200
    # nothing but the deliveries and their sidecars in the output folder
    assert sorted(p.name for p in output.rglob("*") if p.is_file()) == sorted(delivered_names)


def test_shootout_report_previews_play_offline_in_chromium(tmp_path: Path) -> None:
    """The report folder, opened from disk with no server: every preview plays, every
    strip loads, and nothing outside the folder is requested."""
    _require_browser()
    from comfy_vidgen.encode import encode
    from comfy_vidgen.encode.preview import preview_size
    from shootout.report import STRIP_THUMB_W, write_report
    from shootout.run import ClipResult, ShootoutConfig, ShootoutResult, Variant, VariantResult

    img = np.asarray(Image.fromarray(photo("rocket")).resize((400, 300)))
    results = []
    for i, key in enumerate(("fast", "slow")):
        clips = []
        for shot in ("rocket", "rocket-tight"):
            frames = np.stack(
                [img[20 + i * 8 : 164 + i * 8, k * 4 : k * 4 + 256] for k in range(30)]
            )
            clip = encode(frames, tmp_path / "clips" / f"{key}-{shot}.mp4", fps=30,
                          encoder="libx265", preset="ultrafast")  # fmt: skip
            clips.append(ClipResult(shot, f"{shot}.{key}", f"job-{key}-{shot}", "done",
                                    path=clip.path, qc_passed=i == 0, qc_score=0.9 - i / 2))  # fmt: skip
        v = Variant(key, key, "camera_only@1", "local", {"frames": 9 + 4 * i})
        results.append(VariantResult(v, True, clips=clips, rank=i + 1, eligible=i == 0))
    cfg = ShootoutConfig.model_validate({
        "price_per_gpu_hour": 1.0, "gpus": 1, "inputs": {"keyframes": ["k.jpg"]},
        "candidate": [{"workflow": "camera_only@1"}]})  # fmt: skip
    res = ShootoutResult(cfg, str(tmp_path / "shootout.toml"), results, results[0], tmp_path)
    page = write_report(res, tmp_path / "report")
    art = os.environ.get("VIDGEN_ARTIFACTS")
    shot = (Path(art) if art else tmp_path) / "shootout-report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        [NODE or "node", str(JS / "report_media.mjs"), "--page", str(page), "--out", str(shot),
         "--chromium", CHROMIUM or ""],
        cwd=JS, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["errors"] == []
    folder = (tmp_path / "report").resolve()
    for url in rep["requests"]:  # the page and its own media, nothing else
        assert url.startswith("file://"), url
        assert Path(urlparse(url).path).resolve().is_relative_to(folder), url
    assert len(rep["videos"]) == 4 and len(rep["images"]) == 4
    for v in rep["videos"]:
        assert v.get("error") is None and v["readyState"] >= 2 and v["currentTime"] > 0, v
        assert (v["videoWidth"], v["videoHeight"]) == (256, 144)
    tw, th = preview_size(256, 144, STRIP_THUMB_W)
    for im in rep["images"]:
        assert (im["naturalWidth"], im["naturalHeight"]) == (4 * tw + 3 * 2, th), im
