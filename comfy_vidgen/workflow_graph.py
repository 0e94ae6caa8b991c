"""Versioned workflow graphs: load, convert UI -> API format, lint for deviations.

A workflow version lives in ``workflows/<name>/v<N>/`` as ``workflow.json`` (the UI
format artists open in ComfyUI) and ``api.json`` (what the orchestrator submits).
The lint proves three things against an ``/object_info`` snapshot of the pinned
ComfyUI plus this pack: every node type and input exists; every parameter input
that the manifest governs is *linked* to ManifestLoader (a literal there would let
the graph deviate from the manifest); and the two files describe the same graph.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import VidgenError
from .fsutil import sha256_bytes
from .workflow_specs import WorkflowSpec, get_spec, parse_ref

Graph = dict[str, dict[str, Any]]
ObjectInfo = dict[str, dict[str, Any]]

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}

#: (node class, input) -> the ManifestLoader outputs it may be linked to. Every such
#: input in a released workflow must be a link to one of them, never a literal.
MANIFEST_BOUND: dict[tuple[str, str], tuple[str, ...]] = {
    ("KSampler", "seed"): ("seed",),
    ("KSampler", "steps"): ("steps",),
    ("KSampler", "cfg"): ("cfg",),
    ("KSamplerAdvanced", "noise_seed"): ("seed",),
    ("KSamplerAdvanced", "steps"): ("steps",),
    ("KSamplerAdvanced", "cfg"): ("cfg",),
    ("RandomNoise", "noise_seed"): ("seed",),
    ("CFGGuider", "cfg"): ("cfg",),
    ("BasicScheduler", "steps"): ("steps",),
    ("LTXVScheduler", "steps"): ("steps",),
    ("SVD_img2vid_Conditioning", "width"): ("width",),
    ("SVD_img2vid_Conditioning", "height"): ("height",),
    ("SVD_img2vid_Conditioning", "video_frames"): ("frames",),
    ("SVD_img2vid_Conditioning", "motion_bucket_id"): ("motion_bucket_id",),
    ("SVD_img2vid_Conditioning", "fps"): ("model_fps_int",),
    ("SVD_img2vid_Conditioning", "augmentation_level"): ("noise_aug_strength",),
    ("VideoLinearCFGGuidance", "min_cfg"): ("min_cfg",),
    ("CLIPTextEncode", "text"): ("prompt", "negative_prompt"),
    ("WanImageToVideo", "width"): ("width",),
    ("WanImageToVideo", "height"): ("height",),
    ("WanImageToVideo", "length"): ("frames",),
    ("Wan22ImageToVideoLatent", "width"): ("width",),
    ("Wan22ImageToVideoLatent", "height"): ("height",),
    ("Wan22ImageToVideoLatent", "length"): ("frames",),
    ("WanCameraImageToVideo", "width"): ("width",),
    ("WanCameraImageToVideo", "height"): ("height",),
    ("WanCameraImageToVideo", "length"): ("frames",),
    ("LTXVImgToVideo", "width"): ("width",),
    ("LTXVImgToVideo", "height"): ("height",),
    ("LTXVImgToVideo", "length"): ("frames",),
    ("LTXVConditioning", "frame_rate"): ("model_fps",),
    ("CameraPathConditioner", "width"): ("width",),
    ("CameraPathConditioner", "height"): ("height",),
    ("CameraPathConditioner", "length"): ("frames",),
    ("VirtualCamera", "width"): ("width",),
    ("VirtualCamera", "height"): ("height",),
    ("VirtualCamera", "frames"): ("frames",),
    ("RIFEInterpolate", "target_frames"): ("output_frames",),
    ("RIFEInterpolate", "scene_cut_guard"): ("scene_cut_guard",),
    ("NVENCEncode", "fps"): ("fps",),
}

#: which manifest generation key each ManifestLoader output carries
OUTPUT_TO_PARAM = {
    "seed": "seed",
    "steps": "steps",
    "cfg": "cfg",
    "min_cfg": "min_cfg",
    "motion_bucket_id": "motion_bucket_id",
    "noise_aug_strength": "noise_aug_strength",
    "frames": "frames",
    "prompt": "prompt",
    "negative_prompt": "negative_prompt",
}

#: inputs of this pack's nodes that must come from the manifest in a released workflow
PACK_BOUND_TYPES = {"VIDGEN_MANIFEST"}


class WorkflowError(VidgenError):
    """A workflow file is missing or malformed."""


@dataclass(frozen=True)
class LintIssue:
    workflow: str
    where: str
    msg: str

    def __str__(self) -> str:
        return f"{self.workflow}: {self.where}: {self.msg}"


@dataclass(frozen=True)
class Workflow:
    ref: str
    folder: Path
    api: Graph
    ui: dict[str, Any]
    api_sha256: str

    @property
    def spec(self) -> WorkflowSpec:
        return get_spec(self.ref)


def workflows_dir() -> Path:
    """``VIDGEN_WORKFLOWS_DIR``, else the ``workflows/`` folder of this checkout."""
    env = os.environ.get("VIDGEN_WORKFLOWS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "workflows"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise WorkflowError(f"{path}: missing") from None
    except ValueError as e:
        raise WorkflowError(f"{path}: not valid JSON ({e})") from None


def load_workflow(ref: str, root: Path | None = None) -> Workflow:
    """Both forms of ``name@version`` plus the sha256 of the API form (for audits)."""
    name, version = parse_ref(ref)
    folder = (root or workflows_dir()) / name / f"v{version}"
    raw = (folder / "api.json").read_bytes() if (folder / "api.json").is_file() else None
    if raw is None:
        raise WorkflowError(f"workflow {ref}: {folder / 'api.json'} is missing")
    api = _read_json(folder / "api.json")
    ui = _read_json(folder / "workflow.json")
    return Workflow(ref, folder, api, ui, sha256_bytes(raw))


def list_workflows(root: Path | None = None) -> list[str]:
    base = root or workflows_dir()
    refs = []
    for d in sorted(base.glob("*/v*/api.json")):
        refs.append(f"{d.parent.parent.name}@{d.parent.name[1:]}")
    return refs


@cache
def load_object_info(path: str | None = None) -> ObjectInfo:
    """The committed ``/object_info`` snapshot of the pinned ComfyUI plus this pack."""
    p = Path(path) if path else Path(__file__).parent / "schema" / "comfyui_object_info.json"
    data = _read_json(p)
    if not isinstance(data, dict):
        raise WorkflowError(f"{p}: not an object_info snapshot")
    return data


# --------------------------------------------------------------------------- conversion


def _input_decls(info: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """(name, type, options) of every declared input, in the UI's widget order."""
    out = []
    inputs = info.get("input", {})
    order = info.get("input_order")
    for section in ("required", "optional"):
        decls = inputs.get(section, {}) or {}
        names = order.get(section, list(decls)) if isinstance(order, dict) else list(decls)
        for name in names:
            decl = decls.get(name)
            if decl is None:
                continue
            typ = decl[0]
            opts = decl[1] if len(decl) > 1 and isinstance(decl[1], dict) else {}
            out.append((name, typ, opts))
    return out


