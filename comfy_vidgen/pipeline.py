"""The local engine: the ``camera_only`` workflow in-process, without ComfyUI.

It composes exactly what the workflow's nodes run (ManifestLoader's checks, the
virtual camera, RIFE, the delivery encoder), so a clip made on a laptop and one made on
the rack from the same manifest differ only in the encoder actually used. The
orchestrator's LocalEngine wraps it with the ledger, verification and audit.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import VidgenError
from .manifest import Manifest, verify_keyframe

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


class PipelineError(VidgenError):
    """The manifest cannot be run by the local engine (e.g. not camera_only)."""


@dataclass(frozen=True)
class PipelineResult:
    mp4: Path
    sha256: str
    sidecar: Path | None
    encoder: str
    encoder_reason: str
    frames: int
    timings: dict[str, float] = field(default_factory=dict)


def graph_timing(ref: str) -> str:
    """The retime timing the rack runs for workflow ``ref``: its RIFEInterpolate's literal
    ``timing``, or the released default of a graph that sets none (the @1 graphs).

    Why: the local engine must compute what ComfyUI would for the same manifest and
    workflow version; the default of a new node is not what a released graph runs.
    """
    from .interpolate import RELEASED_GRAPH_TIMING, TIMINGS
    from .workflow_graph import load_workflow, single_node

    wf = load_workflow(ref)
    inputs = wf.api[single_node(wf.api, "RIFEInterpolate")].get("inputs", {})
    timing = inputs.get("timing", RELEASED_GRAPH_TIMING)
    if timing not in TIMINGS:
        raise PipelineError(
            f"workflow {ref}: RIFEInterpolate timing must be a literal of "
            f"{', '.join(TIMINGS)} for the local engine, got {timing!r}"
        )
    return str(timing)


def run_camera_only(
    manifest: Manifest,
    input_root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    job_id: str,
    on_progress: ProgressFn | None = None,
    *,
    device: str = "cpu",
    encoder: str = "auto",
) -> PipelineResult:
    """Render ``generation.frames`` frames of the camera path, retime them to
    ``output.frames`` with RIFE, and encode the delivery file with its sidecar.

    ``on_progress(done, total)`` ticks over render + retime + encode and is the
    interrupt point (raise from it to stop; nothing is left at the final path).
    """
    if manifest.generation.workflow.split("@")[0] != "camera_only":
        raise PipelineError(
            f"the local engine runs camera_only workflows; {manifest.generation.workflow} "
            "needs a GPU rack (--engine comfyui)"
        )
    import numpy as np
    import torch

    from .camera import CameraPath, render_path
    from .encode.delivery import deliver
    from .images import load_rgb_array
    from .interpolate import retime
    from .interpolate.cache import cached_cpu_model, device_copy
    from .models import require

    timing = graph_timing(manifest.generation.workflow)
    n = manifest.generation.frames or 25
    m_out = manifest.output.frames
    size = (manifest.output.width, manifest.output.height)
    total = n + 2 * m_out
    offsets = {"render": 0, "retime": n, "encode": n + m_out}

    def stage(name: str) -> ProgressFn | None:
        if on_progress is None:
            return None
        base = offsets[name]
        cb = on_progress

        def tick(done: int, _total: int) -> None:
            cb(base + done, total)

        return tick

    timings: dict[str, float] = {}
    t = time.perf_counter()
    keyframe_path = verify_keyframe(manifest, input_root)
    keyframe = load_rgb_array(keyframe_path)
    path = CameraPath.from_manifest(manifest)
    timings["load"] = time.perf_counter() - t

    t = time.perf_counter()
    frames = np.stack(list(render_path(keyframe, path, n, size, stage("render"))))
    timings["render"] = time.perf_counter() - t

    t = time.perf_counter()
    weights = require(manifest.interpolation.model)
    model = device_copy(cached_cpu_model(weights), device)
    batch = torch.from_numpy(frames).float().div_(255.0)
    del frames
    retimed = retime(
        batch,
        m_out,
        model,
        scene_cut_guard=manifest.interpolation.scene_cut_guard,
        timing=timing,
        on_progress=stage("retime"),
    )
    del batch
    timings["retime"] = time.perf_counter() - t

    t = time.perf_counter()
    delivery = deliver(
        retimed.frames,
        out_dir,
        fps=manifest.output.fps,
        quality=manifest.output.quality,
        bit_depth=manifest.output.bit_depth,
        encoder=encoder,
        job_id=job_id,
        manifest=manifest,
        input_dir=input_root,
        on_progress=stage("encode"),
    )
    timings["encode"] = time.perf_counter() - t
    r = delivery.result
    sidecar = Path(r.path).with_suffix(".json")
    log.info(
        "%s: %d -> %d frames, %s, %s", job_id, n, m_out, r.encoder,
        ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()),
    )  # fmt: skip
    return PipelineResult(
        mp4=Path(r.path),
        sha256=r.sha256,
        sidecar=sidecar if sidecar.is_file() else None,
        encoder=r.encoder,
        encoder_reason=r.encoder_reason,
        frames=r.frames,
        timings=timings,
    )
