"""Versioned workflows: lint against the real /object_info snapshot, UI <-> API agreement."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from comfy_vidgen.nodes import NODE_CLASS_MAPPINGS
from comfy_vidgen.parameters import bound_inputs
from comfy_vidgen.workflow_graph import (
    lint_graph,
    lint_workflow,
    list_workflows,
    load_object_info,
    load_workflow,
    ui_to_api,
)
from comfy_vidgen.workflow_specs import all_specs

ROOT = Path(__file__).resolve().parents[1]
OI = load_object_info()
CORE_MODULES = ("nodes", "comfy_extras.", "comfy_api_nodes.")


def _is_core(info: dict[str, Any]) -> bool:
    mod = str(info.get("python_module", ""))
    return mod == "nodes" or mod.startswith(CORE_MODULES)


def test_snapshot_is_from_the_pinned_comfyui() -> None:
    import tomllib

    pin = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["vidgen"]["comfyui"]
    assert OI["__meta__"]["comfyui_version"] == pin["version"]


def test_our_node_ids_do_not_collide_with_comfyui() -> None:
    core = {name for name, info in OI.items() if name != "__meta__" and _is_core(info)}
    assert len(core) > 300  # a real snapshot, not an empty stub
    assert not set(NODE_CLASS_MAPPINGS) & core


def test_snapshot_lists_every_pack_node_with_its_inputs() -> None:
    """The committed snapshot must describe the nodes as they are now (refresh it otherwise)."""
    for node_id, cls in NODE_CLASS_MAPPINGS.items():
        assert node_id in OI, f"{node_id} missing: run tools/capture_object_info.py"
        declared = cls.INPUT_TYPES()
        snap = OI[node_id]["input"]
        for section in ("required", "optional"):
            assert set(declared.get(section, {})) == set(snap.get(section, {}) or {}), (
                f"{node_id}.{section} changed: run tools/capture_object_info.py"
            )
        assert list(cls.RETURN_TYPES) == OI[node_id]["output"]


def test_every_bound_input_exists_in_the_snapshot() -> None:
    for node, inp in bound_inputs():
        info = OI.get(node)
        assert info is not None, f"{node} is not a ComfyUI 0.3.64 / pack node"
        names = set(info["input"].get("required", {})) | set(
            info["input"].get("optional", {}) or {}
        )
        assert inp in names, f"{node} has no input {inp}"


def test_every_spec_has_a_workflow_and_all_lint_clean() -> None:
    refs = list_workflows()
    assert set(refs) == set(all_specs()), "every spec needs workflows/<name>/v<N>/ and vice versa"
    for ref in refs:
        wf = load_workflow(ref)
        assert lint_workflow(wf, OI) == [], ref
        assert (wf.folder / "README.md").is_file(), f"{ref} needs a README"


def test_workflows_are_generated_by_the_builder() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_workflows.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _svd() -> dict[str, Any]:
    return copy.deepcopy(load_workflow("svd_xt@1").api)


def _find(api: dict[str, Any], ctype: str) -> str:
    return next(nid for nid, n in api.items() if n["class_type"] == ctype)


def test_lint_refuses_a_literal_seed() -> None:
    api = _svd()
    api[_find(api, "KSampler")]["inputs"]["seed"] = 1234
    issues = lint_graph("svd_xt@1", api, OI)
    assert any("'seed' is the literal 1234" in i.msg for i in issues)


def test_lint_refuses_a_link_to_the_wrong_output() -> None:
    api = _svd()
    ks = _find(api, "KSampler")
    api[ks]["inputs"]["steps"] = copy.deepcopy(api[ks]["inputs"]["seed"])
    issues = lint_graph("svd_xt@1", api, OI)
    assert any("ManifestLoader.seed, expected steps" in i.msg for i in issues)


def test_lint_refuses_unknown_types_inputs_and_missing_required() -> None:
    api = _svd()
    api["99"] = {"class_type": "NotANode", "inputs": {}}
    ks = _find(api, "KSampler")
    api[ks]["inputs"]["bogus"] = 1
    del api[ks]["inputs"]["sampler_name"]
    msgs = " | ".join(i.msg for i in lint_graph("svd_xt@1", api, OI))
    assert "not in the pinned ComfyUI" in msgs
    assert "'bogus' does not exist" in msgs
    assert "required input 'sampler_name' is missing" in msgs


def test_lint_refuses_unconsumed_spec_keys() -> None:
    api = _svd()
    vl = _find(api, "VideoLinearCFGGuidance")
    api[vl]["inputs"]["min_cfg"] = 1.0
    msgs = [i.msg for i in lint_graph("svd_xt@1", api, OI)]
    assert any("generation.min_cfg but no node consumes it" in m for m in msgs)


def test_ui_form_converts_to_api_form_including_seed_control_widget() -> None:
    wf = load_workflow("svd_xt@1")
    assert ui_to_api(wf.ui, OI) == wf.api
    ks = next(n for n in wf.ui["nodes"] if n["type"] == "KSampler")
    # seed value, then the front end's control_after_generate value, then steps...
    assert ks["widgets_values"][1] in ("fixed", "randomize", "increment", "decrement")


def test_lint_detects_ui_api_disagreement(tmp_path: Path) -> None:
    src = ROOT / "workflows" / "camera_only" / "v1"
    dst = tmp_path / "camera_only" / "v1"
    shutil.copytree(src, dst)
    ui = json.loads((dst / "workflow.json").read_text())
    for node in ui["nodes"]:
        if node["type"] == "RIFEInterpolate":
            node["mode"] = 4  # bypassed in the UI, still present in api.json
    (dst / "workflow.json").write_text(json.dumps(ui))
    issues = lint_workflow(load_workflow("camera_only@1", [tmp_path]), OI)
    assert any("api.json has" in i.msg for i in issues)


def test_cli_lint_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "comfy_vidgen.cli", "workflow", "lint", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert all(json.loads(line)["ok"] for line in ok.stdout.splitlines())
    dst = tmp_path / "svd_xt" / "v1"
    shutil.copytree(ROOT / "workflows" / "svd_xt" / "v1", dst)
    api = json.loads((dst / "api.json").read_text())
    api[_find(api, "KSampler")]["inputs"]["cfg"] = 7.0
    (dst / "api.json").write_text(json.dumps(api))
    bad = subprocess.run(
        [sys.executable, "-m", "comfy_vidgen.cli", "workflow", "lint", str(dst)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "'cfg' is the literal 7.0" in bad.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "comfy_vidgen.cli", "workflow", "lint", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert usage.returncode == 2
