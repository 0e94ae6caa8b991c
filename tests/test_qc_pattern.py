"""Regular-pattern check (ITU-R BT.1702, Ofcom GN1) and the shared flash/pattern vector set.

The vectors, their expected verdicts and IRIS's are defined once, in
``benchmarks/flash_vectors.py`` (which also writes them as files for IRIS).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from comfy_vidgen.qc import analyze_frames, gate, run_qc
from comfy_vidgen.qc import pattern as pt


def _vectors() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "flash_vectors.py"
    spec = importlib.util.spec_from_file_location("flash_vectors", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["flash_vectors"] = mod
    spec.loader.exec_module(mod)
    return mod


fv = _vectors()


@pytest.mark.parametrize("v", fv.VECTORS, ids=[v.name for v in fv.VECTORS])
def test_vector_verdicts(v: object) -> None:
    """Flash rules, pattern check and extended warning on every vector, below and above
    each threshold (area 20/30% changing, 30/50% stationary, 5/6 pairs, contrast, dark bars,
    drifting one way vs oscillating / reversing / flashing), for stripes, checkerboards and
    dot grids."""
    want = {"flash_pass": v.flash_pass, "pattern_pass": v.pattern_pass, "extended": v.extended}  # type: ignore[attr-defined]
    assert fv.measure(v) == want


def metrics_of(frames: object) -> dict:  # type: ignore[type-arg]
    return analyze_frames(frames, fv.FPS).metrics()  # type: ignore[arg-type]


def test_pattern_report_names_the_pattern_in_output_pixels() -> None:
    """A 1024x576 clip is analysed at 512 px: periods and boxes come back in output px."""
    m = metrics_of(fv.stripes(n=20, size=(1024, 576), period=16.0, angle=30.0))["pattern"]
    assert not m["passed"]
    w = m["worst_pattern"]
    assert w["motion"] == "stationary"
    assert w["period_px"] == pytest.approx(16.0, rel=0.15)  # to a frequency bin
    assert w["orientation_deg"] == pytest.approx(30.0, abs=5.0)
    assert w["pairs"] > 30 and w["area"] > 0.9
    assert w["box"]["w"] > 900 and w["box"]["h"] > 500
    assert m["max_stationary_area"] > 0.9 and m["max_changing_area"] == 0.0
    assert m["worst_window"]["start_frame"] == 0


def test_motion_classes() -> None:
    """Drifting one way is flowing (exempt); reversing and oscillating are changing."""
    drift = metrics_of(fv.stripes(n=30, motion="drift", speed=0.5))["pattern"]
    assert drift["passed"] and drift["max_flowing_area"] > 0.9
    rev = metrics_of(fv.stripes(n=30, width=0.3, motion="reverse"))["pattern"]
    assert rev["worst_pattern"]["motion"] == "changing"
    assert rev["max_changing_area"] == pytest.approx(0.3, abs=0.03)
    osc = metrics_of(fv.stripes(n=45, period=16, motion="oscillate", hz=1.0))["pattern"]
    assert osc["worst_pattern"]["motion"] == "changing"


def test_bar_count_on_a_profile() -> None:
    """Light bars are counted with hysteresis: noise under a third of the range is ignored."""
    x = np.arange(200, dtype=np.float64)
    prof = (np.sin(2 * np.pi * x / 20) > 0).astype(np.float64)  # 10 bars
    prof += 0.05 * np.sin(2 * np.pi * x / 3)
    n, first, last = pt._count_bars(prof)
    assert n == 10
    assert first == pytest.approx(5, abs=5) and last == pytest.approx(185, abs=5)
    assert pt._count_bars(np.zeros(50))[0] == 0


def test_default_gate_rejects_a_harmful_pattern() -> None:
    m = metrics_of(fv.stripes(n=20))
    reasons = gate(m).reasons
    assert any(r.startswith("pattern.passed = False") for r in reasons), reasons
    ok = metrics_of(fv.stripes(n=20, width=0.3))
    assert not any(r.startswith("pattern.") for r in gate(ok).reasons)


def test_written_vector_file_is_judged_like_the_frames(tmp_path: Path) -> None:
    """The FFV1 RGB file the script writes for IRIS decodes to the same verdict."""
    v = next(x for x in fv.VECTORS if x.name == "stripes_reverse_30")
    path = fv.write(v, tmp_path)
    rep = run_qc(path)
    assert rep.metrics["pattern"]["passed"] is False
    assert rep.metrics["flash"]["passed"] is True
    assert any(r.startswith("pattern.passed = False") for r in rep.reasons)


def test_a_pattern_that_appears_after_idle_frames_is_caught_in_time() -> None:
    """Idle footage is measured every IDLE_STEP-th frame; stripes appearing at frame 45
    fail half a second (15 frames) later, within the idle step."""
    plain = (np.full((288, 512, 3), 128, np.uint8) for _ in range(45))
    frames = [*plain, *fv.stripes(n=45)]
    m = metrics_of(iter(frames))["pattern"]
    assert not m["passed"]
    end = m["worst_window"]["end_frame"]
    assert 45 + 15 - 1 <= end <= 45 + 15 - 1 + pt.IDLE_STEP
    assert m["fail_frames"] == 90 - end


@pytest.mark.parametrize(
    ("kind", "period", "angle"),
    [("checker", 8.0, 45.0), ("dots", 8.0, 0.0), ("dots", 6.0, 0.0)],
)
def test_lattice_is_reported_by_its_rows(kind: str, period: float, angle: float) -> None:
    """A checkerboard's rows of squares run diagonally (fundamental period 8 / sqrt 2 for
    4-px squares); a dot grid's rows run along x and y (the period of the grid)."""
    m = metrics_of(fv.lattice(kind, n=20, size=(1024, 576), period=2 * period))["pattern"]
    assert not m["passed"]
    w = m["worst_pattern"]
    want = 2 * period / (2**0.5 if kind == "checker" else 1.0)
    assert w["period_px"] == pytest.approx(want, rel=0.15)
    assert min(abs(w["orientation_deg"] - angle), 180 - abs(w["orientation_deg"] - angle)) < 8
    assert w["area"] > 0.85 and w["motion"] == "stationary"


