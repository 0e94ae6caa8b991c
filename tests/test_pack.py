"""The repository as ComfyUI loads it: a custom_nodes folder with a root __init__.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_as_comfyui_does(name: str = "comfy_vidgen_pack") -> object:
    """ComfyUI imports a custom-node folder as a package from its __init__.py."""
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def test_pack_imports_without_comfyui() -> None:
    assert "comfy" not in sys.modules
    pack = load_as_comfyui_does()
    mappings = pack.NODE_CLASS_MAPPINGS  # type: ignore[attr-defined]
    assert "ManifestLoader" in mappings
    assert set(pack.NODE_DISPLAY_NAME_MAPPINGS) == set(mappings)  # type: ignore[attr-defined]
    web = ROOT / pack.WEB_DIRECTORY  # type: ignore[attr-defined]
    assert web.is_dir()


def _nodes() -> dict[str, type]:
    from comfy_vidgen.nodes import NODE_CLASS_MAPPINGS

    return NODE_CLASS_MAPPINGS


@pytest.mark.parametrize("node_id", sorted(_nodes()))
def test_node_metadata_is_complete(node_id: str) -> None:
    cls = _nodes()[node_id]
    assert cls.CATEGORY.startswith("vidgen/")
    assert isinstance(cls.DESCRIPTION, str) and len(cls.DESCRIPTION) > 20
    assert callable(getattr(cls, cls.FUNCTION))
    assert len(cls.RETURN_TYPES) == len(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES))
    spec = cls.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, decl in spec.get(section, {}).items():
            opts = decl[1] if len(decl) > 1 else {}
            assert opts.get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_pack_works_when_comfy_vidgen_is_not_installed(tmp_path: Path) -> None:
    """Inside ComfyUI the package is `custom_nodes.<folder>.comfy_vidgen`: nothing may
    import it by its top-level name (e.g. importlib.resources.files("comfy_vidgen"))."""
    import subprocess

    script = f"""
import importlib.util, json, sys
sys.modules["comfy_vidgen"] = None  # not installed: any absolute import fails
spec = importlib.util.spec_from_file_location(
    "pack", {str(ROOT / "__init__.py")!r}, submodule_search_locations=[{str(ROOT)!r}])
pack = importlib.util.module_from_spec(spec)
sys.modules["pack"] = pack
spec.loader.exec_module(pack)
for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
    cls.INPUT_TYPES()
from pack.comfy_vidgen.workflow_specs import all_specs
assert "camera_only@1" in all_specs()
print(len(pack.NODE_CLASS_MAPPINGS))
"""
    r = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert int(r.stdout.strip()) >= 6
