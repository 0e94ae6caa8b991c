"""Blown highlights mean lost detail (issue 20, part 1), on real photographs."""

from __future__ import annotations

import numpy as np
from viability_labelled import bikes_frame, ev, resize_width, skimage_photo

from comfy_vidgen.viability import video_viability_score


def test_saturated_colours_are_not_blown() -> None:
    """Motorcycle paint pushed until a channel clips on 8 % of the frame: not blown, passes."""
    im = resize_width(skimage_photo("motorcycle_left"), 1024).astype(np.float64)
    grey = im.mean(axis=2, keepdims=True)
    sat = np.clip(grey + (im - grey) * 2.2, 0, 255).astype(np.uint8)
    assert (sat.max(axis=2) >= 250).mean() > 0.05  # the old rule's "clipped" pixels
    r = video_viability_score(sat)
    assert r.metrics["highlight_clip"] == 0.0 and r.metrics["highlight_region"] == 0.0
    assert r.metrics["saturated_channels"] > 0.05  # still reported, softer
    assert r.passed, r.reasons


def test_glints_and_lamps_are_not_blown() -> None:
    """Specular glints on the coffee spoon and the rocket's lamps are below the region size."""
    for name in ("coffee", "rocket"):
        im = resize_width(skimage_photo(name), 1024)
        assert (im.min(axis=2) >= 250).any()  # some pixels are clipped in all channels
        r = video_viability_score(im)
        assert r.metrics["highlight_clip"] == 0.0, (name, r.metrics)


def test_bright_sky_with_some_clipping_passes_and_more_exposure_fails() -> None:
    """A street under a bright sky: blown area grows with exposure, the score falls strictly.

    At +0.75 EV about 2 % of the frame is clipped in all channels (more than the
    issue's 1.3 % landscape) and it still passes; at +1.5 EV it is rejected.
    """
    im = resize_width(bikes_frame(160), 1024)
    reps = [video_viability_score(ev(im, e) if e else im) for e in (0.0, 0.75, 1.0, 1.5)]
    blown = [r.metrics["highlight_clip"] for r in reps]
    scores = [r.score for r in reps]
    assert all(a < b for a, b in zip(blown, blown[1:], strict=False)), blown
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert 0.013 <= blown[1] < 0.03 and reps[1].passed, reps[1].reasons
    assert not reps[3].passed and reps[3].reasons[0].startswith("blown highlights")
    assert reps[3].metrics["highlight_region"] <= reps[3].metrics["highlight_clip"]
