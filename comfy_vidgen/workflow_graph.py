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
from .parameters import PARAMETERS, bound_inputs
from .workflow_specs import WorkflowSpec, get_spec, parse_ref

Graph = dict[str, dict[str, Any]]
ObjectInfo = dict[str, dict[str, Any]]

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}

#: ManifestLoader output -> the generation key it carries (for "the spec's keys are consumed")
_GENERATION_KEY = {p.name: k for p in PARAMETERS if (k := p.generation_key) is not None}

#: literals the released @1 graphs set next to a linked manifest. NVENCEncode refuses
#: to run when such a value differs from the manifest, so an @1 graph can fail but
#: never deviate; from @2 on these inputs are links like every other parameter.
LEGACY_LITERALS = frozenset({("NVENCEncode", "quality"), ("NVENCEncode", "bit_depth")})

#: inputs of this pack's nodes that must come from the manifest in a released workflow
PACK_BOUND_TYPES = {"VIDGEN_MANIFEST"}

#: a two-stage schedule (Wan 2.2 A14B: a high-noise then a low-noise expert on
#: KSamplerAdvanced) links the hand-over step into the first sampler's end and the
#: second's start; the outer ends are the schedule's own bounds ("from the first
#: step", "to the last"), structure rather than a manifest value, and may stay literal
SCHEDULE_ENDS: dict[tuple[str, str], int] = {
    ("KSamplerAdvanced", "start_at_step"): 0,
    ("KSamplerAdvanced", "end_at_step"): 10000,
}

_FIXED_UNLESS_DECLARED = {
    target: p.generation_key
    for p in PARAMETERS
    if p.fixed_unless_declared and p.generation_key is not None
    for target in p.feeds
}


def literal_allowed(ref: str, target: tuple[str, str], value: Any) -> bool:
    """Whether a manifest-governed input may be the literal ``value`` in workflow ``ref``.

    Only two cases: a schedule's outer end (``SCHEDULE_ENDS``), and an input whose
    parameter is ``fixed_unless_declared`` in a workflow whose spec does not declare
    that key (the workflow fixes it; the manifest cannot carry it there).
    """
    if target in SCHEDULE_ENDS and value == SCHEDULE_ENDS[target] and type(value) is int:
        return True
    key = _FIXED_UNLESS_DECLARED.get(target)
    if key is None:
        return False
    try:
        return key not in get_spec(ref).params
    except KeyError:
        return False


class WorkflowError(VidgenError):
    """A workflow graph is missing, malformed, or fails the lint."""


#: the versioned workflows shipped with this checkout
PACK_WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
LOADER = "ManifestLoader"
ENCODER = "NVENCEncode"


@dataclass(frozen=True)
class LintIssue:
    workflow: str
    where: str
    msg: str

    def __str__(self) -> str:
        return f"{self.workflow}: {self.where}: {self.msg}"


@dataclass(frozen=True)
class Workflow:
    """One versioned workflow: the API graph that runs, its UI form and its identity.

    ``sha256`` is of ``api.json``'s bytes as shipped: audits name it, which is why a
    released version never changes.
    """

    ref: str
    api: Graph
    sha256: str
    folder: Path | None = None
    ui: dict[str, Any] | None = None

    @property
    def graph(self) -> Graph:
        return self.api

    @property
    def path(self) -> str | None:
        return str(self.folder / "api.json") if self.folder is not None else None

    @property
    def spec(self) -> WorkflowSpec:
        return get_spec(self.ref)

    @property
    def loader_id(self) -> str:
        return single_node(self.api, LOADER)

    @property
    def encoder_ids(self) -> list[str]:
        return [k for k, v in self.api.items() if v.get("class_type") == ENCODER]


def single_node(graph: Graph, cls: str) -> str:
    ids = [k for k, v in graph.items() if isinstance(v, dict) and v.get("class_type") == cls]
    if len(ids) != 1:
        raise WorkflowError(f"the workflow needs exactly one {cls} node, found {len(ids)}")
    return ids[0]


