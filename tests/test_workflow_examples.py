"""example_workflows/: the newest version of each released workflow, for ComfyUI's
template browser, derived from workflows/ and checked by the lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from comfy_vidgen import workflow_examples as ex
from comfy_vidgen.workflow_graph import PACK_WORKFLOWS, list_workflows

ROOT = Path(__file__).resolve().parents[1]


def test_committed_templates_are_the_newest_released_workflows() -> None:
    assert ex.check() == []
    names = sorted(p.name for p in ex.EXAMPLES.iterdir())
    newest = ex.newest_versions()
    # one template + one thumbnail per workflow, flat (ComfyUI does not recurse)
    assert len(names) == 2 * len(newest) == 2 * len({r.split("@")[0] for r in list_workflows()})
    for ref in newest:
        name, version = ref.split("@")
        stem = ex.example_name(ref)
        assert stem.startswith(f"{name} v{version} - ")
        js = ex.EXAMPLES / f"{stem}.json"
        assert (
            js.read_bytes()
            == (PACK_WORKFLOWS / name / f"v{version}" / "workflow.json").read_bytes()
        )
        with Image.open(ex.EXAMPLES / f"{stem}.jpg") as im:
            assert im.format == "JPEG" and im.size == ex.THUMB_SIZE


def test_a_new_version_replaces_the_template_and_stale_files_are_found(tmp_path: Path) -> None:
    root, out = tmp_path / "workflows", tmp_path / "example_workflows"
    shutil.copytree(PACK_WORKFLOWS / "camera_only" / "v1", root / "camera_only" / "v1")
    assert ex.check(out, root) != []  # nothing written yet: missing
    ex.write(out, root)
    assert ex.check(out, root) == []
    assert sorted(p.name for p in out.iterdir()) == [
        f"{ex.example_name('camera_only@1')}.jpg",
        f"{ex.example_name('camera_only@1')}.json",
    ]
    # a released v2 appears: the check says the folder is stale until the builder runs
    shutil.copytree(PACK_WORKFLOWS / "camera_only" / "v2", root / "camera_only" / "v2")
    problems = ex.check(out, root)
    assert any("v2" in p and "missing" in p for p in problems), problems
    assert any("not a template of a released workflow" in p for p in problems), problems
    ex.write(out, root)
    assert ex.check(out, root) == []
    assert {p.stem for p in out.iterdir()} == {ex.example_name("camera_only@2")}
    # an edited copy and a thumbnail of another graph are both caught
    stem = ex.example_name("camera_only@2")
    (out / f"{stem}.json").write_text("{}")
    Image.new("RGB", ex.THUMB_SIZE, (200, 10, 10)).save(out / f"{stem}.jpg", quality=88)
    problems = ex.check(out, root)
    assert any("differs from" in p for p in problems), problems
    assert any("does not show the current graph" in p for p in problems), problems


def test_builder_check_and_lint_cover_the_templates() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_workflows.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "comfy_vidgen.cli", "workflow", "lint"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0 and "OK    example_workflows" in r.stdout, r.stdout + r.stderr


def test_the_generation_e2e_runs_each_workflows_newest_version() -> None:
    """tests/test_generation_e2e.py runs what the rack runs: a new version must join it."""
    from test_generation_e2e import CASES

    newest = {r for r in ex.newest_versions() if not r.startswith("camera_only@")}
    assert {c.ref for c in CASES.values()} == newest
