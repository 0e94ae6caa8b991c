"""Helpers for tests and benchmarks of the orchestrator (graphs, manifests, probe).

Importable by any test suite that needs a fake rack (e.g. the proxy tests).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.workflow import INLINE_MANIFEST, Workflow, from_graph


def build_test_graph(
    *, literal_fps: int | None = None, drop_input: str | None = None
) -> dict[str, Any]:
    """ManifestLoader -> VirtualCamera -> RIFEInterpolate -> NVENCEncode (API format).

    ``literal_fps`` puts a literal on a manifest parameter (the lint must refuse it);
    ``drop_input`` removes a required NVENCEncode input (ComfyUI validation must refuse it).
    """
    g: dict[str, Any] = {
        "1": {
            "class_type": "ManifestLoader",
            "inputs": {"manifest": INLINE_MANIFEST, "manifest_json": ""},
        },
        "2": {"class_type": "VirtualCamera", "inputs": {"image": ["1", 0], "manifest": ["1", 1]}},
        "3": {
            "class_type": "RIFEInterpolate",
            "inputs": {"frames": ["2", 0], "target_frames": ["1", 10]},
        },
        "4": {
            "class_type": "NVENCEncode",
            "inputs": {"frames": ["3", 0], "fps": ["1", 11], "job_id": "", "manifest": ["1", 1]},
        },
    }
    if literal_fps is not None:
        g["4"]["inputs"]["fps"] = literal_fps
    if drop_input is not None:
        g["4"]["inputs"].pop(drop_input)
    return g


def build_test_workflow(**kw: Any) -> Workflow:
    return from_graph("camera_only@1", build_test_graph(**kw))


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
) -> list[Path]:
    """``n`` valid camera_only manifests (distinct seeds) for one keyframe under ``input_root``."""
    from comfy_vidgen.images import probe_image
    from comfy_vidgen.manifest import build_manifest, dumps_pretty, full_crop

    info = probe_image(keyframe)
    start = full_crop(info.width, info.height, *size)
    end = {
        "x": start["x"] + start["w"] * 0.25,
        "y": start["y"] + start["h"] * 0.25,
        "w": start["w"] * 0.5,
        "h": start["h"] * 0.5,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        m = build_manifest(
            keyframe=keyframe,
            input_root=input_root,
            motion_type="zoom_in",
            start=start,
            end=end,
            workflow="camera_only@1",
            seed=i,
            size=size,
            manifest_id=f"{prefix}{i:05d}",
            output={"frames": frames, "fps": fps},
        )
        p = out_dir / f"{prefix}{i:05d}.json"
        p.write_text(dumps_pretty(m))
        paths.append(p)
    return paths


def probe_for_tests() -> Any:
    """The production probe (``comfy_vidgen.encode.probe`` once it exists, else PyAV)."""
    from orchestrator.verify import default_probe

    return default_probe


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())
