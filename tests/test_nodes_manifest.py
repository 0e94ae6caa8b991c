"""ManifestLoader without ComfyUI: folder_paths stubbed, real files, real decode."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from comfy_vidgen.manifest import (
    ManifestError,
    build_manifest,
    canonical_json,
    dumps_pretty,
    full_crop,
)
from comfy_vidgen.nodes.manifest import INLINE, ManifestLoader


@pytest.fixture
def comfy_input(monkeypatch: pytest.MonkeyPatch, input_root: Path) -> Path:
    stub = types.ModuleType("folder_paths")
    stub.get_input_directory = lambda: str(input_root)  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "folder_paths", stub)
    (input_root / "manifests").mkdir()
    return input_root


@pytest.fixture
def manifest_text(coffee_jpeg: Path, comfy_input: Path) -> str:
    m = build_manifest(
        keyframe=coffee_jpeg,
        input_root=comfy_input,
        motion_type="zoom_in",
        start=full_crop(600, 400, 1024, 576),
        end={"x": 0.3, "y": 0.3, "w": 0.4, "h": 0.3375},
        workflow="svd_xt@1",
        seed=2**63 + 5,
    )
    (comfy_input / "manifests" / "shot.json").write_text(dumps_pretty(m))
    return canonical_json(m).decode()


def test_lists_manifests_in_input_folder(manifest_text: str) -> None:
    choices = ManifestLoader.INPUT_TYPES()["required"]["manifest"][0]
    assert choices == [INLINE, "shot.json"]


def test_loads_file_and_outputs_parameters(manifest_text: str) -> None:
    out = ManifestLoader().load("shot.json")
    (
        image,
        manifest,
        seed,
        steps,
        cfg,
        min_cfg,
        bucket,
        aug,
        w,
        h,
        frames,
        fps,
        prompt,
        neg,
        *rest,
    ) = out
    out_frames, model_fps, model_fps_int, scene_cut_guard, quality, bit_depth, camera, *wan = rest
    assert wan == [0, 0.0, 0.0]  # split_step, shift, lora_strength: unused by svd_xt
    assert (quality, bit_depth) == (20, "10")  # output defaults, bit depth as the encoder's combo
    assert camera == manifest.camera  # the manifest's camera block, for the conditioner
    assert scene_cut_guard is True
    assert out_frames == 120 and model_fps == pytest.approx(24 * 30 / 119) and model_fps_int == 6
    assert tuple(image.shape) == (1, 400, 600, 3) and image.dtype.__str__() == "torch.float32"
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert seed == 2**63 + 5 and steps == 25 and cfg == 2.5 and min_cfg == 1.0
    assert (
        bucket == 127 and aug == pytest.approx(0.02) and (w, h, frames, fps) == (1024, 576, 25, 30)
    )
    assert prompt == "" and neg == ""
    assert manifest.id == "coffee"
    assert len(out) == len(ManifestLoader.RETURN_TYPES) == len(ManifestLoader.RETURN_NAMES)


def test_inline_json_takes_precedence(manifest_text: str) -> None:
    data = json.loads(manifest_text)
    data["generation"]["seed"] = 7
    out = ManifestLoader().load("shot.json", json.dumps(data))
    assert out[2] == 7


def test_is_changed_follows_manifest_hash(manifest_text: str, comfy_input: Path) -> None:
    a = ManifestLoader.IS_CHANGED("shot.json")
    data = json.loads(manifest_text)
    data["generation"]["seed"] = 8
    (comfy_input / "manifests" / "shot.json").write_text(json.dumps(data))
    b = ManifestLoader.IS_CHANGED("shot.json")
    assert a != b and len(a) == 64


@pytest.mark.parametrize("name", ["../outside.json", "/etc/passwd", "sub/../../x.json"])
def test_refuses_paths_outside_input_folder(manifest_text: str, name: str) -> None:
    with pytest.raises(ManifestError):
        ManifestLoader().load(name)


def test_refuses_symlinked_manifest_outside(
    manifest_text: str, comfy_input: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text(manifest_text)
    (comfy_input / "manifests" / "link.json").symlink_to(outside)
    with pytest.raises(ManifestError, match="outside the input root"):
        ManifestLoader().load("link.json")


def test_refuses_tampered_keyframe(manifest_text: str, comfy_input: Path) -> None:
    kf = comfy_input / "coffee.jpg"
    kf.write_bytes(kf.read_bytes()[:-10])
    with pytest.raises(ManifestError, match="keyframe.sha256"):
        ManifestLoader().load(INLINE, manifest_text)


def test_validate_inputs_requires_a_source() -> None:
    assert isinstance(ManifestLoader.VALIDATE_INPUTS(INLINE, ""), str)
    assert ManifestLoader.VALIDATE_INPUTS("a.json", "") is True
