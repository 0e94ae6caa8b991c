"""`vidgen shootout` end to end: two camera_only variants on the local engine (real RIFE,
real H.265), one variant on the ComfyUI engine (the fake rack over real HTTP), and an
svd_xt candidate that cannot run locally; then the report, the lock and the capacity file."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import photo
from fake_comfyui import FakeComfyUI
from orchestrator_inputs import build_test_graph
from PIL import Image

from comfy_vidgen.capacity import load_measurements
from comfy_vidgen.encode import probe
from comfy_vidgen.encode.preview import preview_size
from comfy_vidgen.models import load_lock, locate
from shootout.report import STRIP_THUMB_W

pytestmark = pytest.mark.skipif(
    locate(load_lock().get("rife-4.25")) is None,
    reason="rife-4.25 weights not fetched (make test runs `vidgen models fetch rife-4.25` first)",
)

VIDGEN = [sys.executable, "-m", "comfy_vidgen.cli"]

SHOOTOUT_TOML = """
title = "CI shootout"
price_per_gpu_hour = 0.69
currency = "USD"
gpus = 2
target_per_day = 1000
input_root = "shots"

[inputs]
keyframes = ["shots/*.jpg"]
motion = "pan_right"
amount = 0.15
easing = "linear"
size = "128x72"
frames = 24

[comfyui]
workflows = "workflows"

[[candidate]]
name = "camera"
workflow = "camera_only@3"
[candidate.grid]
frames = [9, 13]

[[candidate]]
name = "fake"
workflow = "camera_only@1"
engine = "comfyui"
[candidate.params]
frames = 9

