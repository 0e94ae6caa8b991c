"""``vidgen encode``/``vidgen probe`` and the NVENCEncode node, on real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import photo
from PIL import Image

from comfy_vidgen.cli import main
from comfy_vidgen.encode import EncodeError, nvenc_session_error, probe
from comfy_vidgen.fsutil import sha256_file
from comfy_vidgen.nodes import NODE_CLASS_MAPPINGS, _comfy
from comfy_vidgen.nodes.encode import NVENCEncode


def frames_dir(tmp_path: Path, n: int = 6) -> Path:
    d = tmp_path / "frames"
    d.mkdir()
    img = photo("chelsea")
    for i in range(n):  # natural order: f2 before f10
        Image.fromarray(img[:96, 4 * i : 4 * i + 128]).save(d / f"f{i * 4}.png")
    return d


def test_cli_encode_and_probe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = frames_dir(tmp_path)
    out = tmp_path / "clip.mp4"
    assert main(["encode", str(d), "-o", str(out), "--fps", "24", "--preset", "ultrafast",
                 "--json"]) == 0  # fmt: skip
    rec = json.loads(capsys.readouterr().out)
    assert rec["frames"] == 6 and rec["sha256"] == sha256_file(out)
    assert Path(rec["sidecar"]).is_file()
    assert main(["probe", str(out), "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert (p["frames"], p["fps"], p["width"], p["height"], p["codec_tag"]) == (
        6,
        24.0,
        128,
        96,
        "hvc1",
    )
    assert p["duration"] == pytest.approx(0.25, abs=1e-6)
    # a video as input: re-encoded at its own rate
    again = tmp_path / "again.mp4"
    assert main(["encode", str(out), "-o", str(again), "--bit-depth", "8", "--preset",
                 "ultrafast", "--no-sidecar"]) == 0  # fmt: skip
    assert "wrote" in capsys.readouterr().out
    q = probe(again)
    assert (q.frames, q.fps, q.bit_depth) == (6, 24.0, 8)
    assert not again.with_suffix(".json").exists()


def test_cli_errors_have_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    assert main(["probe", str(junk)]) == 1
    assert "not a readable media file" in capsys.readouterr().err
    assert main(["encode", str(tmp_path / "nope"), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["encode", str(empty), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "contains no frames" in capsys.readouterr().err
    if nvenc_session_error(128, 96, 10) is not None:
        d = frames_dir(tmp_path)
        assert (
            main(["encode", str(d), "-o", str(tmp_path / "n.mp4"), "--encoder", "hevc_nvenc"]) == 1
        )
        assert "hevc_nvenc was requested" in capsys.readouterr().err
        assert not (tmp_path / "n.mp4").exists()


# --------------------------------------------------------------------------- node


@pytest.fixture
def comfy_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, list[Any]]:
    """ComfyUI's folders and progress bar, stubbed (the node runs without ComfyUI)."""
    out, inp = tmp_path / "output", tmp_path / "comfy_input"
    out.mkdir()
    inp.mkdir(exist_ok=True)
    ticks: list[Any] = []
    monkeypatch.setattr(_comfy, "output_directory", lambda: out)
    monkeypatch.setattr(_comfy, "input_directory", lambda: inp)
    monkeypatch.setattr(_comfy, "temp_directory", lambda: tmp_path / "temp")
    monkeypatch.setattr(
        _comfy, "progress_callback", lambda total: lambda d, t: ticks.append((d, t))
    )
    return out, inp, ticks


def image_batch(n: int = 8) -> Any:
    import torch

    img = photo("astronaut")
    return torch.from_numpy(
        np.stack([img[100:196, 3 * i : 3 * i + 160] for i in range(n)]).astype(np.float32) / 255
    )


def test_node_metadata() -> None:
    assert NODE_CLASS_MAPPINGS["NVENCEncode"] is NVENCEncode
    spec = NVENCEncode.INPUT_TYPES()
    for group in spec.values():
        for name, (_, opts) in group.items():
            assert opts.get("tooltip"), f"input {name} has no tooltip"
    assert NVENCEncode.OUTPUT_NODE and NVENCEncode.CATEGORY == "vidgen/encode"
    assert NVENCEncode.RETURN_NAMES == ("path", "sha256")