def from_graph(ref: str, graph: Graph) -> Workflow:
    """A workflow made in memory (tests, tools): identity is its canonical JSON's hash."""
    raw = json.dumps(graph, sort_keys=True, separators=(",", ":")).encode()
    return Workflow(ref, graph, sha256_bytes(raw))


def default_workflow_dirs() -> list[Path]:
    """Where ``name@N`` is looked up: ``VIDGEN_WORKFLOWS``, ``./workflows``, the pack's."""
    env = os.environ.get("VIDGEN_WORKFLOWS")
    dirs = [Path(env)] if env else []
    return [*dirs, Path.cwd() / "workflows", PACK_WORKFLOWS]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise WorkflowError(f"{path}: missing") from None
    except ValueError as e:
        raise WorkflowError(f"{path}: not valid JSON ({e})") from None


def load_workflow(ref: str, dirs: list[Path] | None = None) -> Workflow:
    """``name@N`` -> ``<dir>/<name>/vN/api.json`` (+ ``workflow.json`` when present)."""
    name, version = parse_ref(ref)
    search = dirs if dirs is not None else default_workflow_dirs()
    for d in search:
        folder = d / name / f"v{version}"
        if not (folder / "api.json").is_file():
            continue
        raw = (folder / "api.json").read_bytes()
        try:
            api = json.loads(raw)
        except ValueError as e:
            raise WorkflowError(f"{folder / 'api.json'}: not valid JSON ({e})") from None
        if not isinstance(api, dict):
            raise WorkflowError(f"{folder / 'api.json'}: an API-format workflow is a JSON object")
        ui = _read_json(folder / "workflow.json") if (folder / "workflow.json").is_file() else None
        return Workflow(ref, api, sha256_bytes(raw), folder, ui)
    where = ", ".join(str(d) for d in search)
    raise WorkflowError(f"workflow {ref}: no {name}/v{version}/api.json under {where}")


def list_workflows(root: Path | None = None) -> list[str]:
    base = root or PACK_WORKFLOWS
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
    legacy = parse_ref(ref)[1] == 1
    if loader_id is not None:
        declared = api[loader_id].get("inputs", {}).get("workflow", "")
        if declared != ref and (declared or parse_ref(ref)[1] >= 2):
            bad(
                f"node {loader_id} (ManifestLoader)",
                f"declares workflow {declared!r}, expected {ref!r} (from @2 on every graph "
                "declares the workflow it implements, so other manifests are refused)",
            )
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
                    key = _GENERATION_KEY.get(loader_outputs[value[1]])
                    if key is not None:
                        consumed.add(key)
            typ, _ = decls[name]
            bound = bound_inputs().get((str(ctype), name))
            must_link = bound is not None or (isinstance(typ, str) and typ in PACK_BOUND_TYPES)
            if not must_link:
                continue
            if not is_link:
                target = (str(ctype), name)
                if not (legacy and target in LEGACY_LITERALS) and not literal_allowed(
                    ref, target, value
                ):
                    bad(
                        where,
                        f"input {name!r} is the literal {value!r}: "
                        "it must be linked to ManifestLoader",
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
    if "split_step" in consumed:
        # a split schedule: every stage starts or ends at the hand-over, never both
        # and never neither (a stage on literal 0..10000 would redo the whole schedule)
        for nid, node in api.items():
            if node.get("class_type") != "KSamplerAdvanced":
                continue
            ends = [node.get("inputs", {}).get(k) for k in ("start_at_step", "end_at_step")]
            linked = [isinstance(e, list) and bool(e) and e[0] == loader_id for e in ends]
            if sum(linked) != 1:
                bad(
                    f"node {nid} (KSamplerAdvanced)",
                    "in a split schedule each stage starts or ends at ManifestLoader.split_step "
                    f"(exactly one of start_at_step/end_at_step linked), got {ends}",
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
    if wf.ui is None:
        return [*issues, LintIssue(wf.ref, "workflow.json", "missing (artists open this form)")]
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