def test_lattice_pairs_are_counted_in_any_orientation() -> None:
    """Five columns of dots, 18 rows: the rows are 18 light-dark pairs (Ofcom counts stripes
    formed by rows of repeated elements, more than five pairs in any orientation), whereas
    five columns of stripes are 5."""
    dots = metrics_of(fv.lattice("dots", n=10, period=16, cols=5))["pattern"]
    bars = metrics_of(fv.stripes(n=10, period=16, pairs=5, x0=32))["pattern"]
    assert dots["max_pairs"] >= 15
    assert bars["max_pairs"] == 5


def test_smooth_texture_is_not_a_lattice() -> None:
    """Blocks of a real photograph (smooth low-frequency spectra) are not taken for a
    lattice: its fundamentals must be isolated spectral peaks."""
    from conftest import photo

    from comfy_vidgen.qc import flash as fl

    a = pt.PatternAnalyzer(512, 288, fv.FPS, pt.PatternRule())
    lattices = 0
    for name in ("astronaut", "coffee", "chelsea"):
        import cv2

        img = cv2.resize(photo(name), (512, 288), interpolation=cv2.INTER_AREA)
        lum = pt.luminance(fl.linear_area(img, (512, 288)))
        for lv in a.levels:
            present, _, _, freq = a._measure(lum, lv)
            lattices += int((present & (freq[:, 2:] != 0).any(axis=1)).sum())
    checker = next(fv.lattice("checker", n=1))
    lum = pt.luminance(fl.linear_area(checker, (512, 288)))
    present, _, _, freq = a._measure(lum, a.levels[0])
    assert present.all() and (freq[:, 2:] != 0).any(axis=1).all()
    assert lattices == 0
