"""`vidgen viability` end to end on a folder of good, bad and broken real files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import photo
from PIL import Image

from comfy_vidgen.cli import main


@pytest.fixture(scope="module")
def shoot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("shoot")
    good = cv2.resize(photo("coffee"), (1024, 683), interpolation=cv2.INTER_LANCZOS4)
    Image.fromarray(good).save(d / "good.jpg", quality=95)
    Image.fromarray(cv2.GaussianBlur(good, (0, 0), 5)).save(d / "blurry.jpg", quality=95)
    (d / "empty.jpg").write_bytes(b"")
    data = (d / "good.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 4])
    (d / "fake.png").write_text("not an image")
    return d


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "comfy_vidgen.cli", "viability", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_mixed_folder_json_lines_and_exit_1(shoot: Path) -> None:
    before = sorted(p.name for p in shoot.iterdir())
    r = _run(str(shoot), "--json", "--workers", "2")
    assert r.returncode == 1, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    by = {Path(x["path"]).name: x for x in recs}
    assert set(by) == {"good.jpg", "blurry.jpg", "empty.jpg", "truncated.jpg", "fake.png"}
    for x in recs:
        assert set(x) == {"path", "score", "passed", "reasons", "metrics"}
    assert by["good.jpg"]["passed"] and by["good.jpg"]["reasons"] == []
    assert by["blurry.jpg"]["reasons"][0].startswith("too blurry")
    for name in ("empty.jpg", "truncated.jpg", "fake.png"):
        assert by[name]["score"] == 0 and not by[name]["passed"] and by[name]["reasons"]
    assert sorted(p.name for p in shoot.iterdir()) == before  # nothing moved or deleted


def test_table_csv_report_and_exit_0(
    shoot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.csv"
    assert main(["viability", str(shoot / "good.jpg"), "--report", str(out), "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("PASS") and "1/1 passed" in text
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["passed"] == "True" and float(rows[0]["sharpness"]) > 10


def test_min_score_override(shoot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["viability", str(shoot / "good.jpg"), "--min-score", "1", "--workers", "1"]) == 1
    assert "REJECT" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--workers", "0"], "--workers must be >= 1"),
        (["--min-score", "1.5"], "--min-score must be in 0..1"),
        (["--profile", "/nonexistent.toml"], "no such file"),
    ],
)
def test_usage_errors_exit_2(shoot: Path, args: list[str], msg: str) -> None:
    r = _run(str(shoot / "good.jpg"), *args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


def test_missing_path_and_empty_folder_exit_2(tmp_path: Path) -> None:
    r = _run(str(tmp_path / "nope"))
    assert r.returncode == 2 and "no such file or folder" in r.stderr
    r = _run(str(tmp_path))
    assert r.returncode == 2 and "no image files found" in r.stderr


def test_help_has_an_example() -> None:
    r = _run("--help")
    assert r.returncode == 0 and "Example:" in r.stdout and "--workers" in r.stdout


def test_noise_profile_file_changes_verdict(shoot: Path, tmp_path: Path) -> None:
    prof = tmp_path / "p.toml"
    prof.write_text("[checks.sharpness]\nfail = 90.0\ngood = 95.0\n")
    r = _run(str(shoot / "good.jpg"), "--profile", str(prof), "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["reasons"][0].startswith("too blurry")
    assert np.isfinite(json.loads(r.stdout)["score"])
