"""The parameter table is the one source: everything that lists parameters derives from it,
and a graph that declares its workflow refuses every other workflow's manifest."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from comfy_vidgen import parameters
from comfy_vidgen.manifest import Generation, ManifestError, Output, build_manifest, full_crop
from comfy_vidgen.manifest_loading import INLINE_CHOICE, load_for_node
from comfy_vidgen.nodes.manifest import ManifestLoader
from comfy_vidgen.parameters import PARAMETERS, bound_inputs, loader_slot
from comfy_vidgen.workflow_graph import lint_graph, load_object_info, load_workflow
from comfy_vidgen.workflow_specs import DEFAULT_WORKFLOW, all_specs
from orchestrator import workflow as orch_workflow

ROOT = Path(__file__).resolve().parents[1]
OI = load_object_info()


def _manifest(kf: Path, workflow: str, **output: Any) -> Any:
    crop = full_crop(600, 400, 1024, 576)
    return build_manifest(
        keyframe=kf,
        input_root=kf.parent,
        motion_type="static",
        start=crop,
        end=crop,
        workflow=workflow,
        seed=7,
        output=output,
    )


def test_every_generation_field_has_exactly_one_row() -> None:
    fields = set(Generation.model_fields) - {"workflow"}
    keys = [p.generation_key for p in PARAMETERS if p.generation_key is not None]
    assert sorted(keys) == sorted(fields), "add the row (or the field) to parameters.py"
    assert len({p.name for p in PARAMETERS}) == len(PARAMETERS)


def test_loader_outputs_are_the_table() -> None:
    names = ManifestLoader.RETURN_NAMES
    assert names[:2] == ("keyframe", "manifest")
    assert names[2:] == tuple(p.name for p in PARAMETERS)
    assert len(ManifestLoader.RETURN_TYPES) == len(names) == len(ManifestLoader.OUTPUT_TOOLTIPS)
    # released @1 graphs address outputs by slot: the first 18 never move
    v1 = [
        "keyframe", "manifest", "seed", "steps", "cfg", "min_cfg", "motion_bucket_id",
        "noise_aug_strength", "width", "height", "frames", "fps", "prompt", "negative_prompt",
        "output_frames", "model_fps", "model_fps_int", "scene_cut_guard",
    ]  # fmt: skip
    assert list(names[:18]) == v1
    assert loader_slot("output_frames") == 14 and loader_slot("frames") == 10
    with pytest.raises(KeyError, match="no output 'nope'"):
        loader_slot("nope")


def test_values_follow_the_manifest_by_name(coffee_jpeg: Path) -> None:
    m = _manifest(coffee_jpeg, "svd_xt@2", quality=24, bit_depth=8, fps=24, frames=96)
    v = parameters.values(m)
    assert (v["seed"], v["steps"], v["cfg"], v["frames"]) == (7, 25, 2.5, 25)
    assert (v["fps"], v["output_frames"], v["quality"], v["bit_depth"]) == (24, 96, 24, "8")
    assert v["model_fps"] == pytest.approx(24 * 24 / 95) and v["model_fps_int"] == 6
    assert v["prompt"] == "" and isinstance(v["cfg"], float)
    assert v["bit_depth"] in parameters.BIT_DEPTH_CHOICES


def test_every_bound_input_is_linked_by_name_in_every_released_graph() -> None:
    """Each governed input in the committed graphs links to one of its table outputs."""
    names = parameters.loader_output_names()
    seen: set[tuple[str, str]] = set()
    for ref in all_specs():
        api = load_workflow(ref).api
        for node in api.values():
            for name, value in node["inputs"].items():
                target = (node["class_type"], name)
                if target in bound_inputs() and isinstance(value, list):
                    assert names[value[1]] in bound_inputs()[target], (ref, target)
                    seen.add(target)
    assert ("RIFEInterpolate", "target_frames") in seen and ("NVENCEncode", "quality") in seen


def test_relinking_target_frames_to_frames_fails_both_lints() -> None:
    wf = load_workflow("camera_only@2")
    api = json.loads(json.dumps(wf.api))
    rife = next(k for k, n in api.items() if n["class_type"] == "RIFEInterpolate")
    api[rife]["inputs"]["target_frames"] = [wf.loader_id, loader_slot("frames")]
    issues = [str(i) for i in lint_graph("camera_only@2", api, OI)]
    assert any("ManifestLoader.frames, expected output_frames" in i for i in issues), issues


def test_orchestrator_lint_refuses_a_literal_on_any_governed_input() -> None:
    wf = load_workflow("svd_xt@2")
    for nid, node in wf.api.items():
        for name in node["inputs"]:
            if (node["class_type"], name) not in bound_inputs():
                continue
            api = json.loads(json.dumps(wf.api))
            api[nid]["inputs"][name] = 3
            problems = orch_workflow.lint(orch_workflow.from_graph("svd_xt@2", api))
            assert any(f"input {name!r} is the literal 3" in p for p in problems), (nid, name)


def test_manifest_new_flags_are_the_flagged_rows() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "comfy_vidgen.cli", "manifest", "new", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    for flag, _, _ in parameters.flagged():
        assert re.search(rf"{re.escape(flag)}\b", r.stdout), flag
    assert f"default {Output.model_fields['frames'].default}" in r.stdout


def test_inline_marker_and_parameter_names_are_defined_once() -> None:
    """The inline choice and the output names live in one module each (no copies)."""
    sources = [
        p for top in ("comfy_vidgen", "orchestrator", "tools") for p in (ROOT / top).rglob("*.py")
    ]
    marker = [p for p in sources if '"(inline manifest_json)"' in p.read_text("utf-8")]
    assert [p.name for p in marker] == ["manifest_loading.py"]
    # e.g. the old parallel tuples listed '"noise_aug_strength",' as a bare string item
    for name in ("output_frames", "model_fps_int", "scene_cut_guard"):
        listing = [p for p in sources if re.search(rf'^\s+"{name}",$', p.read_text("utf-8"), re.M)]
        assert [p.name for p in listing] == ["parameters.py"], (name, listing)


# ------------------------------------------------------------------ declared workflows


#: the @1 graphs released before graphs declared their workflow
UNDECLARED = {
    f"{n}@1" for n in ("camera_only", "svd_xt", "wan22_ti2v_5b", "wan21_fun_camera", "ltxv_i2v")
}


def test_graphs_from_v2_declare_their_workflow() -> None:
    """... and so does every workflow first released after @2 (from its @1)."""
    for ref in all_specs():
        wf = load_workflow(ref)
        declared = wf.api[wf.loader_id]["inputs"].get("workflow", "")
        assert declared == ("" if ref in UNDECLARED else ref), ref
    assert "wan22_i2v_a14b_4step@1" in all_specs()
    assert DEFAULT_WORKFLOW == "camera_only@3"


def _two_expert_api() -> tuple[Any, dict[str, Any]]:
    wf = load_workflow("wan22_i2v_a14b_4step@1")
    return wf, json.loads(json.dumps(wf.api))


def test_the_split_step_is_linked_and_only_the_schedule_ends_are_literal() -> None:
    wf, api = _two_expert_api()
    samplers = sorted(k for k, n in api.items() if n["class_type"] == "KSamplerAdvanced")
    first, second = (api[k]["inputs"] for k in samplers)
    split = [wf.loader_id, loader_slot("split_step")]
    assert first["end_at_step"] == split and second["start_at_step"] == split
    assert (first["start_at_step"], second["end_at_step"]) == (0, 10000)
    assert (first["add_noise"], first["return_with_leftover_noise"]) == ("enable", "enable")
    assert (second["add_noise"], second["return_with_leftover_noise"]) == ("disable", "disable")
    assert lint_graph(wf.ref, api, OI) == []
    # any other literal on a schedule end, or a literal split, is a deviation
    for nid, name, value in (
        (samplers[0], "start_at_step", 1),
        (samplers[1], "end_at_step", 4),
        (samplers[0], "end_at_step", 2),
        (samplers[1], "start_at_step", 0),
    ):
        bad = json.loads(json.dumps(api))
        bad[nid]["inputs"][name] = value
        issues = [str(i) for i in lint_graph(wf.ref, bad, OI)]
        if (name, value) == ("start_at_step", 0):
            # a literal schedule end, but the second stage would redo the whole schedule
            assert any(
                "each stage starts or ends at ManifestLoader.split_step" in i for i in issues
            )
            continue
        assert any(f"input {name!r} is the literal {value!r}" in i for i in issues), (name, issues)
        problems = orch_workflow.lint(orch_workflow.from_graph(wf.ref, bad))
        assert any(f"input {name!r} is the literal {value!r}" in p for p in problems), name


def test_shift_is_a_literal_only_where_the_spec_does_not_declare_it() -> None:
    # wan22_ti2v_5b@2 fixes its shift (8.0): its spec has no generation.shift
    five_b = load_workflow("wan22_ti2v_5b@2")
    assert any(n["inputs"].get("shift") == 8.0 for n in five_b.api.values())
    assert lint_graph(five_b.ref, five_b.api, OI) == []
    wf, api = _two_expert_api()
    for n in api.values():
        if n["class_type"] == "ModelSamplingSD3":
            n["inputs"]["shift"] = 5.0
    issues = [str(i) for i in lint_graph(wf.ref, api, OI)]
    assert any("input 'shift' is the literal 5.0" in i for i in issues), issues
    assert any("generation.shift but no node consumes it" in i for i in issues), issues
    problems = orch_workflow.lint(orch_workflow.from_graph(wf.ref, api))
    assert any("input 'shift' is the literal 5.0" in p for p in problems), problems


def test_a_split_at_or_past_the_last_step_is_refused(coffee_jpeg: Path) -> None:
    crop = full_crop(600, 400, 640, 640)
    gen = {"prompt": "a cup", "steps": 4, "split_step": 2, "cfg": 1.0, "shift": 5.0,
           "lora_strength": 1.0}  # fmt: skip
    kw = dict(
        keyframe=coffee_jpeg, input_root=coffee_jpeg.parent, motion_type="static",
        start=crop, end=crop, workflow="wan22_i2v_a14b_4step@1", seed=3, size=(640, 640),
    )  # fmt: skip
    m = build_manifest(**kw, generation=gen)  # type: ignore[arg-type]
    v = parameters.values(m)
    assert (v["steps"], v["split_step"], v["shift"], v["lora_strength"]) == (4, 2, 5.0, 1.0)
    assert v["frames"] == 65 and isinstance(v["shift"], float)
    for split in (4, 5):
        with pytest.raises(
            ManifestError, match=r"split_step: must be below generation.steps \(4\)"
        ):
            build_manifest(**kw, generation={**gen, "split_step": split})  # type: ignore[arg-type]


def test_lint_refuses_a_v2_graph_that_declares_nothing_or_another_id() -> None:
    wf = load_workflow("svd_xt@2")
    for declared in ("", "camera_only@2"):
        api = json.loads(json.dumps(wf.api))
        api[wf.loader_id]["inputs"]["workflow"] = declared
        issues = [str(i) for i in lint_graph("svd_xt@2", api, OI)]
        assert any(f"declares workflow {declared!r}, expected 'svd_xt@2'" in i for i in issues)


def test_loader_refuses_a_manifest_of_another_workflow(coffee_jpeg: Path) -> None:
    m = _manifest(coffee_jpeg, "svd_xt@2")
    text = json.dumps(json.loads(m.model_dump_json(by_alias=True)))
    root = coffee_jpeg.parent
    with pytest.raises(ManifestError) as e:
        load_for_node(root, INLINE_CHOICE, text, workflow="camera_only@2")
    assert "for svd_xt@2 but this graph is camera_only@2" in str(e.value)
    assert load_for_node(root, INLINE_CHOICE, text, workflow="svd_xt@2").manifest == m
    assert load_for_node(root, INLINE_CHOICE, text).manifest == m  # @1 graphs: unchecked


def test_validate_inputs_names_both_ids_before_anything_runs(
    coffee_jpeg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfy_vidgen.nodes import manifest as node_module

    monkeypatch.setattr(node_module, "_input_dir", lambda: coffee_jpeg.parent)
    m = _manifest(coffee_jpeg, "svd_xt@2")
    text = m.model_dump_json(by_alias=True)
    msg = ManifestLoader.VALIDATE_INPUTS(INLINE_CHOICE, text, "camera_only@2")
    assert isinstance(msg, str) and "svd_xt@2" in msg and "camera_only@2" in msg
    assert ManifestLoader.VALIDATE_INPUTS(INLINE_CHOICE, text, "svd_xt@2") is True
    unknown = ManifestLoader.VALIDATE_INPUTS(INLINE_CHOICE, text, "nope@9")
    assert isinstance(unknown, str) and "not a workflow this pack ships" in unknown
