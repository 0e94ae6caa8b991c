"""docs/architecture.md's parameter table says what comfy_vidgen/parameters.py declares."""

from __future__ import annotations

import re
from pathlib import Path

from comfy_vidgen.parameters import PARAMETERS

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_the_parameter_table_in_the_docs_matches_the_code() -> None:
    rows = re.findall(
        r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \| [^|]+ \| ([^|]+) \|$", DOC.read_text(), re.M
    )
    assert [name for name, _, _ in rows] == [p.name for p in PARAMETERS]
    for (name, source, feeds), p in zip(rows, PARAMETERS, strict=True):
        assert source.strip() == (f"`{p.source}`" if p.source else "derived"), name
        assert feeds.strip() == ", ".join(f"{n}.{i}" for n, i in p.feeds), name