def is_widget(typ: Any, opts: dict[str, Any]) -> bool:
    if opts.get("forceInput"):
        return False
    return isinstance(typ, list) or typ in WIDGET_TYPES


def ui_to_api(ui: dict[str, Any], object_info: ObjectInfo) -> Graph:
    """Convert a UI-format workflow to the API format, as ComfyUI's front end does.

    Widget values are consumed in declared input order; an INT widget with
    ``control_after_generate`` is followed by one extra value (the "fixed"/"randomize"
    control) that is not an input. A widget input that is linked takes the link.
    Muted (mode 2) and bypassed (mode 4) nodes are not part of the prompt.
    """
    links: dict[int, tuple[int, int]] = {}
    for link in ui.get("links", []):
        link_id, src, src_slot = link[0], link[1], link[2]
        links[int(link_id)] = (int(src), int(src_slot))
    graph: Graph = {}
    for node in ui.get("nodes", []):
        if node.get("mode", 0) in (2, 4):
            continue
        ctype = node["type"]
        if ctype not in object_info:
            raise WorkflowError(
                f"node {node['id']}: type {ctype!r} is not in the object_info snapshot"
            )
        linked: dict[str, tuple[int, int]] = {}
        for inp in node.get("inputs", []) or []:
            if inp.get("link") is not None:
                linked[inp["name"]] = links[int(inp["link"])]
        values = list(node.get("widgets_values", []) or [])
        inputs: dict[str, Any] = {}
        for name, typ, opts in _input_decls(object_info[ctype]):
            if is_widget(typ, opts):
                value = values.pop(0) if values else None
                if opts.get("control_after_generate") and values:
                    values.pop(0)
                if name in linked:
                    src, slot = linked[name]
                    inputs[name] = [str(src), slot]
                elif value is not None:
                    inputs[name] = value
            elif name in linked:
                src, slot = linked[name]
                inputs[name] = [str(src), slot]
        graph[str(node["id"])] = {"class_type": ctype, "inputs": inputs}
    return graph


