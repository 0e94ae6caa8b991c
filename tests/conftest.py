"""Shared fixtures: real photographs (scikit-image's bundled ones), written as real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]


class _CheckoutRootIsNotATestPackage:
    """The checkout root is a ComfyUI custom node: its ``__init__.py`` is the entry
    ComfyUI loads as ``custom_nodes.<folder>``. pytest would collect the root as a
    Package and import that file on its own, where the relative import has no parent
    package whenever the folder name is not an identifier (``comfy-vidgen``, a path
    with spaces). Registered as a plugin (not a conftest hook) because pytest asks the
    hooks of the root's *parent* folder how to collect the root."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collect_directory(
        self, path: Path, parent: pytest.Collector
    ) -> pytest.Collector | None:
        if path.resolve() == REPO:
            return pytest.Dir.from_parent(parent, path=path)
        return None


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_CheckoutRootIsNotATestPackage(), "vidgen-checkout-root")


#: test files whose tests drive a real browser (headless Chromium through playwright-core)
BROWSER_TESTS = ("test_editor_browser.py", "test_preview_browser.py")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly, at the end of the run, which browser tests did not run and why.

    A skip among hundreds of passes is easy to miss, and these are the only tests of the
    web editor and of the workflows in a real front end. ``VIDGEN_REQUIRE_BROWSER=1``
    (``.ci/run``) turns a missing browser into a failure instead.
    """
    skipped = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if any(name in r.nodeid for name in BROWSER_TESTS)
    ]
    if not skipped:
        return
    reasons: dict[str, list[str]] = {}
    for r in skipped:
        longrepr = r.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons.setdefault(reason.removeprefix("Skipped: "), []).append(r.nodeid.split("::")[-1])
    tr = terminalreporter
    tr.write_sep("!", f"{len(skipped)} BROWSER TESTS SKIPPED", red=True, bold=True)
    for reason, ids in reasons.items():
        tr.write_line(f"  {len(ids)} skipped: {reason}", red=True, bold=True)
        tr.write_line(f"      {', '.join(ids)}")
    tr.write_line(
        "  what these cover (the web editor; the workflows, editor and templates in a real "
        "front end) was NOT tested in this run; docs/editor.md (Tests) says what they need. "
        "VIDGEN_REQUIRE_BROWSER=1 makes a missing browser fail.",
        red=True,
    )


# Real photographs shipped inside scikit-image (no download): name -> loader name.
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")


def photo(name: str) -> NDArray[np.uint8]:
    """An RGB uint8 photograph from scikit-image's bundled data."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


@pytest.fixture
def input_root(tmp_path: Path) -> Path:
    root = tmp_path / "input"
    root.mkdir()
    return root


@pytest.fixture
def coffee_jpeg(input_root: Path) -> Path:
    """A real 600x400 photo saved as a camera-like JPEG under the input root."""
    from PIL import Image

    path = input_root / "coffee.jpg"
    Image.fromarray(photo("coffee")).save(path, quality=92)
    return path
