"""Workflow graphs (API format) for the orchestrator: load, lint, and fill per attempt.

A workflow is ``workflows/<name>/v<N>/api.json``. Before anything is submitted
the graph is linted: every input that the manifest decides must be a link from
ManifestLoader, never a literal ("never deviate"). Per attempt the orchestrator
fills exactly two things: ManifestLoader's ``manifest_json`` and NVENCEncode's
``job_id`` (the attempt id, which names the output file).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comfy_vidgen.errors import VidgenError
from comfy_vidgen.workflow_specs import parse_ref

INLINE_MANIFEST = "(inline manifest_json)"
LOADER = "ManifestLoader"
ENCODER = "NVENCEncode"

#: input names that carry manifest parameters: a literal there would deviate from the manifest
MANAGED_INPUTS = frozenset(
    {
        "seed",
        "noise_seed",
        "steps",
        "cfg",
        "min_cfg",
        "motion_bucket_id",
        "augmentation_level",
        "noise_aug_strength",
        "width",
        "height",
        "length",
        "video_frames",
        "target_frames",
        "fps",
        "frame_rate",
        "quality",
        "bit_depth",
        "camera_path",
    }
)

#: managed inputs ManifestLoader has no output for: a node whose ``manifest`` input is
#: linked to the loader reads them from the manifest itself (NVENCEncode: "the
#: manifest's output.quality wins"), so a literal widget value there is ignored
FROM_LINKED_MANIFEST = frozenset({"quality", "bit_depth"})


class WorkflowError(VidgenError):
    """A workflow graph is missing, malformed, or fails the lint."""


@dataclass(frozen=True)
class Workflow:
    ref: str
    graph: dict[str, Any]
    sha256: str
    path: str | None = None

    @property
    def loader_id(self) -> str:
        return _single(self.graph, LOADER)

    @property
    def encoder_ids(self) -> list[str]:
        return [k for k, v in self.graph.items() if v.get("class_type") == ENCODER]


def _single(graph: dict[str, Any], cls: str) -> str:
    ids = [k for k, v in graph.items() if isinstance(v, dict) and v.get("class_type") == cls]
    if len(ids) != 1:
        raise WorkflowError(f"the workflow needs exactly one {cls} node, found {len(ids)}")
    return ids[0]


def from_graph(ref: str, graph: dict[str, Any], path: str | None = None) -> Workflow:
    raw = json.dumps(graph, sort_keys=True, separators=(",", ":")).encode()
    return Workflow(ref, graph, hashlib.sha256(raw).hexdigest(), path)


def default_workflow_dirs() -> list[Path]:
    dirs = [Path(os.environ["VIDGEN_WORKFLOWS"])] if os.environ.get("VIDGEN_WORKFLOWS") else []
    dirs += [Path.cwd() / "workflows", Path(__file__).resolve().parent.parent / "workflows"]
    return dirs


def load_workflow(ref: str, dirs: list[Path] | None = None) -> Workflow:
    """``name@N`` -> ``<dir>/<name>/vN/api.json``; sha256 is of the file bytes as shipped."""
    name, version = parse_ref(ref)
    for d in dirs or default_workflow_dirs():
        p = d / name / f"v{version}" / "api.json"
        if p.is_file():
            data = p.read_bytes()
            try:
                graph = json.loads(data)
            except ValueError as e:
                raise WorkflowError(f"{p}: not valid JSON: {e}") from None
            if not isinstance(graph, dict):
                raise WorkflowError(f"{p}: an API-format workflow is a JSON object")
            return Workflow(ref, graph, hashlib.sha256(data).hexdigest(), str(p))
    where = ", ".join(str(d) for d in dirs or default_workflow_dirs())
    raise WorkflowError(f"workflow {ref}: no {name}/v{version}/api.json under {where}")


def lint(wf: Workflow) -> list[str]:
    """Problems that must stop submission (empty list = fine)."""
    problems: list[str] = []
    loaders = {
        str(k) for k, v in wf.graph.items() if isinstance(v, dict) and v.get("class_type") == LOADER
    }
    try:
        _single(wf.graph, LOADER)
    except WorkflowError as e:
        problems.append(str(e))
    if not wf.encoder_ids:
        problems.append(f"the workflow has no {ENCODER} node (nothing would be delivered)")
    for node_id, node in sorted(wf.graph.items()):
        if not isinstance(node, dict) or "class_type" not in node:
            problems.append(f"node {node_id}: not an API-format node (no class_type)")
            continue
        if node["class_type"] == LOADER:
            continue
        inputs = node.get("inputs") or {}
        link = inputs.get("manifest")
        takes_manifest = isinstance(link, list) and bool(link) and link[0] in loaders
        for name, value in inputs.items():
            if takes_manifest and name in FROM_LINKED_MANIFEST:
                continue
            if name in MANAGED_INPUTS and not isinstance(value, list):
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
    loader["manifest"] = INLINE_MANIFEST
    loader["manifest_json"] = manifest_json
    for eid in wf.encoder_ids:
        node(eid)["job_id"] = attempt_job_id
    return g
