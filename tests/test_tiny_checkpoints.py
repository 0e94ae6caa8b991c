"""The tiny Wan checkpoints load through the pinned ComfyUI's own loaders as the real models.

Builds the Wan files with tools/make_tiny_checkpoints.py (into a temporary cache, or the
one named by VIDGEN_TINY_CACHE, reused when complete), then loads each in ComfyUI's
interpreter (tests/tiny_checkpoints_probe.py) and checks what ComfyUI detected and that
one forward/encode/decode gives finite numbers. Skipped without COMFYUI_DIR.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from live_comfyui import comfyui_dir, comfyui_python

from comfy_vidgen.fsutil import sha256_file

pytestmark = [
    pytest.mark.comfyui,
    pytest.mark.slow,
    pytest.mark.skipif(
        comfyui_dir() is None, reason="COMFYUI_DIR not set to a ComfyUI checkout (docs/comfyui.md)"
    ),
]

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "make_tiny_checkpoints.py"
PROBE = ROOT / "tests" / "tiny_checkpoints_probe.py"

TI2V = "wan2.2_ti2v_5B_fp16.safetensors"
CAMERA = "wan2.1_fun_camera_v1.1_1.3B_bf16.safetensors"
A14B_HIGH = "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"
A14B_LOW = "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"
LORA_HIGH = "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors"
LORA_LOW = "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors"
UMT5 = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
VAE21 = "wan_2.1_vae.safetensors"
VAE22 = "wan2.2_vae.safetensors"
CLIP_H = "clip_vision_h.safetensors"


def _python() -> str:
    cdir = comfyui_dir()
    assert cdir is not None
    return comfyui_python(cdir)


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    cdir = comfyui_dir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [_python(), str(TOOL), "--comfyui-dir", str(cdir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )


def wan_files() -> list[str]:
    listing = _tool("--list")
    assert listing.returncode == 0, listing.stderr
    return [line.split()[1] for line in listing.stdout.splitlines() if line.startswith("wan ")]


def build(out: Path) -> Path:
    names = [rel.split("/", 1)[1] for rel in wan_files()]
    done = _tool("--out", str(out), "--only", *names)
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def digests(key_dir: Path, rels: list[str]) -> dict[str, str]:
    return {rel: sha256_file(key_dir / rel) for rel in rels}


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = os.environ.get("VIDGEN_TINY_CACHE")
    out = Path(cache) if cache else tmp_path_factory.mktemp("tiny-cache")
    return build(out)


_PROBED: dict[str, dict[str, Any]] = {}


def probe(key_dir: Path, *names: str) -> dict[str, dict[str, Any]]:
    """Results of loading ``names`` in one ComfyUI process (cached per module run)."""
    todo = [n for n in names if n not in _PROBED]
    if todo:
        cdir = comfyui_dir()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run(
            [_python(), str(PROBE), str(cdir), str(key_dir), *todo],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        _PROBED.update(json.loads(done.stdout.strip().splitlines()[-1]))
        report = os.environ.get("VIDGEN_IT_REPORT")
        if report:  # per-model load/run seconds, for docs (never asserted: timings are noisy)
            (Path(report) / "tiny_checkpoints_probe.json").write_text(
                json.dumps(_PROBED, indent=2, sort_keys=True) + "\n"
            )
    return {n: _PROBED[n] for n in names}


SMALL = (TI2V, CAMERA, A14B_HIGH, A14B_LOW, LORA_HIGH, LORA_LOW)


@pytest.mark.parametrize(
    ("name", "cls", "base", "in_dim", "out_dim", "model_type"),
    [
        (TI2V, "WAN22_T2V", "WAN22", 48, 48, "t2v"),
        (CAMERA, "WAN21_Camera", "WAN21_Camera", 32, 16, "camera"),
        # the real A14B experts have no img_emb: detection says t2v, in_dim 36 -> WAN21_T2V
        (A14B_HIGH, "WAN21_T2V", "WAN21", 36, 16, "t2v"),
        (A14B_LOW, "WAN21_T2V", "WAN21", 36, 16, "t2v"),
    ],
)
def test_unet_detected_as_the_real_model(
    key_dir: Path, name: str, cls: str, base: str, in_dim: int, out_dim: int, model_type: str
) -> None:
    r = probe(key_dir, *SMALL)[name]
    assert (r["class"], r["model_base"]) == (cls, base)
    cfg = r["unet_config"]
    assert (cfg["in_dim"], cfg["out_dim"], cfg["model_type"]) == (in_dim, out_dim, model_type)
    assert cfg["dim"] % 128 == 0 and cfg["num_heads"] == cfg["dim"] // 128
    assert r["params"] < 10_000_000
    assert r["shape"] == [1, out_dim, 2, 8, 8]
    assert r["finite"]


@pytest.mark.parametrize("name", [LORA_HIGH, LORA_LOW])
def test_lora_applies_with_every_key_loaded(key_dir: Path, name: str) -> None:
    r = probe(key_dir, *SMALL)[name]
    assert r["not_loaded"] == []
    assert r["patches"] > 0 and r["changed"]
    assert r["finite"]


def test_umt5_loads_with_the_tiny_config(key_dir: Path) -> None:
    r = probe(key_dir, UMT5)[UMT5]
    assert r["class"] == "WanTEModel"
    # 24 blocks of d_model 4096 with the shrunk heads/ffn/vocab; the full config is 5.68 B
    assert 5_000_000 < r["params"] < 30_000_000
    assert r["tokens"] == 512 and r["shape"] == [1, 512, 4096]
    assert r["finite"]


@pytest.mark.parametrize(("name", "channels", "latent_hw"), [(VAE21, 16, 4), (VAE22, 48, 2)])
def test_full_size_vae_encodes_and_decodes(
    key_dir: Path, name: str, channels: int, latent_hw: int
) -> None:
    r = probe(key_dir, name)[name]
    assert r["missing_warnings"] == []
    assert r["latent_channels"] == channels
    assert r["latent_shape"] == [1, channels, 2, latent_hw, latent_hw]
    assert r["shape"] == [1, 5, 32, 32, 3]
    assert r["finite"]


def test_clip_vision_h_encodes(key_dir: Path) -> None:
    r = probe(key_dir, CLIP_H)[CLIP_H]
    assert r["missing_warnings"] == []
    assert (r["hidden_size"], r["num_layers"]) == (1280, 32)
    assert r["shape"] == [1, 257, 1280]
    assert r["finite"]


def test_rebuild_gives_identical_bytes(key_dir: Path, tmp_path: Path) -> None:
    rels = wan_files()
    again = build(tmp_path / "again")
    assert again.name == key_dir.name
    assert digests(again, rels) == digests(key_dir, rels)
    # only the Wan files were asked for: the folder is not marked complete (the SVD and
    # LTX-Video builders' files are missing), so a later run builds the rest
    assert not (again / "COMPLETE.json").exists()


@pytest.mark.parametrize("where", ["repo", "models"])
def test_refuses_output_where_weights_could_pass_for_real(where: str, tmp_path: Path) -> None:
    out = ROOT / "tiny-out" if where == "repo" else tmp_path / "ComfyUI" / "models"
    done = _tool("--out", str(out), "--only", TI2V)
    assert done.returncode == 2
    expected = "inside the repository" if where == "repo" else "inside a ComfyUI models/ folder"
    (line,) = done.stderr.strip().splitlines()  # one line, naming why
    assert expected in line, line
    assert not out.exists()
