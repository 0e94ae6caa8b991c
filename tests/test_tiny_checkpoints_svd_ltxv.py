"""Tiny SVD XT, LTX-Video and T5-XXL checkpoints load in the pinned ComfyUI as the real ones.

Builds the three files with ``tools/make_tiny_checkpoints.py`` in ComfyUI's
interpreter, into ``VIDGEN_TINY_CACHE`` when set (the tool's ``--out``, as for the
other tiny-checkpoint tests; files already in its key folder are reused), then loads each with ComfyUI's own loaders in a
subprocess (``tests/tiny_svd_ltxv_probe.py``): the detected classes must be the real
families', no key may be missing, and a forward, encode and decode on a tiny input must
be finite. Building again with the same seed must give the same bytes.

Heavy: the SVD file is 1.9 GB (CLIP-H and the VAE are full size) and its load peaks near
6 GB; the whole module takes several minutes on two cores.
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

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "tiny_svd_ltxv_probe.py"
TOOL = ROOT / "tools" / "make_tiny_checkpoints.py"
SVD = "checkpoints/svd_xt_1_1.safetensors"
LTXV = "checkpoints/ltx-video-2b-v0.9.5.safetensors"
T5 = "text_encoders/t5xxl_fp16.safetensors"
FILES = (SVD, LTXV, T5)

pytestmark = [
    pytest.mark.comfyui,
    pytest.mark.slow,
    pytest.mark.skipif(
        comfyui_dir() is None, reason="COMFYUI_DIR not set to a ComfyUI checkout (docs/comfyui.md)"
    ),
]


def _python() -> str:
    cdir = comfyui_dir()
    assert cdir is not None
    return comfyui_python(cdir)


def _build(out: Path, names: tuple[str, ...], seed: int | None = None) -> Path:
    """``names`` built by tools/make_tiny_checkpoints.py into its cache ``out``; the key
    folder it printed (files already there are reused)."""
    cdir = comfyui_dir()
    assert cdir is not None
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    only = [Path(rel).name for rel in names]
    seeded = ["--seed", str(seed)] if seed is not None else []  # else the tool's default
    cmd = [_python(), str(TOOL), "--comfyui-dir", str(cdir), "--out", str(out), *seeded,
           "--only", *only]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def _probe(models: Path, family: str) -> dict[str, Any]:
    cdir = comfyui_dir()
    assert cdir is not None
    cmd = [_python(), str(PROBE), "--comfyui-dir", str(cdir), "--models", str(models), family]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = os.environ.get("VIDGEN_TINY_CACHE")  # the tool's --out, as in the other tests
    return _build(Path(cache) if cache else tmp_path_factory.mktemp("tiny-svd-ltxv"), FILES)


def _metadata(path: Path) -> dict[str, str]:
    # the safetensors header: 8-byte little-endian length, then JSON with __metadata__
    with path.open("rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    meta: dict[str, str] = header.get("__metadata__", {})
    return meta


def test_every_file_is_marked_tiny(models: Path) -> None:
    seeds = set()
    for name in FILES:
        meta = _metadata(models / name)
        assert meta["vidgen_tiny"] == "1", name
        assert meta["vidgen_tiny_generator"], name
        seeds.add(meta["vidgen_tiny_seed"])
    assert len(seeds) == 1
    config = json.loads(_metadata(models / LTXV)["config"])
    assert config["vae"]["latent_channels"] == 128
    assert config["transformer"]["num_attention_heads"] == 2


def test_svd_xt_detects_as_svd_and_runs(models: Path) -> None:
    r = _probe(models, "svd")
    assert r["model_config"] == "SVD_img2vid"
    assert r["model_class"] == "SVD_img2vid"
    assert r["missing_key_warnings"] == []
    assert r["forward_shape"] == [2, 4, 8, 8] and r["forward_finite"]
    # SVD's video VAE: 8x spatial, 4 latent channels, one latent per frame
    assert r["vae_class"] == "AutoencodingEngine"
    assert r["encode_shape"] == [2, 4, 8, 8] and r["encode_finite"]
    assert r["decode_shape"] == [2, 64, 64, 3] and r["decode_finite"]
    # CLIP ViT-H/14 (32 layers, 1024-d embedding) from the open_clip keys
    assert r["clip_vision_layers"] == 32
    assert r["clip_vision_embeds_shape"] == [1, 1024] and r["clip_vision_finite"]


def test_ltxv_detects_as_ltxv_and_runs(models: Path) -> None:
    r = _probe(models, "ltxv")
    assert r["model_config"] == "LTXV"
    assert r["model_class"] == "LTXV"
    assert r["missing_key_warnings"] == []
    assert r["num_layers"] == 1
    assert r["transformer_parameters"] < 2_000_000
    assert r["clip_in_checkpoint"] is False
    # 9 frames of 64x64 -> 1 + 8 temporal, 32x spatial, 128 latent channels, and back
    assert r["vae_class"] == "VideoVAE"
    assert r["encode_shape"] == [1, 128, 2, 2, 2] and r["encode_finite"]
    assert r["decode_shape"] == [1, 9, 64, 64, 3] and r["decode_finite"]
    assert r["forward_shape"] == [1, 128, 2, 2, 2] and r["forward_finite"]


def test_t5xxl_loads_small_through_the_test_node(models: Path) -> None:
    r = _probe(models, "t5")
    assert r["clip_class"] == "MochiTEModel_"  # what CLIPLoader type ltxv builds
    assert r["missing_key_warnings"] == []
    assert r["num_layers"] == 24
    # 4.76 B in the shipped config; the tiny one is the 32128x4096 embedding plus change
    assert r["parameters"] < 200_000_000
    assert r["cond_shape"][0] == 1 and r["cond_shape"][2] == 4096 and r["cond_finite"]
    # a T5 file without the tiny marker gets no override (it would load full size)
    assert r["unmarked_file_config"] is None


def test_same_seed_same_bytes(models: Path, tmp_path: Path) -> None:
    seed = int(_metadata(models / SVD)["vidgen_tiny_seed"])
    again = _build(tmp_path, FILES, seed=seed)
    for name in FILES:
        assert sha256_file(again / name) == sha256_file(models / name), name
    # and the seed matters
    other = _build(tmp_path / "other", (LTXV,), seed=seed + 1)
    assert sha256_file(other / LTXV) != sha256_file(models / LTXV)
