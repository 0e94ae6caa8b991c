"""Issue 17: nothing lost, nothing twice, no traceback (unit level; the CLI sweep is
tests/test_hostile_cli.py)."""

from __future__ import annotations

import json
import re
from typing import Any

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