[[candidate]]
name = "svd"
workflow = "svd_xt@1"
engine = "local"
[candidate.params]
cfg = 2.0
"""


def _vidgen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VIDGEN, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def shootout(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("shootout")
    shots = base / "shots"
    shots.mkdir()
    for name in ("coffee", "rocket"):
        Image.fromarray(photo(name)).save(shots / f"{name}.jpg", quality=92)
    wf = base / "workflows" / "camera_only" / "v1"
    wf.mkdir(parents=True)
    (wf / "api.json").write_text(json.dumps(build_test_graph()))
    cfg = base / "shootout.toml"
    cfg.write_text(SHOOTOUT_TOML)
    fake = FakeComfyUI(base / "comfy", exec_s=0.2).start()
    try:
        args = ("shootout", str(cfg), "--comfyui", fake.url, "--out", str(base / "out"))
        r = _vidgen(*args, "--engine", "local", "--json")
        rerun = _vidgen(*args, "--engine", "local", "--json")
    finally:
        fake.close()
    assert r.returncode == 0, r.stderr
    yield {"base": base, "out": base / "out", "summary": json.loads(r.stdout), "rerun": rerun}


def _variants(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["key"]: v for v in summary["variants"]}


def test_every_candidate_is_run_measured_and_ranked_on_both_engines(shootout: Any) -> None:
    s = shootout["summary"]
    v = _variants(s)
    assert set(v) == {"camera-1", "camera-2", "fake", "svd"}
    assert {v[k]["params"]["frames"] for k in ("camera-1", "camera-2")} == {9, 13}
    assert {x["engine"] for x in v.values() if x["runnable"]} == {"local", "comfyui"}
    for k in ("camera-1", "camera-2", "fake"):
        assert v[k]["runnable"] and v[k]["clips"] == 2
        assert v[k]["gpu_s_median"] > 0
        assert v[k]["cost_per_1000"] == pytest.approx(
            v[k]["gpu_s_median"] / 3600 * 0.69 * 1000, rel=1e-2
        )
        topo = v[k]["capacity"]["topologies"]
        assert v[k]["clips_per_day"] == max(t["clips_per_day"] for t in topo.values())
    # the exact camera path over real photos passes the default delivery gate
    for k in ("camera-1", "camera-2"):
        assert v[k]["pass_rate"] == 1.0 and v[k]["eligible"], v[k]["failures"]
    # the fake rack writes a moving gradient: measured, delivered, and failed by QC
    assert v["fake"]["pass_rate"] == 0.0 and not v["fake"]["eligible"]
    assert any("pass rate" in f for f in v["fake"]["failures"])
    # not runnable here: reported with the reason, never silently dropped
    assert v["svd"]["runnable"] is False and v["svd"]["clips"] == 0
    assert "local engine runs camera_only only" in v["svd"]["note"]
    assert not v["svd"]["eligible"]
    assert s["winner"] in ("camera-1", "camera-2")
    assert v[s["winner"]]["rank"] == 1
    ranks = sorted(x["rank"] for x in v.values())
    assert ranks == [1, 2, 3, 4]


def test_clips_went_through_the_orchestrator_with_qc_in_the_audit(shootout: Any) -> None:
    out = shootout["out"]
    audits = sorted((out / "clips").rglob("*.audit.json"))
    assert len(audits) == 6
    engines = set()
    for a in audits:
        rec = json.loads(a.read_text())
        engines.add(rec["engine"])
        qc = rec["verification"]["qc"]
        assert qc["enforced"] is False and "metrics" in qc
        assert rec["timings"]["exec_s"] > 0
        assert Path(rec["output"]["path"]).is_file()
    assert engines == {"local", "comfyui"}
    # the rerun found every job done in the ledger: nothing ran twice
    rerun = shootout["rerun"]
    assert rerun.returncode == 0, rerun.stderr
    with sqlite3.connect(out / "ledger.db") as c:
        assert c.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 6
        assert c.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done'").fetchone()[0] == 6
    assert json.loads(rerun.stdout)["winner"] in ("camera-1", "camera-2")


def test_report_is_one_self_contained_folder_showing_what_was_judged(shootout: Any) -> None:
    folder = shootout["out"] / "report"
    html = (folder / "index.html").read_text()
    for section in ("summary", "shots", "metrics", "cost", "capacity"):
        assert f'<section id="{section}">' in html
    # nothing is fetched from anywhere: every src/href is a file inside the folder
    refs = re.findall(r"""(?:src|href|poster)\s*=\s*["']([^"']*)""", html)
    assert refs
    for ref in refs:
        assert not ref.startswith(("/", "data:")) and ".." not in ref and ":" not in ref, ref
        assert (folder / ref).resolve().is_relative_to(folder.resolve()), ref
        assert (folder / ref).is_file(), ref
    assert "http://" not in html and "https://" not in html and "url(" not in html
    assert "<script" not in html
    assert html.count("<svg") >= 3
    # per shot, the three runnable candidates side by side, each a playable H.264 preview
    # and a poster strip next to its scores; the winner's clip is marked
    shots = re.findall(r'<h3>([^<]+)</h3><div class="grid">(.*?)</div>(?=<h3>|</section>)', html)
    assert [name for name, _ in shots] == ["coffee", "rocket"]
    for name, grid in shots:
        figs = re.findall(r'<figure( class="win")?(?: style="width:\d+px")?>(.*?)</figure>', grid)
        assert len(figs) == 3 and sum(bool(w) for w, _ in figs) == 1
        keys = [re.search(r"<figcaption><b>([^<]+)</b>", f).group(1) for _, f in figs]  # type: ignore[union-attr]
        assert sorted(keys) == ["camera-1", "camera-2", "fake"]
        assert keys[0] == shootout["summary"]["winner"]  # best rank first
        for _, fig in figs:
            video = re.search(r'<video src="([^"]+)" width="(\d+)" height="(\d+)"', fig)
            strip = re.search(r'<img src="([^"]+\.png)"', fig)
            assert video and strip and "variant score" in fig and "clip QC" in fig
            p = probe(folder / video.group(1))
            assert (p.codec, p.codec_tag, p.width, p.height) == ("h264", "avc1", 128, 72)
            assert (p.frames, p.fps) == (24, 30.0)  # the whole delivered clip
            tw, th = preview_size(128, 72, STRIP_THUMB_W)
            with Image.open(folder / strip.group(1)) as im:
                assert (im.width, im.height) == (4 * tw + 3 * 2, th)  # four frames
        assert name in figs[0][1]
    # the summary still shows what could not run, and why
    assert "svd_xt@1" in html and "local engine runs camera_only only" in html


def test_report_shows_no_machine_paths(shootout: Any) -> None:
    folder = shootout["out"] / "report"
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) == 1 + 2 * 6  # the page, and per clip a preview and a strip
    forbidden = {
        str(shootout["base"]),
        str(shootout["base"].resolve()),
        str(Path.home()),
        tempfile.gettempdir(),
        str(Path(__file__).resolve().parents[1]),
    }
    for f in files:
        data = f.read_bytes()
        for s in forbidden:
            assert s.encode() not in data, (f.name, s)
    html = (folder / "index.html").read_text()
    assert not re.search(r"(?<![\w.~:/-])/(home|tmp|root|work|usr|var|mnt|Users)/", html)
    assert "shootout.toml" in html  # the source named by its file name


