"""Model conditioning: Wan camera embedding geometry and format, SVD bucket, prompt phrase."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import photo

from comfy_vidgen.camera import CameraError, CameraPath, render_path
from comfy_vidgen.camera.conditioning import (
    CameraPoses,
    conditioning,
    motion_bucket_id,
    pack_wan,
    path_poses,
    plucker_rays,
    prompt_phrase,
    wan_camera_embedding,
    wan_intrinsics,
)

SIZE = (1600, 900)


def _p(motion: str, start, end, easing: str = "linear") -> CameraPath:
    return CameraPath.from_values(motion, start, end, easing, SIZE)


STATIC = _p("static", (0.1, 0.1, 0.5, 0.5), (0.1, 0.1, 0.5, 0.5))
PAN = _p("pan_right", (0.0, 0.25, 0.5, 0.5), (0.5, 0.25, 0.5, 0.5))
ZOOM = _p("zoom_in", (0.0, 0.0, 1.0, 1.0), (0.25, 0.25, 0.5, 0.5))


def test_embedding_shape_and_dtype_follow_comfyui_layout() -> None:
    emb = wan_camera_embedding(PAN, 9, 64, 48)
    assert emb.shape == (1, 24, 3, 48, 64) and emb.dtype == np.float32
    assert wan_camera_embedding(PAN, 81, 32, 16).shape == (1, 24, 21, 16, 32)
    with pytest.raises(CameraError, match="4k\\+1"):
        wan_camera_embedding(PAN, 10, 64, 48)


def test_static_camera_rays_are_constant() -> None:
    emb = wan_camera_embedding(STATIC, 9, 40, 24)
    first = emb[0, 0::4, 0]
    for g in range(emb.shape[2]):
        for s in range(4):
            np.testing.assert_array_equal(emb[0, s::4, g], first)
    # no translation: zero moment; unit directions through pixel centres
    assert np.abs(emb[0, :12]).max() == 0.0
    d = emb[0, 12:].reshape(3, 4, 3, 24, 40)
    np.testing.assert_allclose(np.linalg.norm(d, axis=0), 1.0, atol=1e-6)


def test_pan_rotates_the_rays_about_the_vertical_axis() -> None:
    poses = path_poses(PAN, 5, 64, 36)
    r0, r4 = plucker_rays(poses, 0), plucker_rays(poses, 4)
    # pure rotation: directions change, moments stay zero, vertical components preserved
    assert np.abs(r4[:3]).max() < 1e-6
    centre0, centre4 = r0[3:, 18, 32], r4[3:, 18, 32]
    assert centre4[0] > centre0[0] + 0.3  # turned right
    rot = poses.c2w[4, :3, :3]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    # the rotation angle matches the crop move: one crop width = one frame width off-axis
    angle = np.degrees(np.arccos(np.clip(rot[2, 2], -1, 1)))
    fx = wan_intrinsics(64, 36)[0]
    assert angle == pytest.approx(np.degrees(np.arctan(64 / fx)), abs=1e-6)


def test_zoom_translates_forward_without_rotating() -> None:
    poses = path_poses(ZOOM, 5, 64, 36)
    np.testing.assert_allclose(poses.c2w[-1, :3, :3], np.eye(3), atol=1e-12)
    t = poses.c2w[:, :3, 3]
    assert np.all(np.diff(t[:, 2]) > 0) and np.abs(t[:, :2]).max() < 1e-9
    assert t[-1, 2] == pytest.approx(3.0 * 0.5)  # half the depth for a 2x push-in
    focal = path_poses(ZOOM, 5, 64, 36, zoom_as="focal")
    assert np.abs(focal.c2w[:, :3, 3]).max() == 0.0
    assert focal.intrinsics[-1, 0] == pytest.approx(2 * focal.intrinsics[0, 0])


def test_packing_repeats_frame_zero_and_groups_by_four() -> None:
    poses = path_poses(PAN, 9, 20, 12)
    emb = pack_wan(poses)
    seq = [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    for k, frame in enumerate(seq):
        g, s = divmod(k, 4)
        np.testing.assert_allclose(emb[0, s::4, g], plucker_rays(poses, frame), atol=1e-7)


def test_motion_bucket_grows_with_speed_and_is_in_range() -> None:
    out = (1024, 576)
    still = motion_bucket_id(STATIC, out)
    slow = motion_bucket_id(_p("pan_right", (0.0, 0.25, 0.5, 0.5), (0.1, 0.25, 0.5, 0.5)), out)
    fast = motion_bucket_id(PAN, out)
    assert still == 32
    assert still < slow < fast <= 255
    assert motion_bucket_id(ZOOM, out) > still


@pytest.mark.parametrize(
    ("path", "phrase"),
    [
        (STATIC, "static locked-off shot"),
        (PAN, "fast pan to the right"),
        (_p("tilt_up", (0.2, 0.4, 0.5, 0.5), (0.2, 0.3, 0.5, 0.5)), "slow tilt up"),
        (
            _p("zoom_in", (0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 0.6, 0.6)),
            "steady zoom in toward the upper left",
        ),
        (
            _p("dolly_out", (0.4, 0.4, 0.6, 0.6), (0.0, 0.0, 1.0, 1.0)),
            "steady dolly out away from the lower right",
        ),
        (_p("custom", (0.0, 0.0, 1.0, 1.0), (0.2, 0.2, 0.6, 0.6)), "slow push-in"),
    ],
)
def test_prompt_phrase(path: CameraPath, phrase: str) -> None:
    assert prompt_phrase(path) == phrase


def test_start_and_end_images_equal_first_and_last_frames() -> None:
    img = photo("coffee")
    path = CameraPath.from_values(
        "zoom_in", (0, 0.078125, 1, 0.84375), (0.3, 0.3, 0.5, 0.421875), "ease_in", (600, 400)
    )
    cond = conditioning(img, path, (256, 144))
    frames = list(render_path(img, path, 7, (256, 144)))
    np.testing.assert_array_equal(cond.start_image, frames[0])
    np.testing.assert_array_equal(cond.end_image, frames[-1])
    assert cond.prompt.startswith("slow zoom in")


COMFY_SCRIPT = textwrap.dedent(
    """
    import json, sys, types
    import numpy as np
    comfy_dir, spec = sys.argv[1], json.loads(sys.argv[2])
    sys.path.insert(0, comfy_dir)
    import comfy.options
    comfy.options.enable_args_parsing()
    import torch
    sys.argv = ["comfyui"] + ([] if torch.cuda.is_available() else ["--cpu"])
    try:
        import nodes  # noqa: F401
    except Exception:  # the node module only needs MAX_RESOLUTION from ComfyUI's nodes.py
        stub = types.ModuleType("nodes"); stub.MAX_RESOLUTION = 16384; sys.modules["nodes"] = stub
    import comfy_extras.nodes_camera_trajectory as m
    for pose in spec["poses"]:
        t = m.WanCameraEmbedding.execute(pose, spec["width"], spec["height"], spec["length"]).result[0]
        rt = m.get_camera_motion(np.array(m.CAMERA_DICT[pose]["angle"]), np.array(m.CAMERA_DICT[pose]["T"]), 1.0, spec["length"])
        np.save(f"{spec['dir']}/{pose}.npy", t.cpu().numpy())
        np.save(f"{spec['dir']}/{pose}.rt.npy", rt)
    """
)


@pytest.mark.comfyui
def test_embedding_matches_comfyuis_own_node(tmp_path: Path) -> None:
    comfy = os.environ.get("COMFYUI_DIR")
    if not comfy:
        pytest.skip("COMFYUI_DIR is not set (path to a ComfyUI checkout with its requirements)")
    w, h, n = 64, 48, 9
    poses = ["Static", "Pan Left", "Zoom In", "ClockWise (CW)"]
    spec = {"width": w, "height": h, "length": n, "poses": poses, "dir": str(tmp_path)}
    script = tmp_path / "run.py"
    script.write_text(COMFY_SCRIPT)
    from live_comfyui import comfyui_python

    proc = subprocess.run(
        [comfyui_python(Path(comfy)), str(script), comfy, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=comfy,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for pose in poses:
        theirs = np.load(tmp_path / f"{pose}.npy")
        rt = np.load(tmp_path / f"{pose}.rt.npy")
        c2w = np.tile(np.eye(4), (n, 1, 1))
        c2w[:, :3, :] = rt
        c2w = np.linalg.inv(c2w[0])[None] @ c2w
        ours = pack_wan(CameraPoses(np.tile(wan_intrinsics(w, h), (n, 1)), c2w, w, h))
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    # our own static path equals ComfyUI's Static preset
    static = wan_camera_embedding(STATIC, n, w, h)
    np.testing.assert_allclose(static, np.load(tmp_path / "Static.npy"), atol=1e-6)
