"""Issue 17: nothing lost, nothing twice, no traceback (unit level; the CLI sweep is
tests/test_hostile_cli.py)."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
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