# --------------------------------------------------------------------------- lint


def _output_names(info: dict[str, Any]) -> list[str]:
    names = info.get("output_name") or info.get("output") or []
    return [str(n) for n in names]


def lint_graph(ref: str, api: Graph, object_info: ObjectInfo) -> list[LintIssue]:
    """Every check that needs only the API graph and the snapshot."""
    issues: list[LintIssue] = []

    def bad(where: str, msg: str) -> None:
        issues.append(LintIssue(ref, where, msg))

    loaders = [nid for nid, n in api.items() if n.get("class_type") == "ManifestLoader"]
    if len(loaders) != 1:
        bad("graph", f"needs exactly one ManifestLoader, found {len(loaders)}")
    if not any(n.get("class_type") == "NVENCEncode" for n in api.values()):
        bad("graph", "has no NVENCEncode output node")
    loader_id = loaders[0] if loaders else None
    loader_outputs = _output_names(object_info.get("ManifestLoader", {}))
    consumed: set[str] = set()

    for nid, node in api.items():
        ctype = node.get("class_type")
        where = f"node {nid} ({ctype})"
        info = object_info.get(str(ctype))
        if info is None:
            bad(where, "node type is not in the pinned ComfyUI + pack snapshot")
            continue
        decls = {name: (typ, opts) for name, typ, opts in _input_decls(info)}
        required = set((info.get("input", {}).get("required") or {}).keys())
        for name in required - node.get("inputs", {}).keys():
            bad(where, f"required input {name!r} is missing")
        for name, value in node.get("inputs", {}).items():
            if name not in decls:
                bad(where, f"input {name!r} does not exist on {ctype}")
                continue
            is_link = isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            if is_link:
                src = api.get(value[0])
                if src is None:
                    bad(where, f"input {name!r} links to missing node {value[0]}")
                    continue
                if value[0] == loader_id and 0 <= value[1] < len(loader_outputs):
                    out = loader_outputs[value[1]]
                    if out in OUTPUT_TO_PARAM:
                        consumed.add(OUTPUT_TO_PARAM[out])
            typ, _ = decls[name]
            bound = MANIFEST_BOUND.get((str(ctype), name))
            must_link = bound is not None or (isinstance(typ, str) and typ in PACK_BOUND_TYPES)
            if not must_link:
                continue
            if not is_link:
                bad(
                    where,
                    f"input {name!r} is the literal {value!r}: it must be linked to ManifestLoader",
                )
                continue
            if value[0] != loader_id:
                bad(where, f"input {name!r} is linked to node {value[0]}, not to ManifestLoader")
                continue
            out = loader_outputs[value[1]] if 0 <= value[1] < len(loader_outputs) else "?"
            if bound is not None and out not in bound:
                bad(
                    where,
                    f"input {name!r} is linked to ManifestLoader.{out}, expected {' or '.join(bound)}",
                )
    try:
        spec = get_spec(ref)
    except KeyError as e:
        bad("spec", str(e))
        return issues
    for key, rule in spec.params.items():
        if key not in consumed and not rule.informational:
            bad("graph", f"the spec declares generation.{key} but no node consumes it")
    for key in consumed - spec.params.keys():
        bad("graph", f"consumes generation.{key}, which {ref}'s spec does not declare")
    return issues


def _semantic(node: dict[str, Any]) -> dict[str, Any]:
    """What executes: class and inputs (``_meta`` titles are labels only)."""
    return {"class_type": node.get("class_type"), "inputs": node.get("inputs", {})}


def lint_workflow(wf: Workflow, object_info: ObjectInfo) -> list[LintIssue]:
    """Graph checks plus: the UI form converts to exactly the API form."""
    issues = lint_graph(wf.ref, wf.api, object_info)
    try:
        converted = ui_to_api(wf.ui, object_info)
    except (WorkflowError, KeyError, IndexError, TypeError, ValueError) as e:
        return [*issues, LintIssue(wf.ref, "workflow.json", f"cannot convert to API form: {e}")]
    api = {nid: _semantic(n) for nid, n in wf.api.items()}
    converted = {nid: _semantic(n) for nid, n in converted.items()}
    if converted != api:
        for nid in sorted(set(converted) | set(api), key=lambda s: int(s) if s.isdigit() else 0):
            a, b = converted.get(nid), api.get(nid)
            if a != b:
                issues.append(
                    LintIssue(wf.ref, f"node {nid}", f"workflow.json gives {a}, api.json has {b}")
                )
    return issues
