"""`vidgen interpolate` and the RIFEInterpolate node, end to end on real photos."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import photo
from PIL import Image

from comfy_vidgen.cli import main
from comfy_vidgen.models import load_lock, locate
from comfy_vidgen.nodes.interpolate import RIFEInterpolate


@pytest.fixture(scope="module")
def have_weights() -> None:
    if locate(load_lock().get("rife-4.25")) is None:
        if os.environ.get("CI"):
            pytest.fail("rife-4.25 weights missing in CI")
        pytest.skip("rife-4.25 not fetched (run `vidgen models fetch rife-4.25`)")


def _pan(n: int, w: int = 128, h: int = 96) -> np.ndarray:
    img = photo("coffee")
    return np.stack([img[50 : 50 + h, 100 + 4 * i : 100 + 4 * i + w] for i in range(n)])


def test_cli_png_dir_to_png_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], have_weights: None
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    frames = _pan(3)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(src / f"{i:03d}.png")
    out = tmp_path / "out"
    assert main(["interpolate", str(src), "--frames", "7", "-o", str(out), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert (rec["frames_in"], rec["frames_out"], rec["interpolated"]) == (3, 7, 4)
    files = sorted(out.glob("*.png"))
    assert len(files) == 7
    got = [np.asarray(Image.open(f)) for f in files]
    for j, i in ((0, 0), (3, 1), (6, 2)):  # p = j * 2 / 6: integer at j = 0, 3, 6
        assert np.array_equal(got[j], frames[i])
    assert not np.array_equal(got[1], frames[0])
    # the output directory now exists and is not empty: refused before any work (usage, 2)
    assert main(["interpolate", str(src), "--frames", "7", "-o", str(out)]) == 2


def test_cli_video_output(tmp_path: Path, have_weights: None) -> None:
    av = pytest.importorskip("av")
    pytest.importorskip("comfy_vidgen.encode")
    src = tmp_path / "in"
    src.mkdir()
    for i, f in enumerate(_pan(2)):
        Image.fromarray(f).save(src / f"{i}.png")
    out = tmp_path / "clip.mp4"
    assert main(["interpolate", str(src), "--frames", "5", "--fps", "30", "-o", str(out)]) == 0
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 5


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["interpolate", str(tmp_path), "--frames", "1", "-o", str(tmp_path / "o")]) == 2
    assert "2..20000" in capsys.readouterr().err
    assert main(["interpolate", str(tmp_path), "--frames", "9", "-o", str(tmp_path / "o.gif")]) == 2
    assert main(["interpolate", str(tmp_path), "--frames", "9", "-o", "x", "--dtype", "fp16"]) == 2
    code = main(["interpolate", str(tmp_path / "nope"), "--frames", "9", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code in (1, 2) and "error" in err


def test_node_metadata() -> None:
    spec = RIFEInterpolate.INPUT_TYPES()["required"]
    assert set(spec) == {
        "frames",
        "target_frames",
        "model",
        "dtype",
        "batch_size",
        "scene_cut_guard",
    }
    for name, (_, opts) in spec.items():
        assert opts.get("tooltip"), name
    assert (
        RIFEInterpolate.RETURN_TYPES == ("IMAGE",)
        and RIFEInterpolate.CATEGORY == "vidgen/interpolate"
    )


def test_node_returns_exact_count(have_weights: None) -> None:
    frames = torch.from_numpy(_pan(4)).float() / 255.0
    model = RIFEInterpolate.INPUT_TYPES()["required"]["model"][0][0]
    (out,) = RIFEInterpolate().interpolate(frames, 10, model, "auto", 4, True)
    assert out.shape == (10, 96, 128, 3) and out.dtype == torch.float32
    assert torch.equal(out[0], frames[0]) and torch.equal(out[-1], frames[-1])
    assert torch.equal(out[3], frames[1])  # p = 3 * 3 / 9 = 1


def test_timing_option_cli_and_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], have_weights: None
) -> None:
    """Gated midpoint timing is the default of the CLI and of a new node; midpoint and
    arbitrary stay selectable; bad names refused. A graph that sets no timing (the released @1 graphs,
    from before the option) keeps the arbitrary timing its audits recorded."""
    opt = RIFEInterpolate.INPUT_TYPES()["optional"]["timing"]
    assert opt[0] == ["midpoint_gated", "midpoint", "arbitrary"]
    assert opt[1]["default"] == "midpoint_gated"
    assert opt[1]["tooltip"]
    src = tmp_path / "in"
    src.mkdir()
    frames = _pan(3)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(src / f"{i:03d}.png")
    recs = {}
    for timing in (None, "midpoint", "arbitrary"):
        out = tmp_path / f"out-{timing}"
        extra = ["--timing", timing] if timing else []
        assert (
            main(["interpolate", str(src), "--frames", "9", "-o", str(out), "--json", *extra]) == 0
        )
        recs[timing] = json.loads(capsys.readouterr().out)
    assert (recs[None]["timing"], recs[None]["network_passes"]) == ("midpoint_gated", 2)
    assert (recs["midpoint"]["timing"], recs["midpoint"]["network_passes"]) == ("midpoint", 2)
    assert (recs["arbitrary"]["timing"], recs["arbitrary"]["network_passes"]) == ("arbitrary", 6)
    bad = ["interpolate", str(src), "--frames", "9", "-o", str(tmp_path / "o"), "--timing", "x"]
    assert main(bad) == 2 and "midpoint_gated, midpoint, arbitrary" in capsys.readouterr().err
    t = torch.from_numpy(frames).float() / 255.0
    model = RIFEInterpolate.INPUT_TYPES()["required"]["model"][0][0]
    (gated,) = RIFEInterpolate().interpolate(t, 9, model, "auto", 4, True, "midpoint_gated")
    (mid,) = RIFEInterpolate().interpolate(t, 9, model, "auto", 4, True, "midpoint")
    (arb,) = RIFEInterpolate().interpolate(t, 9, model, "auto", 4, True, "arbitrary")
    (unset,) = RIFEInterpolate().interpolate(t, 9, model, "auto", 4, True)
    assert torch.equal(mid[4], t[1]) and torch.equal(arb[4], t[1])
    assert torch.equal(gated[4], t[1])
    assert not torch.equal(mid[1], arb[1])  # different methods, same schedule
    assert not torch.equal(gated[1], mid[1])
    assert torch.equal(unset, arb)
