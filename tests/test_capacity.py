"""`vidgen capacity`: clips per day per topology, bottleneck, target, exact JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfy_vidgen.capacity import StageSeconds, plan, split, symmetric
from comfy_vidgen.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    rc = main(["capacity", *args, "--json"])
    return rc, json.loads(capsys.readouterr().out)


def test_json_shape_and_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(
        capsys, "--gen-seconds", "60", "--interp-seconds", "20", "--encode-seconds", "10",
        "--gpus", "4",
    )  # fmt: skip
    assert rc == 0
    assert set(out) == {"target", "topologies"}
    assert out["target"] == 1000
    assert set(out["topologies"]) == {"symmetric", "split"}
    for topo in out["topologies"].values():
        assert set(topo) == {"clips_per_day", "bottleneck"}
    # symmetric: 4 GPUs x 86400 s / 90 s per clip
    assert out["topologies"]["symmetric"] == {"clips_per_day": 3840, "bottleneck": "generation"}
    # split: 2 generate (2/60 clips/s) + 2 interpolate+encode (2/30): generation-bound;
    # 3 + 1 ties (1/30 either way) and the fewer generation GPUs win the tie
    assert out["topologies"]["split"] == {"clips_per_day": 2880, "bottleneck": "generation"}
    rc, out = run(
        capsys, "--gen-seconds", "10", "--interp-seconds", "20", "--encode-seconds", "10",
        "--gpus", "4",
    )  # fmt: skip
    # 1 + 3: 1/10 vs 3/30 per s: tie at 8640; post-processing dominates symmetric
    assert out["topologies"]["split"]["clips_per_day"] == 8640
    assert out["topologies"]["symmetric"] == {
        "clips_per_day": 8640,
        "bottleneck": "interpolation",
    }


def test_target_sets_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--gen-seconds", "120", "--interp-seconds", "10", "--encode-seconds", "5"]
    rc, out = run(capsys, *base, "--gpus", "1", "--target", "1000")
    assert rc == 1 and out["topologies"]["symmetric"]["clips_per_day"] == 640
    assert out["topologies"]["split"] == {
        "clips_per_day": 0,
        "bottleneck": "split needs at least 2 GPUs",
    }
    rc, _ = run(capsys, *base, "--gpus", "2", "--target", "1000")
    assert rc == 0  # 2 x 640 = 1280 symmetric
    rc, _ = run(capsys, *base, "--gpus", "2", "--target", "1000", "--topology", "split")
    assert rc == 1  # split: 1 gen GPU = 720/day


def test_split_wins_when_post_processing_is_heavy() -> None:
    t = StageSeconds(gen=30, interp=30, encode=0)
    assert symmetric(t, 2).clips_per_day == 2880
    assert split(t, 2).clips_per_day == 2880
    t = StageSeconds(gen=40, interp=9, encode=1)
    s = split(t, 5)
    assert (s.gen_gpus, s.post_gpus) == (4, 1)
    assert s.clips_per_day == 8640 and s.bottleneck == "generation"
    assert symmetric(t, 5).clips_per_day == 8640


def test_measurements_file_and_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "measurements.json"
    f.write_text(json.dumps({"gen_seconds": 86.4, "interp_seconds": 0, "encode_seconds": 0}))
    rc, out = run(capsys, "--from", str(f), "--gpus", "1")
    assert rc == 0 and out["topologies"]["symmetric"]["clips_per_day"] == 1000
    rc, out = run(capsys, "--from", str(f), "--gen-seconds", "172.8", "--gpus", "1")
    assert rc == 1 and out["topologies"]["symmetric"]["clips_per_day"] == 500


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpus", "2"], "missing --gen-seconds, --interp-seconds, --encode-seconds"),
        (["--gen-seconds", "-1", "--interp-seconds", "1", "--encode-seconds", "1", "--gpus", "1"],
         "--gen-seconds must be a finite number >= 0"),
        (["--gen-seconds", "1", "--interp-seconds", "1", "--encode-seconds", "1", "--gpus", "0"],
         "--gpus must be >= 1"),
        (["--from", "/nonexistent/m.json", "--gpus", "1"], "no such measurements file"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["capacity", *args]) == 2
    assert message in capsys.readouterr().err


def test_plan_rejects_bad_target() -> None:
    from comfy_vidgen.errors import UsageError

    with pytest.raises(UsageError, match="--target"):
        plan(StageSeconds(1, 1, 1), 1, target=0)


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--gen-seconds", "95", "--interp-seconds", "6", "--encode-seconds", "2", "--gpus", "8"]
    assert main(["capacity", *args]) == 0
    out = capsys.readouterr().out
    assert "symmetric" in out and "split" in out and "7 gen + 1 RIFE/encode" in out


def test_the_budget_of_1000_clips_a_day_on_two_gpus_is_172_8_s() -> None:
    from comfy_vidgen.capacity import budget_seconds

    assert budget_seconds(2, 1000) == pytest.approx(172.8)
    # a clip that takes exactly the budget on each of 2 GPUs meets 1000/day, not more
    assert symmetric(StageSeconds(gen=172.8, interp=0, encode=0), 2).clips_per_day == 1000


def test_every_generation_workflow_has_a_published_time_with_its_source() -> None:
    from comfy_vidgen.capacity import PUBLISHED
    from comfy_vidgen.workflow_specs import all_specs

    generation = {ref.split("@")[0] for ref in all_specs()} - {"camera_only"}
    assert set(PUBLISHED) == generation
    for t in PUBLISHED.values():
        assert t.seconds > 0 and t.gpu and t.setting and t.source, t
    assert PUBLISHED["wan22_i2v_a14b_4step"].seconds == 71.0


def test_workflow_takes_the_published_generation_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from comfy_vidgen.capacity import PUBLISHED

    args = ("--interp-seconds", "6", "--encode-seconds", "2", "--gpus", "2")
    rc, out = run(capsys, "--workflow", "wan22_i2v_a14b_4step@1", *args)
    per_clip = PUBLISHED["wan22_i2v_a14b_4step"].seconds + 8
    assert rc == 0 and out["topologies"]["symmetric"]["clips_per_day"] == int(2 * 86400 / per_clip)
    rc, out = run(capsys, "--workflow", "wan22_ti2v_5b", *args)  # 540 s: misses 1000/day
    assert rc == 1 and out["topologies"]["symmetric"]["clips_per_day"] < 1000
    # an explicit --gen-seconds wins over the published figure
    rc, out = run(capsys, "--workflow", "wan22_ti2v_5b", "--gen-seconds", "80", *args)
    assert rc == 0
    assert main(["capacity", "--workflow", "wan22_ti2v_5b", *args]) == 1
    text = capsys.readouterr().out
    assert "published for wan22_ti2v_5b: 540 s" in text and "budget: 172.8 GPU s" in text
