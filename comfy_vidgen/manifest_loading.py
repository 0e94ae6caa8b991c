"""Loading a manifest where it runs (ComfyUI's input folder), confined to that folder.

Shared by the ManifestLoader node and the local engine so both apply the same
rules: the manifest file and the keyframe must resolve inside the input root,
the keyframe's sha256 must match, and the parameters come out in one fixed order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .manifest import (
    FieldError,
    Manifest,
    ManifestError,
    load_manifest,
    manifest_hash,
    parse_manifest,
    resolve_under,
    verify_keyframe,
)


@dataclass(frozen=True)
class LoadedManifest:
    manifest: Manifest
    manifest_hash: str
    keyframe_path: Path
    keyframe_rgb: NDArray[np.uint8] | None = None

    @property
    def key(self) -> str:
        """Cache identity: the manifest hash (which covers the keyframe's sha256)."""
        return self.manifest_hash

    def keyframe_float01(self) -> NDArray[np.float32]:
        if self.keyframe_rgb is None:
            raise ValueError("keyframe was not decoded")
        return self.keyframe_rgb.astype(np.float32) / np.float32(255.0)

    def parameters(self) -> tuple[int | float | str | bool, ...]:
        """seed, steps, cfg, min_cfg, motion_bucket_id, noise_aug_strength, width,
        height, frames, fps, prompt, negative_prompt, output_frames, model_fps,
        model_fps_int, scene_cut_guard (unused keys as 0 / '')."""
        g, o = self.manifest.generation, self.manifest.output
        fps = model_fps(self.manifest)
        return (
            g.seed or 0,
            g.steps or 0,
            float(g.cfg or 0.0),
            float(g.min_cfg or 0.0),
            g.motion_bucket_id or 0,
            float(g.noise_aug_strength or 0.0),
            o.width,
            o.height,
            g.frames or 0,
            o.fps,
            g.prompt or "",
            g.negative_prompt or "",
            o.frames,
            fps,
            max(1, round(fps)),
            self.manifest.interpolation.scene_cut_guard,
        )


def model_fps(m: Manifest) -> float:
    """The frame rate the model's frames represent once retimed to the output.

    ``generation.frames`` span the same duration as ``output.frames`` after RIFE, so
    the model is conditioned on (N-1) * fps / (M-1) (SVD's ``fps``, LTXV's
    ``frame_rate``): 25 -> 120 frames at 30 fps is 6.05 fps.
    """
    n = m.generation.frames or m.output.frames
    return (n - 1) * m.output.fps / (m.output.frames - 1)


def list_manifest_files(folder: Path) -> list[str]:
    """``*.json`` under ``folder`` (recursively), as POSIX paths relative to it."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.json") if p.is_file())


def load_for_node(
    input_dir: str | os.PathLike[str],
    choice: str,
    inline_json: str,
    inline_marker: str,
    *,
    decode: bool = True,
    manifests_subdir: str = "manifests",
) -> LoadedManifest:
    """Validate the chosen manifest and its keyframe, all confined to ``input_dir``."""
    root = Path(input_dir)
    if inline_json.strip():
        m = parse_manifest(inline_json, source="manifest_json")
    elif choice == inline_marker:
        raise ManifestError([FieldError("", "no manifest chosen and manifest_json is empty")])
    else:
        # confined to the input folder; '..' and absolute names are refused syntactically
        path = resolve_under(root, f"{manifests_subdir}/{choice}", what="manifest")
        m = load_manifest(path)
    keyframe = verify_keyframe(m, root)
    rgb = None
    if decode:
        from .images import load_rgb_array

        rgb = load_rgb_array(keyframe)
    return LoadedManifest(m, manifest_hash(m), keyframe, rgb)
