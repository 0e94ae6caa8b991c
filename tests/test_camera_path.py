"""Camera path geometry: easing, endpoints, fixed zoom anchor, linear pans, crops inside."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfy_vidgen.camera import CameraError, CameraPath, ease, frame_times
from comfy_vidgen.manifest import EASINGS

SIZE = (1200, 800)


def _path(motion: str, start, end, easing: str = "linear", size=SIZE) -> CameraPath:
    return CameraPath.from_values(motion, start, end, easing, size)


@pytest.mark.parametrize("name", EASINGS)
def test_easing_monotone_and_hits_endpoints(name: str) -> None:
    t = np.linspace(0.0, 1.0, 1001)
    e = ease(name, t)
    assert e[0] == 0.0 and e[-1] == 1.0
    assert np.all(np.diff(e) >= 0)
    assert np.all((e >= 0) & (e <= 1))


def test_easing_shapes_differ_where_they_should() -> None:
    t = np.array([0.25])
    assert ease("ease_in", t)[0] < 0.25 < ease("ease_out", t)[0]
    assert ease("ease_in_out", t)[0] < 0.25
    assert ease("ease_in_out", np.array([0.5]))[0] == pytest.approx(0.5)


def test_unknown_easing_is_refused() -> None:
    with pytest.raises(CameraError, match="easing must be one of"):
        ease("bounce", 0.5)


def test_rects_start_and_end_exactly() -> None:
    p = _path("zoom_in", (0.0, 0.0, 1.0, 1.0), (0.5, 0.25, 0.25, 0.25), "ease_in_out")
    r = p.rects(7)
    assert r.shape == (7, 4) and r.dtype == np.float64
    np.testing.assert_allclose(r[0], [0, 0, 1200, 800], atol=1e-9)
    np.testing.assert_allclose(r[-1], [600, 200, 300, 200], atol=1e-9)
    assert frame_times(1).tolist() == [0.0]
    assert p.rects(1).tolist() == [[0.0, 0.0, 1200.0, 800.0]]


def test_zoom_scales_geometrically_and_keeps_the_anchor_fixed() -> None:
    p = _path("zoom_in", (0.0, 0.0, 1.0, 1.0), (0.6, 0.1, 0.25, 0.25))
    r = p.rects(11)
    # constant ratio between consecutive widths: constant perceived zoom speed
    ratios = r[1:, 2] / r[:-1, 2]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)
    ax, ay = p.anchor() or (np.nan, np.nan)
    # the anchor sits at the same relative place of every crop (fixed on screen and in the image)
    rel_x = (ax - r[:, 0]) / r[:, 2]
    rel_y = (ay - r[:, 1]) / r[:, 3]
    np.testing.assert_allclose(rel_x, rel_x[0], atol=1e-12)
    np.testing.assert_allclose(rel_y, rel_y[0], atol=1e-12)
    assert 0 < rel_x[0] < 1 and 0 < rel_y[0] < 1


def test_pan_moves_centre_linearly_in_eased_time() -> None:
    p = _path("pan_right", (0.0, 0.2, 0.5, 0.5), (0.5, 0.2, 0.5, 0.5), "ease_in")
    n = 9
    r = p.rects(n)
    e = ease("ease_in", frame_times(n))
    cx = r[:, 0] + r[:, 2] / 2
    np.testing.assert_allclose(cx, 300 + 600 * e, atol=1e-9)
    np.testing.assert_allclose(r[:, 2], 600, atol=1e-9)
    assert p.anchor() is None


def test_nearly_equal_sizes_stay_exact() -> None:
    # within the manifest's 1% size tolerance for pans: no catastrophic cancellation
    p = _path("pan_left", (0.5, 0.2, 0.5, 0.5), (0.0, 0.2, 0.50000001, 0.50000001))
    r = p.rects(5)
    assert np.all(np.isfinite(r))
    assert np.all(np.diff(r[:, 0]) < 0)


def test_from_manifest_uses_keyframe_size(coffee_jpeg, input_root) -> None:
    from comfy_vidgen.manifest import build_manifest

    m = build_manifest(
        keyframe=coffee_jpeg,
        input_root=input_root,
        motion_type="zoom_in",
        start={"x": 0.0, "y": 0.078125, "w": 1.0, "h": 0.84375},
        end={"x": 0.25, "y": 0.25, "w": 0.5, "h": 0.421875},
        workflow="camera_only@1",
        seed=1,
    )
    p = CameraPath.from_manifest(m)
    assert p.image_size == (600, 400)
    np.testing.assert_allclose(p.rects(2)[1], [150, 100, 300, 168.75])


def test_invalid_paths_name_the_problem() -> None:
    with pytest.raises(CameraError, match="zoom_in needs an end crop smaller"):
        _path("zoom_in", (0.25, 0.25, 0.5, 0.5), (0.0, 0.0, 1.0, 1.0))
    with pytest.raises(CameraError, match="start_frame"):
        _path("custom", (0.8, 0.0, 0.5, 0.5), (0.0, 0.0, 0.5, 0.5))
    with pytest.raises(CameraError, match="frame count must be >= 1"):
        _path("static", (0, 0, 1, 1), (0, 0, 1, 1)).rects(0)


crops = st.tuples(st.floats(0.05, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0)).map(
    lambda v: (v[1] * (1 - v[0]), v[2] * (1 - v[0]), v[0], v[0])
)


@settings(max_examples=200, deadline=None)
@given(start=crops, end=crops, easing=st.sampled_from(EASINGS), n=st.integers(2, 40))
def test_custom_paths_stay_inside_the_image(start, end, easing, n) -> None:
    p = _path("custom", start, end, easing, size=(1000, 1000))
    r = p.rects(n)
    assert np.all(r[:, :2] >= -1e-9)
    assert np.all(r[:, 0] + r[:, 2] <= 1000 + 1e-6)
    assert np.all(r[:, 1] + r[:, 3] <= 1000 + 1e-6)
    np.testing.assert_allclose(r[0], np.array(start) * 1000, atol=1e-6)
    np.testing.assert_allclose(r[-1], np.array(end) * 1000, atol=1e-6)