def test_scrub_cuts_paths_in_messages_and_keeps_the_rest() -> None:
    from shootout.report import scrub

    msg = "unreadable audit record /tmp/x/out/clips/a.audit.json: [Errno 2] (/home/u/b.mp4)"
    assert scrub(msg) == "unreadable audit record .../a.audit.json: [Errno 2] (.../b.mp4)"
    keep = "USD/1000 clips, n/a, GPU s / 3600, http://127.0.0.1:8188/view, 1/30 s"
    assert scrub(keep) == keep


def test_report_rebuild_replaces_the_folder_whole(shootout: Any, tmp_path: Path) -> None:
    from shootout.report import write_report
    from shootout.run import ShootoutResult, load_config

    folder = tmp_path / "report"
    (folder / "media").mkdir(parents=True)
    (folder / "media" / "stale.mp4").write_bytes(b"old")
    cfg = load_config(shootout["base"] / "shootout.toml")
    res = ShootoutResult(cfg, "x/shootout.toml", [], None, tmp_path)
    page = write_report(res, folder)
    assert page == folder / "index.html" and page.is_file()
    assert list((folder / "media").iterdir()) == []  # the older run's media are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging left


def test_locked_settings_name_the_winner_and_manifest_new_uses_them(shootout: Any) -> None:
    out, s = shootout["out"], shootout["summary"]
    lock = json.loads((out / "locked-settings.json").read_text())
    win = _variants(s)[s["winner"]]
    assert lock["workflow"] == win["workflow"] == "camera_only@3"
    assert lock["variant"] == s["winner"]
    assert lock["parameters"]["frames"] == win["params"]["frames"]
    assert "seed" not in lock["parameters"]
    kf = shootout["base"] / "shots" / "coffee.jpg"
    r = _vidgen(
        "manifest",
        "new",
        str(kf),
        "--motion",
        "zoom_in",
        "--end",
        "0.3,0.3,0.4,0.4",
        "--size",
        "96x64",
        "--seed",
        "7",
        "--input-root",
        str(kf.parent),
        env={"VIDGEN_LOCKED_SETTINGS": str(out / "locked-settings.json")},
    )
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["generation"]["workflow"] == lock["workflow"]
    assert m["generation"]["frames"] == lock["parameters"]["frames"]


def test_measurements_feed_vidgen_capacity(shootout: Any) -> None:
    out, s = shootout["out"], shootout["summary"]
    path = out / "measurements.json"
    t = load_measurements(path)
    win = _variants(s)[s["winner"]]
    assert t.gen + t.interp + t.encode == pytest.approx(win["gpu_s_median"], rel=0.05)
    r = _vidgen("capacity", "--from", str(path), "--gpus", "2", "--json")
    assert r.returncode in (0, 1), r.stderr
    cap = json.loads(r.stdout)
    assert cap["topologies"] == win["capacity"]["topologies"]
