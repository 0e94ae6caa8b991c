"""ManifestLoader: the single entry point of every workflow's parameters.

Every parameter that reaches a sampler, the interpolator or the encoder is an
output of this node, so a graph cannot deviate from its manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..manifest_loading import LoadedManifest, list_manifest_files, load_for_node

INLINE = "(inline manifest_json)"
MANIFEST_SUBDIR = "manifests"


def _input_dir() -> Path:
    from ._comfy import input_directory

    return input_directory()


class ManifestLoader:
    """Validated manifest + keyframe in, typed generation parameters out."""

    CATEGORY = "vidgen/manifest"
    FUNCTION = "load"
    DESCRIPTION = (
        "Loads and strictly validates a comfy-vidgen manifest (from input/manifests/ or inline "
        "JSON sent by the orchestrator), checks the keyframe's sha256, and outputs the keyframe "
        "and every generation parameter, so the graph never carries its own literals."
    )
    RETURN_TYPES = (
        "IMAGE",
        "VIDGEN_MANIFEST",
        "INT",
        "INT",
        "FLOAT",
        "FLOAT",
        "INT",
        "FLOAT",
        "INT",
        "INT",
        "INT",
        "INT",
        "STRING",
        "STRING",
        "INT",
        "FLOAT",
        "INT",
        "BOOLEAN",
    )
    RETURN_NAMES = (
        "keyframe",
        "manifest",
        "seed",
        "steps",
        "cfg",
        "min_cfg",
        "motion_bucket_id",
        "noise_aug_strength",
        "width",
        "height",
        "frames",
        "fps",
        "prompt",
        "negative_prompt",
        "output_frames",
        "model_fps",
        "model_fps_int",
        "scene_cut_guard",
    )
    OUTPUT_TOOLTIPS = (
        "The keyframe as displayed (EXIF-oriented, sRGB), full resolution, [1,H,W,3].",
        "The validated manifest object for the vidgen nodes downstream.",
        "generation.seed (uint64; ComfyUI samplers take it as is).",
        "generation.steps (0 when the workflow does not use it).",
        "generation.cfg (0 when unused).",
        "generation.min_cfg (0 when unused).",
        "generation.motion_bucket_id (0 when unused).",
        "generation.noise_aug_strength (0 when unused).",
        "output.width in pixels.",
        "output.height in pixels.",
        "generation.frames: the model-native frame count (e.g. 25).",
        "output.fps.",
        "generation.prompt ('' when unused).",
        "generation.negative_prompt ('' when unused).",
        "output.frames: the delivered frame count (RIFE's target, e.g. 120).",
        "The rate the model's frames represent after retiming: (frames-1)*fps/(output_frames-1).",
        "model_fps rounded, for conditioning inputs that take an INT (SVD's fps).",
        "interpolation.scene_cut_guard for RIFEInterpolate.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        try:
            files = list_manifest_files(_input_dir() / MANIFEST_SUBDIR)
        except Exception:  # outside ComfyUI: no input folder to list
            files = []
        return {
            "required": {
                "manifest": (
                    [INLINE, *files],
                    {
                        "tooltip": "A manifest file from ComfyUI's input/manifests/ folder, or "
                        f"'{INLINE}' to use the manifest_json text below."
                    },
                ),
            },
            "optional": {
                "manifest_json": (
                    "STRING",
                    {
                        "multiline": True,
                        "default": "",
                        "tooltip": "Inline manifest JSON (what the orchestrator sends). When "
                        "non-empty it takes precedence over the file choice.",
                    },
                ),
            },
        }

    @classmethod
    def IS_CHANGED(cls, manifest: str, manifest_json: str = "") -> str:
        # The manifest hash (and keyframe hash inside it) is the identity of the
        # result: a changed file under the same name must re-run.
        try:
            return load_for_node(_input_dir(), manifest, manifest_json, INLINE, decode=False).key
        except Exception as e:  # let execution report the error properly
            return f"error:{e}"

    @classmethod
    def VALIDATE_INPUTS(cls, manifest: str, manifest_json: str = "") -> bool | str:
        if manifest == INLINE and not manifest_json.strip():
            return "choose a manifest file or fill manifest_json"
        return True

    def load(self, manifest: str, manifest_json: str = "") -> tuple[Any, ...]:
        loaded: LoadedManifest = load_for_node(_input_dir(), manifest, manifest_json, INLINE)
        import torch

        image = torch.from_numpy(loaded.keyframe_float01()).unsqueeze(0)
        return (image, loaded.manifest, *loaded.parameters())


NODE_CLASS_MAPPINGS = {"ManifestLoader": ManifestLoader}
NODE_DISPLAY_NAME_MAPPINGS = {"ManifestLoader": "Manifest Loader (vidgen)"}
