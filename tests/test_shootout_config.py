"""Shootout TOML validation, variant expansion and ranking (no rendering needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import photo
from PIL import Image

from comfy_vidgen.cli import main
from comfy_vidgen.manifest import parse_manifest
from shootout.run import (
    ClipResult,
    ShootoutConfig,
    Variant,
    VariantResult,
    base_manifests,
    expand_variants,
    load_config,
    rank,
    summarise,
    variant_manifest,
)

GOOD = """
price_per_gpu_hour = 1.0
gpus = 4
[inputs]
keyframes = ["shots/*.jpg"]
size = "128x72"
frames = 24
[[candidate]]
workflow = "camera_only@1"
[candidate.grid]
frames = [9, 13]
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "shots").mkdir()
    Image.fromarray(photo("coffee")).save(tmp_path / "shots" / "coffee.jpg", quality=90)
    return tmp_path


def _run(base: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    cfg = base / "s.toml"
    cfg.write_text(text)
    code = main(["shootout", str(cfg), "--out", str(base / "out"), "--json"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("gpus = 4", "gpus = [4"), "invalid TOML"),
        (
            GOOD.replace("gpus = 4", "gpus = 4\ncolour = 1"),
            "colour: Extra inputs are not permitted",
        ),
        (GOOD.replace("price_per_gpu_hour = 1.0", ""), "price_per_gpu_hour: Field required"),
        (GOOD.replace("camera_only@1", "sora@2"), "unknown workflow 'sora@2'"),
        (
            GOOD.replace("frames = [9, 13]", "temperature = [1]"),
            "grid.temperature: not a generation",
        ),
        (GOOD.replace("frames = [9, 13]", "frames = []"), "grid.frames: needs at least one value"),
        (
            GOOD.replace('keyframes = ["shots/*.jpg"]', 'keyframes = ["nope/*.png"]'),
            "matches no file",
        ),
        (GOOD.replace('keyframes = ["shots/*.jpg"]', ""), "give either manifests"),
        # a runnable variant whose manifests break the workflow's spec: nothing runs
        (GOOD.replace("frames = [9, 13]", "frames = [9, 300]"), "generation.frames"),
        ('profile = "no-such-profile"\n' + GOOD, "no-such-profile"),
    ],
)
def test_bad_toml_is_a_usage_error_with_a_clear_message(
    base: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, err = _run(base, text, capsys)
    assert code == 2
    assert err.startswith("vidgen: error: ") and message in err
    assert "Traceback" not in err
    assert not (base / "out" / "ledger.db").exists()  # nothing was submitted


def test_missing_file_and_rack_misuse_exit_2(
    base: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["shootout", str(base / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (base / "s.toml").write_text(GOOD)
    assert main(["shootout", str(base / "s.toml"), "--fleet", "f.toml", "--comfyui", "x"]) == 2
    assert "either --fleet or --comfyui" in capsys.readouterr().err


def test_grid_expands_to_every_combination_with_unique_keys(base: Path) -> None:
    cfg = ShootoutConfig.model_validate(
        {
            "price_per_gpu_hour": 1.0,
            "gpus": 1,
            "inputs": {"keyframes": ["shots/*.jpg"], "size": "512x288"},
            "candidate": [
                {"workflow": "svd_xt@1", "params": {"steps": 20},
                 "grid": {"cfg": [2.0, 2.5], "noise_aug_strength": [0.0, 0.02, 0.05]}},
                {"workflow": "svd_xt@1", "engine": "comfyui"},
            ],
        }
    )  # fmt: skip
    vs = expand_variants(cfg, "local")
    assert len(vs) == 7 and len({v.key for v in vs}) == 7
    assert {(v.params["cfg"], v.params["noise_aug_strength"]) for v in vs[:6]} == {
        (c, n) for c in (2.0, 2.5) for n in (0.0, 0.02, 0.05)
    }
    assert all(v.params["steps"] == 20 and v.engine == "local" for v in vs[:6])
    assert vs[6].key.startswith("svd_xt-v1-") and vs[6].engine == "comfyui" and vs[6].params == {}
    # a camera_only shot rewritten for svd_xt: its defaults, a frame count it allows, our values
    shot = base_manifests(cfg, base, base)[0]
    assert shot["generation"]["workflow"] == "camera_only@1"
    m = parse_manifest(variant_manifest(shot, vs[1]))
    g = m.generation
    assert g.workflow == "svd_xt@1" and g.frames == 25 and g.motion_bucket_id == 127
    assert (g.cfg, g.noise_aug_strength, g.steps) == (2.0, 0.02, 20)
    assert g.seed == shot["generation"]["seed"]
    assert m.id == f"{shot['id']}.{vs[1].key}"


def _result(key: str, gpu_s: float, scores: list[float], passed: list[bool]) -> VariantResult:
    r = VariantResult(Variant(key, key, "camera_only@1", "local", {}), runnable=True)
    r.clips = [
        ClipResult(f"s{i}", f"s{i}.{key}", f"j{i}", "done", gpu_s=gpu_s, qc_score=s, qc_passed=p,
                   stages={"gen": gpu_s, "interp": 0.0, "encode": 0.0})
        for i, (s, p) in enumerate(zip(scores, passed, strict=True))
    ]  # fmt: skip
    return r


def test_a_variant_failing_a_hard_threshold_cannot_win_even_with_a_higher_score(
    base: Path,
) -> None:
    cfg = load_config_text(base, GOOD + "\n[thresholds]\nmin_pass_rate = 0.9\n")
    # "fast" is cheaper and better scored on average, but one of its clips fails the gate
    fast = _result("fast", 10.0, [0.95, 0.95, 0.9, 0.3], [True, True, True, False])
    slow = _result("slow", 40.0, [0.7, 0.7, 0.7, 0.7], [True, True, True, True])
    for r in (fast, slow):
        summarise(r, cfg)
    winner = rank([fast, slow], cfg)
    assert fast.score > slow.score
    assert winner is slow and slow.rank == 1 and fast.rank == 2
    assert not fast.eligible and fast.failures == ["QC pass rate 75% < 90%"]
    # without the failing clip it wins on both quality and cost
    fast.clips[-1].qc_passed = True
    summarise(fast, cfg)
    assert rank([fast, slow], cfg) is fast


def test_cost_and_capacity_thresholds(base: Path) -> None:
    cfg = load_config_text(
        base, GOOD.replace("gpus = 4", "gpus = 1") + "\n[thresholds]\nmax_cost_per_clip = 0.01\n"
    )
    cheap = _result("cheap", 30.0, [0.8], [True])  # 30 s at 1/h = 0.0083; 2880 clips/day
    dear = _result("dear", 60.0, [0.9], [True])  # 0.0167 per clip
    slow = _result("slow", 100.0, [0.9], [True])  # 864 clips/day on 1 GPU < 1000
    for r in (cheap, dear, slow):
        summarise(r, cfg)
    assert cheap.cost_per_clip == pytest.approx(30 / 3600, rel=1e-3)
    assert cheap.cost_per_1000 == pytest.approx(30 / 3.6, rel=1e-3)
    assert cheap.clips_per_day == 2880 and cheap.gpus_for_target == 1
    assert rank([cheap, dear, slow], cfg) is cheap
    assert any("cost per clip" in f for f in dear.failures)
    assert any("864 clips/day" in f for f in slow.failures)
    assert slow.gpus_for_target == 2
    # nobody eligible: no winner at all
    assert rank([dear, slow], cfg) is None


def load_config_text(base: Path, text: str) -> ShootoutConfig:
    p = base / "cfg.toml"
    p.write_text(text)
    return load_config(p)
