"""What the orchestrator tests and benchmarks submit: graphs, workflows, manifests, probe.

Graphs are the committed ``camera_only@1`` workflow, edited where a test needs a
broken one; never a graph written by hand.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from comfy_vidgen.workflow_graph import load_object_info
from orchestrator.workflow import Workflow, from_graph, load_workflow

TEST_WORKFLOW = "camera_only@1"


def _node(graph: dict[str, Any], class_type: str) -> dict[str, Any]:
    (node,) = (n for n in graph.values() if n["class_type"] == class_type)
    inputs: dict[str, Any] = node["inputs"]
    return inputs


def build_test_graph(
    *,
    literal_fps: int | None = None,
    drop_input: str | None = None,
    relink: dict[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    """The committed ``camera_only@1`` API graph (a copy), with optional edits.

    ``literal_fps`` puts a literal on NVENCEncode's fps (the lint must refuse it);
    ``drop_input`` removes that NVENCEncode input (ComfyUI validation refuses a
    required one); ``relink`` maps ``(class_type, input)`` to the ManifestLoader output
    it is linked to instead, e.g. ``{("RIFEInterpolate", "target_frames"): "frames"}``.
    """
    g = copy.deepcopy(load_workflow(TEST_WORKFLOW).graph)
    encode = _node(g, "NVENCEncode")
    if literal_fps is not None:
        encode["fps"] = literal_fps
    if drop_input is not None:
        encode.pop(drop_input)
    (loader,) = (k for k, n in g.items() if n["class_type"] == "ManifestLoader")
    names = load_object_info()["ManifestLoader"]["output_name"]
    for (class_type, name), output in (relink or {}).items():
        _node(g, class_type)[name] = [loader, names.index(output)]
    return g


def build_test_workflow(**kw: Any) -> Workflow:
    return from_graph(TEST_WORKFLOW, build_test_graph(**kw))


def write_test_manifests(
    input_root: Path,
    out_dir: Path,
    n: int,
    *,
    keyframe: Path,
    size: tuple[int, int] = (64, 64),
    frames: int = 8,
    fps: int = 8,
    prefix: str = "shot",
    workflow: str = "camera_only@1",
    motion: str = "zoom_in",
    gen_frames: int | None = None,
) -> list[Path]:
    """``n`` valid camera_only manifests (distinct seeds) for one keyframe under ``input_root``;
    ``gen_frames`` (default: the spec's) is what the virtual camera renders before RIFE."""
    from comfy_vidgen.images import probe_image
    from comfy_vidgen.manifest import build_manifest, dumps_pretty, full_crop

    info = probe_image(keyframe)
    start = full_crop(info.width, info.height, *size)
    end = start if motion == "static" else {
        "x": start["x"] + start["w"] * 0.25,
        "y": start["y"] + start["h"] * 0.25,
        "w": start["w"] * 0.5,
        "h": start["h"] * 0.5,
    }  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        m = build_manifest(
            keyframe=keyframe,
            input_root=input_root,
            motion_type=motion,
            start=start,
            end=end,
            workflow=workflow,
            seed=i,
            size=size,
            manifest_id=f"{prefix}{i:05d}",
            output={"frames": frames, "fps": fps},
            generation={"frames": gen_frames} if gen_frames is not None else None,
        )
        p = out_dir / f"{prefix}{i:05d}.json"
        p.write_text(dumps_pretty(m))
        paths.append(p)
    return paths


def probe_for_tests() -> Any:
    """The production probe (decodes and counts frames)."""
    from orchestrator.verify import default_probe

    return default_probe
