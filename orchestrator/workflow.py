"""Workflow graphs for the orchestrator: the submission lint and the per-attempt fill.

Loading is ``comfy_vidgen.workflow_graph`` (re-exported here). Before anything is submitted
the graph is linted: every input that the manifest decides must be a link from
ManifestLoader, never a literal ("never deviate"). Per attempt the orchestrator
fills exactly two things: ManifestLoader's ``manifest_json`` and NVENCEncode's
``job_id`` (the attempt id, which names the output file).
"""

from __future__ import annotations

from typing import Any

from comfy_vidgen.manifest_loading import INLINE_CHOICE
from comfy_vidgen.parameters import bound_inputs
from comfy_vidgen.workflow_graph import (
    LEGACY_LITERALS,
    LOADER,
    Workflow,
    WorkflowError,
    default_workflow_dirs,
    from_graph,
    literal_allowed,
    load_workflow,
)
from comfy_vidgen.workflow_specs import parse_ref

__all__ = [
    "Workflow",
    "WorkflowError",
    "check",
    "default_workflow_dirs",
    "fill",
    "from_graph",
    "lint",
    "load_workflow",
]


def lint(wf: Workflow) -> list[str]:
    """Problems that must stop submission (empty list = fine)."""
    problems: list[str] = []
    loaders = {
        str(k) for k, v in wf.graph.items() if isinstance(v, dict) and v.get("class_type") == LOADER
    }
    try:
        _ = wf.loader_id
    except WorkflowError as e:
        problems.append(str(e))
    if not wf.encoder_ids:
        problems.append("the workflow has no NVENCEncode node (nothing would be delivered)")
    bound = bound_inputs()
    legacy = parse_ref(wf.ref)[1] == 1  # see LEGACY_LITERALS
    for node_id, node in sorted(wf.graph.items()):
        if not isinstance(node, dict) or "class_type" not in node:
            problems.append(f"node {node_id}: not an API-format node (no class_type)")
            continue
        if node["class_type"] == LOADER:
            continue
        inputs = node.get("inputs") or {}
        link = inputs.get("manifest")
        takes_manifest = legacy and isinstance(link, list) and bool(link) and link[0] in loaders
        for name, value in inputs.items():
            target = (str(node["class_type"]), name)
            if takes_manifest and target in LEGACY_LITERALS:
                continue
            if target in bound and not isinstance(value, list):
                if literal_allowed(wf.ref, target, value):
                    continue
                problems.append(
                    f"node {node_id} ({node['class_type']}): input {name!r} is the literal "
                    f"{value!r}; it must be linked from {LOADER} so the manifest decides it"
                )
    return problems


def pack_lint(wf: Workflow) -> list[str]:
    """The pack's full lint (``comfy_vidgen.workflow_graph``) against the pinned
    ComfyUI + pack ``/object_info`` snapshot: node types, required inputs, every
    manifest-bound input linked to the right ManifestLoader output, spec params consumed."""
    from comfy_vidgen.workflow_graph import lint_graph, load_object_info

    return [str(i) for i in lint_graph(wf.ref, wf.graph, load_object_info())]


def check(wf: Workflow, *, full: bool = False) -> None:
    problems = lint(wf) + (pack_lint(wf) if full else [])
    if problems:
        raise WorkflowError(f"workflow {wf.ref} refused by the lint: " + "; ".join(problems))


def fill(wf: Workflow, manifest_json: str, attempt_job_id: str) -> dict[str, Any]:
    """The graph to submit for one attempt (the shipped graph is never modified).

    Only the nodes that change are copied; the others are shared with ``wf.graph``,
    so treat the result as read-only (it is serialised and sent). A deep copy of the
    whole graph per submission was a tenth of the dispatcher's CPU time.
    """
    g = dict(wf.graph)

    def node(nid: str) -> dict[str, Any]:
        if g[nid] is wf.graph[nid]:
            g[nid] = {**wf.graph[nid], "inputs": dict(wf.graph[nid].get("inputs", {}))}
        inputs: dict[str, Any] = g[nid]["inputs"]
        return inputs

    loader = node(wf.loader_id)
    loader["manifest"] = INLINE_CHOICE
    loader["manifest_json"] = manifest_json
    for eid in wf.encoder_ids:
        node(eid)["job_id"] = attempt_job_id
    return g
