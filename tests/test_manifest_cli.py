"""`vidgen manifest ...` through a real subprocess: output, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import photo

VIDGEN = [sys.executable, "-m", "comfy_vidgen.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VIDGEN, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def made(coffee_jpeg: Path, input_root: Path) -> Path:
    out = input_root / "coffee.json"
    r = run(
        "manifest",
        "new",
        str(coffee_jpeg),
        "--motion",
        "zoom_in",
        "--start",
        "full",
        "--end",
        "0.3,0.3,0.4,0.3375",
        "--workflow",
        "camera_only@1",
        "--seed",
        "11",
        "--input-root",
        str(input_root),
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    return out


def test_new_writes_valid_manifest(made: Path, input_root: Path) -> None:
    data = json.loads(made.read_text())
    assert data["keyframe"]["path"] == "coffee.jpg"
    assert data["generation"] == {"frames": 120, "seed": 11, "workflow": "camera_only@1"}
    r = run("manifest", "validate", str(made), "--input-root", str(input_root))
    assert r.returncode == 0 and r.stdout.startswith("OK"), r.stdout + r.stderr


def test_new_random_seed_is_printed(coffee_jpeg: Path, input_root: Path) -> None:
    r = run(
        "manifest",
        "new",
        str(coffee_jpeg),
        "--motion",
        "static",
        "--end",
        "full",
        "--input-root",
        str(input_root),
    )
    assert r.returncode == 0, r.stderr
    seed = int(r.stderr.split("seed: ")[1].split()[0])
    assert json.loads(r.stdout)["generation"]["seed"] == seed


def test_new_rejects_bad_geometry_without_traceback(coffee_jpeg: Path, input_root: Path) -> None:
    r = run(
        "manifest",
        "new",
        str(coffee_jpeg),
        "--motion",
        "zoom_out",
        "--start",
        "full",
        "--end",
        "0.3,0.3,0.4,0.3375",
        "--seed",
        "1",
        "--input-root",
        str(input_root),
    )
    assert r.returncode == 2  # every field came from a flag: a usage error
    assert "zoom_out needs an end crop larger" in r.stderr and "Traceback" not in r.stderr


def test_new_usage_errors_exit_2(coffee_jpeg: Path, input_root: Path) -> None:
    r = run(
        "manifest",
        "new",
        str(coffee_jpeg),
        "--motion",
        "zoom_in",
        "--end",
        "1,2",
        "--input-root",
        str(input_root),
    )
    assert r.returncode == 2 and "X,Y,W,H" in r.stderr
    r = run("manifest", "new", str(coffee_jpeg), "--end", "full")
    assert r.returncode == 2 and "--motion" in r.stderr
    r = run("manifest", "new", "missing.jpg", "--motion", "static", "--end", "full")
    assert r.returncode == 2


def test_validate_json_reports_every_file(made: Path, input_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    data = json.loads(made.read_text())
    data["output"]["width"] = 1023
    data["nope"] = True
    bad.write_text(json.dumps(data))
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"{\xff")
    r = run(
        "manifest",
        "validate",
        str(made),
        str(bad),
        str(broken),
        "--input-root",
        str(input_root),
        "--json",
    )
    assert r.returncode == 1
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec["path"] for rec in lines] == [str(made), str(bad), str(broken)]
    assert lines[0]["valid"] and len(lines[0]["manifest_hash"]) == 64 and lines[0]["errors"] == []
    assert not lines[1]["valid"] and "manifest_hash" not in lines[1]
    assert {e["loc"] for e in lines[1]["errors"]} == {"output.width", "nope"}
    assert not lines[2]["valid"] and "UTF-8" in lines[2]["errors"][0]["msg"]
    assert "Traceback" not in r.stderr


def test_validate_checks_keyframe_hash(made: Path, input_root: Path) -> None:
    (input_root / "coffee.jpg").write_bytes((input_root / "coffee.jpg").read_bytes() + b"\0")
    r = run("manifest", "validate", str(made), "--input-root", str(input_root), "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["errors"][0]["loc"] == "keyframe.sha256"


def test_hash_matches_library_and_is_whitespace_invariant(made: Path, tmp_path: Path) -> None:
    from comfy_vidgen.manifest import load_manifest, manifest_hash

    r = run("manifest", "hash", str(made))
    assert r.returncode == 0
    assert r.stdout.strip() == manifest_hash(load_manifest(made))
    compact = tmp_path / "compact.json"
    compact.write_text(
        json.dumps(json.loads(made.read_text()), separators=(",", ":"), sort_keys=False)
    )
    assert run("manifest", "hash", str(compact)).stdout == r.stdout


def test_hash_of_invalid_file_exits_1(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text("[]")
    r = run("manifest", "hash", str(p))
    assert r.returncode == 1 and "JSON object" in r.stderr


def test_schema_command_matches_committed_file() -> None:
    r = run("manifest", "schema")
    committed = Path(__file__).parents[1] / "comfy_vidgen" / "schema" / "manifest-1.schema.json"
    assert json.loads(r.stdout) == json.loads(committed.read_text())


def test_help_is_fast_and_torch_free() -> None:
    code = (
        "import sys, time; t=time.perf_counter(); from comfy_vidgen.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'vidgen --help imported torch'\n"
        "assert 'cv2' not in sys.modules, 'vidgen --help imported cv2'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "manifest" in r.stdout


def test_no_command_is_usage_error() -> None:
    assert run().returncode == 2


@pytest.mark.parametrize("size", [(1200, 800), (1600, 900), (900, 1600)])
def test_zoom_end_crop_fits_any_keyframe_aspect(tmp_path: Path, size: tuple[int, int]) -> None:
    """`--end 1.4x@0.5,0.45` (the README's example) works on 3:2, 16:9 and 9:16 photos:
    the full output-aspect crop zoomed in 1.4x, kept inside the image."""
    import cv2
    from PIL import Image

    from comfy_vidgen.manifest import load_manifest

    shoot = tmp_path / "shoot"
    shoot.mkdir()
    Image.fromarray(cv2.resize(photo("coffee"), size)).save(shoot / "k.jpg", quality=92)
    out = tmp_path / "m.json"
    r = subprocess.run(
        [sys.executable, "-m", "comfy_vidgen.cli", "manifest", "new", str(shoot / "k.jpg"),
         "--motion", "zoom_in", "--start", "full", "--end", "1.4x@0.5,0.45", "--seed", "11",
         "--input-root", str(shoot), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    cam = load_manifest(out).camera
    assert cam.end_frame.w == pytest.approx(cam.start_frame.w / 1.4)
    assert cam.end_frame.h == pytest.approx(cam.start_frame.h / 1.4)
    assert 0 <= cam.end_frame.y and cam.end_frame.y + cam.end_frame.h <= 1 + 1e-9
    for bad in ("0.9x@0.5,0.5", "2x@1.5,0.5", "x@0.5,0.5"):
        r = subprocess.run(
            [sys.executable, "-m", "comfy_vidgen.cli", "manifest", "new", str(shoot / "k.jpg"),
             "--motion", "zoom_in", "--end", bad, "--seed", "1", "--input-root", str(shoot)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 2 and "--end" in r.stderr, (bad, r.stderr)
