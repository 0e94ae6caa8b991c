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
