"""pytest: the checkout root is a ComfyUI custom node, not a test package.

The root ``__init__.py`` is ComfyUI's entry point (loaded as ``custom_nodes.<folder>``).
pytest would otherwise collect the root as a Package and import that file on its own,
where its relative import has no parent package whenever the folder name is not a
Python identifier (``comfy-vidgen``, ``ComfyUI-vidgen``, a path with spaces).
"""

from __future__ import annotations

from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parent


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if path.resolve() == _ROOT:
        return pytest.Dir.from_parent(parent, path=path)
    return None
