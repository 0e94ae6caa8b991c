"""Suggestions on real photos, the `vidgen camera` commands, and the two nodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import photo
from PIL import Image

from comfy_vidgen.camera import CameraPath
from comfy_vidgen.camera.suggest import analyse, detect_faces, faces_whole, suggest_paths
from comfy_vidgen.cli import main
from comfy_vidgen.manifest import Camera, build_manifest, dumps_pretty


def _group_photo() -> np.ndarray:
    """Two astronauts side by side: a real photo with two faces."""
    a = photo("astronaut")
    return np.ascontiguousarray(np.concatenate([a, a[:, ::-1]], axis=1))


@pytest.mark.parametrize("name", ["astronaut", "group"])
def test_suggestions_keep_every_face_whole_and_the_subject_in_frame(name: str) -> None:
    img = _group_photo() if name == "group" else photo(name)
    faces = detect_faces(img)
    assert len(faces) >= (2 if name == "group" else 1)  # Haar may add a false positive
    a = analyse(img)
    found = suggest_paths(img, (1024, 576), n=3, analysis=a)
    # a wide group leaves fewer moves that hold every face; each kind appears once at most
    assert 2 <= len(found) <= 3
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)
    assert len({s.camera["motion_type"] for s in found}) == len(found)
    h, w = img.shape[:2]
    for s in found:
        path = CameraPath(Camera.model_validate(s.camera), (w, h))
        assert faces_whole(path, faces, samples=101), s
        hold = path.start if s.camera["motion_type"] == "zoom_out" else path.end
        sub = a.subject
        assert hold.x <= sub.x * w + 1e-6 and sub.x2 * w <= hold.x + hold.w + 1e-6
        assert hold.y <= sub.y * h + 1e-6 and sub.y2 * h <= hold.y + hold.h + 1e-6
        # crops have the output aspect in keyframe pixels
        for r in (path.start, path.end):
            assert r.w / r.h == pytest.approx(1024 / 576, rel=1e-3)
        assert s.rationale and s.prompt and 1 <= s.motion_bucket_id <= 255


def test_suggestions_without_faces_follow_saliency() -> None:
    img = photo("coffee")
    found = suggest_paths(img, (1024, 576), n=2)
    assert found[0].camera["motion_type"] in {
        "zoom_in",
        "zoom_out",
        "pan_left",
        "pan_right",
        "tilt_up",
        "tilt_down",
    }
    assert "salient" in found[0].rationale


def _manifest(root: Path, motion="zoom_in", start=None, end=None) -> Path:
    kf = root / "astronaut.jpg"
    Image.fromarray(photo("astronaut")).save(kf, quality=92)
    m = build_manifest(
        keyframe=kf,
        input_root=root,
        motion_type=motion,
        start=start or {"x": 0.0, "y": 0.0, "w": 1.0, "h": 0.5625},
        end=end or {"x": 0.2, "y": 0.07, "w": 0.7, "h": 0.39375},
        workflow="camera_only@1",
        seed=7,
        size=(256, 144),
        output={"frames": 12, "fps": 12},
    )
    path = root.parent / "shot.json"
    path.write_text(dumps_pretty(m))
    return path


def test_cli_suggest_json(tmp_path: Path, capsys) -> None:
    kf = tmp_path / "a.jpg"
    Image.fromarray(photo("astronaut")).save(kf)
    assert main(["camera", "suggest", str(kf), "--n", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["suggestions"]) == 2
    Camera.model_validate(out["suggestions"][0]["camera"])
    assert main(["camera", "suggest", str(kf), "--n", "0"]) == 2
    assert main(["camera", "suggest", str(tmp_path / "missing.jpg")]) == 2


def test_cli_preview_writes_video_and_contact_sheet(input_root: Path, capsys) -> None:
    import av

    m = _manifest(input_root)
    video, sheet = input_root.parent / "p.mp4", input_root.parent / "p.png"
    args = ["camera", "preview", str(m), "--input-root", str(input_root), "-o", str(video)]
    assert main([*args, "--sheet", str(sheet), "--width", "128", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["frames"] == 12 and (rec["width"], rec["height"]) == (128, 72)
    with av.open(str(video)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 12 and (frames[0].width, frames[0].height) == (128, 72)
    img = np.asarray(Image.open(sheet))
    assert img.shape[1] == 1024 and img.shape[0] > 1024 * 0.6
    # the drawn start rectangle is green, the end rectangle red-orange
    assert (np.abs(img.astype(int) - (40, 200, 90)).sum(axis=2) < 30).sum() > 500
    assert (np.abs(img.astype(int) - (235, 80, 40)).sum(axis=2) < 30).sum() > 500


def test_cli_render_png_frames_and_mp4_and_post_pass(
    input_root: Path, tmp_path: Path, capsys
) -> None:
    import av

    m = _manifest(input_root)
    frames_dir = tmp_path / "frames"
    base = ["camera", "render", str(m), "--input-root", str(input_root)]
    assert main([*base, "--frames", "5", "-o", str(frames_dir), "--json"]) == 0
    files = sorted(frames_dir.glob("*.png"))
    assert [f.name for f in files] == [f"frame_{i:05d}.png" for i in range(5)]
    assert Image.open(files[0]).size == (256, 144)
    assert main([*base, "-o", str(tmp_path / "r.mp4")]) == 0
    with av.open(str(tmp_path / "r.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12
    # post-pass over frames that show the whole keyframe
    full = tmp_path / "full"
    full.mkdir()
    for i in range(3):
        Image.fromarray(photo("astronaut")[::2, ::2]).save(full / f"{i}.png")
    assert main([*base, "--over", str(full), "-o", str(tmp_path / "post")]) == 0
    assert len(list((tmp_path / "post").glob("*.png"))) == 3
    capsys.readouterr()


def test_cli_confines_the_keyframe_to_the_input_root(
    input_root: Path, tmp_path: Path, capsys
) -> None:
    m = _manifest(input_root)
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert (
        main(["camera", "render", str(m), "--input-root", str(other), "-o", str(tmp_path / "x")])
        == 1
    )
    assert "not found under the input root" in capsys.readouterr().err
    (input_root / "astronaut.jpg").write_bytes(b"changed")
    assert (
        main(
            [
                "camera",
                "preview",
                str(m),
                "--input-root",
                str(input_root),
                "-o",
                str(tmp_path / "p.mp4"),
            ]
        )
        == 1
    )
    assert "sha256" in capsys.readouterr().err
    assert (
        main(
            [
                "camera",
                "render",
                str(m),
                "--input-root",
                str(input_root),
                "-o",
                str(tmp_path / "x.gif"),
            ]
        )
        == 2
    )


# --------------------------------------------------------------------------- nodes


def test_node_metadata_is_complete() -> None:
    from comfy_vidgen.nodes import NODE_CLASS_MAPPINGS

    for name in ("CameraPathConditioner", "VirtualCamera"):
        cls = NODE_CLASS_MAPPINGS[name]
        assert cls.CATEGORY == "vidgen/camera" and cls.DESCRIPTION
        assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES) == len(cls.OUTPUT_TOOLTIPS)
        spec = cls.INPUT_TYPES()
        for section in ("required", "optional"):
            for inp, (_, opts) in spec.get(section, {}).items():
                assert opts.get("tooltip"), f"{name}.{inp} has no tooltip"


def test_conditioner_and_virtual_camera_nodes() -> None:
    import torch

    from comfy_vidgen.nodes.camera import CameraPathConditioner, VirtualCamera

    img = torch.from_numpy(photo("astronaut").astype(np.float32) / 255.0)[None]
    widgets = dict(
        width=128, height=72, length=9, motion_type="zoom_in", easing="ease_in_out",
        start_x=0.0, start_y=0.0, start_w=1.0, start_h=0.5625,
        end_x=0.2, end_y=0.07, end_w=0.7, end_h=0.39375,
    )  # fmt: skip
    start, end, path, bucket, emb, phrase = CameraPathConditioner().condition(img, **widgets)
    assert start.shape == end.shape == (1, 72, 128, 3) and start.dtype == torch.float32
    assert emb.shape == (1, 24, 3, 72, 128) and emb.dtype == torch.float32
    assert isinstance(path, CameraPath) and 1 <= bucket <= 255 and "zoom in" in phrase
    (frames,) = VirtualCamera().render(img, path, 128, 72, 6)
    assert frames.shape == (6, 72, 128, 3)
    assert torch.allclose(frames[0], start[0]) and torch.allclose(frames[-1], end[0])
    # a batch is a post-pass: one output frame per input frame
    (post,) = VirtualCamera().render(img.repeat(4, 1, 1, 1), path, 64, 36, 99)
    assert post.shape == (4, 36, 64, 3)
    # the embedding is skipped when nothing in the running prompt reads it
    prompt = {"1": {"inputs": {"image": ["7", 0]}}, "2": {"inputs": {"x": ["3", 4]}}}
    out = CameraPathConditioner().condition(img, **widgets, prompt=prompt, unique_id="3")
    assert out[4] is not None
    out = CameraPathConditioner().condition(img, **widgets, prompt=prompt, unique_id="7")
    assert out[4] is None


def test_conditioner_manifest_overrides_widgets(input_root: Path) -> None:
    import torch

    from comfy_vidgen.camera import CameraError
    from comfy_vidgen.manifest import load_manifest
    from comfy_vidgen.nodes.camera import CameraPathConditioner

    m = load_manifest(_manifest(input_root, "pan_right", {"x": 0.0, "y": 0.2, "w": 0.7, "h": 0.39375},
                                {"x": 0.3, "y": 0.2, "w": 0.7, "h": 0.39375}))  # fmt: skip
    img = torch.from_numpy(photo("astronaut").astype(np.float32) / 255.0)[None]
    bad = dict(
        width=64, height=36, length=5, motion_type="zoom_in", easing="linear",
        start_x=0.0, start_y=0.0, start_w=0.5, start_h=0.5, end_x=0.0, end_y=0.0, end_w=1.0, end_h=1.0,
    )  # fmt: skip
    with pytest.raises(CameraError, match="zoom_in needs an end crop smaller"):
        CameraPathConditioner().condition(img, **bad)
    out = CameraPathConditioner().condition(img, **bad, manifest=m)
    assert out[2].motion_type == "pan_right" and "pan to the right" in out[5]
    with pytest.raises(CameraError, match="4k\\+1"):
        CameraPathConditioner().condition(img, **{**bad, "length": 6}, manifest=m)
