"""The labelled set (tests/viability_labelled.py) keeps its verdicts: docs/viability.md lists them."""

from __future__ import annotations

from pathlib import Path

import pytest
from viability_labelled import KNOWN_BORDERLINE, Item, borderline, build, roc_auc

from comfy_vidgen.viability import ViabilityReport, load_profile, video_viability_score

#: must-fail files that pass, and why; docs/viability.md lists them with their metrics
KNOWN_PASSES = {
    "fail_rocket_ev+2.jpg": "+2 EV on a dusk frame is a normal exposure (0.4 % blown)",
}


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, tuple[Item, ViabilityReport]]:
    items = build(tmp_path_factory.mktemp("viability-labelled"))
    profile = load_profile()
    return {p: (it, video_viability_score(p, profile)) for p, it in items.items()}


def _excused(name: str, r: ViabilityReport) -> bool:
    """A wrong verdict the docs name: a known borderline file still inside its band."""
    return name in KNOWN_BORDERLINE and borderline(r.score)


def test_known_borderline_files_are_still_borderline(
    scored: dict[Path, tuple[Item, ViabilityReport]],
) -> None:
    """The list does not go stale: a file that left the band is held to its label again."""
    names = {p.name: r for p, (_, r) in scored.items()}
    assert {
        n: round(names[n].score, 4) for n in KNOWN_BORDERLINE if not borderline(names[n].score)
    } == {}


def test_every_clean_kind_passes(scored: dict[Path, tuple[Item, ViabilityReport]]) -> None:
    kinds = {it.kind for it, _ in scored.values() if it.good}
    assert {"bright sky", "bright sky, 24 MP", "specular highlights", "saturated colours"} <= kinds
    wrong = {
        p.name: r.reasons
        for p, (it, r) in scored.items()
        if it.good and not r.passed and not _excused(p.name, r)
    }
    assert wrong == {}


def test_degradations_fail_except_the_documented_ones(
    scored: dict[Path, tuple[Item, ViabilityReport]],
) -> None:
    passed = {
        p.name
        for p, (it, r) in scored.items()
        if not it.good and r.passed and not _excused(p.name, r)
    }
    assert passed == set(KNOWN_PASSES)
    bad = [r for it, r in scored.values() if not it.good and not r.passed]
    assert all(r.score < 0.5 and r.reasons for r in bad)


def test_roc_auc(scored: dict[Path, tuple[Item, ViabilityReport]]) -> None:
    pos = [r.score for it, r in scored.values() if it.good]
    neg = [r.score for it, r in scored.values() if not it.good]
    assert len(pos) >= 20 and len(neg) >= 40
    assert roc_auc(pos, neg) >= 0.97