def test_node_without_manifest_for_artists(comfy_dirs: tuple[Path, Path, list[Any]]) -> None:
    out, _, ticks = comfy_dirs
    res = NVENCEncode().encode(image_batch(), 30, 20, "10", "auto", "beach shot!", "")
    path, sha = res["result"]
    assert Path(path).parent == out / "vidgen" / "adhoc"
    assert Path(path).name.startswith("beach-shot_") or Path(path).name.startswith("beach_shot_")
    assert sha == sha256_file(path)
    ui = res["ui"]
    vo = ui["vidgen_outputs"][0]
    assert {k: vo[k] for k in ("filename", "subfolder", "type")} == {
        "filename": Path(path).name, "subfolder": "vidgen/adhoc", "type": "output"}  # fmt: skip
    assert vo["sha256"] == sha and vo["frames"] == 8 and vo["encoder"] in ("libx265", "hevc_nvenc")
    assert (out / "vidgen" / "adhoc" / vo["sidecar"]).is_file()
    # what the front end shows: an H.264 preview in the temp folder, never a delivery
    item = ui["images"][0]
    assert ui["animated"] == [True] and len(ui["images"]) == 1
    assert item["type"] == "temp" and item["subfolder"] == "vidgen"
    assert item["filename"].startswith(Path(path).stem + ".preview-")
    prev = out.parent / "temp" / "vidgen" / item["filename"]
    p = probe(prev)
    assert (p.codec, p.codec_tag, p.frames, p.width, p.height) == ("h264", "avc1", 8, 160, 96)
    assert sorted(x.name for x in (out / "vidgen" / "adhoc").iterdir()) == sorted(
        [Path(path).name, vo["sidecar"]]
    )
    assert ticks[-1] == (8, 8)
    # a second run never overwrites the first
    res2 = NVENCEncode().encode(image_batch(2), 30, 20, "8", "libx265", "beach shot!", "")
    assert res2["result"][0] != path and Path(path).is_file()


def test_node_with_manifest_and_job_id(
    comfy_dirs: tuple[Path, Path, list[Any]], coffee_jpeg: Path
) -> None:
    from comfy_vidgen.manifest import build_manifest, full_crop, manifest_hash

    out, inp, _ = comfy_dirs
    crop = full_crop(600, 400, 1024, 576)
    m = build_manifest(keyframe=coffee_jpeg, input_root=coffee_jpeg.parent, motion_type="static", start=crop,
                       end=crop, workflow="camera_only@1", seed=3,
                       output={"quality": 24, "bit_depth": 8, "fps": 24})  # fmt: skip
    # a graph value that differs from the manifest is refused, never silently replaced
    with pytest.raises(EncodeError, match=r"quality 20 \(the manifest's output.quality is 24\)"):
        NVENCEncode().encode(image_batch(), 24, 20, "8", "auto", "vidgen", "job-42", m)
    assert not (out / "vidgen" / m.id / "job-42.mp4").exists()
    res = NVENCEncode().encode(image_batch(), 24, 24, "8", "auto", "vidgen", "job-42", m)
    path = Path(res["result"][0])
    assert path == out / "vidgen" / m.id / "job-42.mp4"
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["manifest_hash"] == manifest_hash(m) and side["manifest"]["id"] == m.id
    assert (side["quality"], side["bit_depth"], side["fps"]) == (24, 8, 24.0)  # the manifest's
    assert side["metadata"]["settings_source"] == "manifest"
    assert side["metadata"]["job_id"] == "job-42"
    assert side["sha256"] == sha256_file(path)
    p = probe(path)
    assert (p.frames, p.fps, p.bit_depth) == (8, 24.0, 8)
    # the orchestrator retries the same job: replaced atomically, same place
    NVENCEncode().encode(image_batch(), 24, 24, "8", "auto", "vidgen", "job-42", m)
    assert sorted(x.name for x in path.parent.iterdir()) == ["job-42.json", "job-42.mp4"]


def test_node_delivers_when_no_preview_can_be_made(
    comfy_dirs: tuple[Path, Path, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfy_vidgen.encode import preview

    monkeypatch.setattr(preview, "PREVIEW_CODEC", "no_such_encoder")  # a PyAV without libx264
    res = NVENCEncode().encode(image_batch(3), 30, 20, "8", "libx265", "x", "job-7")
    assert res["ui"]["images"] == [] and res["ui"]["animated"] == []
    assert res["ui"]["vidgen_outputs"][0]["sha256"] == sha256_file(res["result"][0])


def test_node_refuses_unsafe_job_ids(comfy_dirs: tuple[Path, Path, list[Any]]) -> None:
    with pytest.raises(EncodeError, match="job_id"):
        NVENCEncode().encode(image_batch(2), 30, 20, "10", "auto", "x", "../../etc/passwd")
