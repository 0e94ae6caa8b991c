"""The ViabilityScore node without ComfyUI: metadata and the same result as the core."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import photo

from comfy_vidgen.nodes import NODE_CLASS_MAPPINGS
from comfy_vidgen.nodes.viability import ViabilityScore
from comfy_vidgen.viability import ProfileError, video_viability_score


def test_registered_with_complete_metadata() -> None:
    assert NODE_CLASS_MAPPINGS["ViabilityScore"] is ViabilityScore
    spec = ViabilityScore.INPUT_TYPES()
    for group in spec.values():
        for _name, (_typ, opts) in group.items():
            assert opts.get("tooltip")
    assert spec["required"]["profile"][0][0] == "default"
    assert ViabilityScore.RETURN_TYPES == ("FLOAT", "BOOLEAN", "STRING")
    assert ViabilityScore.RETURN_NAMES == ("score", "passed", "report")
    assert ViabilityScore.CATEGORY == "vidgen/viability" and ViabilityScore.DESCRIPTION


def test_node_matches_core_function() -> None:
    good = cv2.resize(photo("coffee"), (1024, 683), interpolation=cv2.INTER_LANCZOS4)
    bad = cv2.GaussianBlur(good, (0, 0), 5)
    t = torch.from_numpy(np.stack([good, bad]).astype(np.float32) / 255.0)
    score, passed, report = ViabilityScore().score(t[:1], "default")
    ref = video_viability_score(good)
    assert score == pytest.approx(ref.score) and passed is True
    assert json.loads(report)["metrics"]["sharpness"] == pytest.approx(
        ref.metrics["sharpness"], abs=1e-3
    )
    score2, passed2, report2 = ViabilityScore().score(t, "default")
    assert passed2 is False and score2 < 0.5
    reps = json.loads(report2)
    assert len(reps) == 2 and reps[1]["reasons"][0].startswith("too blurry")


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(ProfileError, match="unknown viability profile"):
        ViabilityScore().score(torch.zeros(1, 64, 64, 3), "nope")
