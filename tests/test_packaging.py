"""Install paths: requirements.txt for ComfyUI, registry metadata, the one ComfyUI pin."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _gen() -> object:
    spec = importlib.util.spec_from_file_location(
        "gen_requirements", ROOT / "tools" / "gen_requirements.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_requirements_txt_is_current() -> None:
    expected = _gen().render()  # type: ignore[attr-defined]
    assert (ROOT / "requirements.txt").read_text() == expected, (
        "run: python tools/gen_requirements.py"
    )


def test_requirements_never_list_torch() -> None:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name = re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower()
            assert name not in {"torch", "torchvision", "torchaudio"}
            assert not line.startswith(("-r", "-e", "--"))  # ComfyUI-Manager installs line by line


def test_registry_metadata() -> None:
    project, comfy = PYPROJECT["project"], PYPROJECT["tool"]["comfy"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,99}", project["name"])
    assert "comfyui" not in project["name"].lower()
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert project["license"] == "GPL-3.0-or-later"
    assert project["urls"]["Repository"]
    assert comfy["PublisherId"] and comfy["DisplayName"]
    assert comfy["requires-comfyui"].startswith(">=")


def test_one_comfyui_pin() -> None:
    pin = PYPROJECT["tool"]["vidgen"]["comfyui"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pin["version"])
    assert re.fullmatch(r"[0-9a-f]{40}", pin["commit"])
    # nothing else in the repo may spell a different ComfyUI commit
    for path in ROOT.rglob("*"):
        if ".venv" in path.parts or ".git" in path.parts or not path.is_file():
            continue
        if path.suffix not in {".py", ".toml", ".yaml", ".yml", ".md", ".json", ".txt", ""}:
            continue
        if path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(errors="ignore")
        for m in re.finditer(r"COMFYUI_COMMIT\s*[=:]\s*\"?([0-9a-f]{40})", text):
            assert m.group(1) == pin["commit"], f"{path} pins another ComfyUI commit"


def test_shipped_packages_never_import_the_test_doubles() -> None:
    """The fake ComfyUI and the test inputs live in tests/ (aiohttp is a dev dependency):
    nothing in the wheel's packages may import them, and the orchestrator needs no aiohttp."""
    import ast

    test_modules = {p.stem for p in (ROOT / "tests").glob("*.py")} | {"tests"}
    for package in ("comfy_vidgen", "orchestrator"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    assert top not in test_modules, f"{path} imports {name} from tests/"
                    assert package != "orchestrator" or top != "aiohttp", f"{path}: {name}"
    assert not (ROOT / "orchestrator" / "fake_comfyui.py").exists()
    assert not (ROOT / "orchestrator" / "testing.py").exists()
