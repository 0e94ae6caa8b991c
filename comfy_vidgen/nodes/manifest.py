"""ManifestLoader: the single entry point of every workflow's parameters.

Every parameter that reaches a sampler, the interpolator or the encoder is an
output of this node, so a graph cannot deviate from its manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import parameters
from ..manifest_loading import (
    INLINE_CHOICE,
    MANIFEST_SUBDIR,
    LoadedManifest,
    choose_manifest,
    list_manifest_files,
    load_for_node,
)
from ..workflow_specs import all_specs

#: kept for importers of the released node module
INLINE = INLINE_CHOICE


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
    # derived from the parameter table (comfy_vidgen/parameters.py): one row per output
    RETURN_TYPES = (
        *(t for _, t, _ in parameters.LEADING_OUTPUTS),
        *(list(p.comfy_type) if isinstance(p.comfy_type, tuple) else p.comfy_type
          for p in parameters.PARAMETERS),
    )  # fmt: skip
    RETURN_NAMES = parameters.loader_output_names()
    OUTPUT_TOOLTIPS = (
        *(tip for _, _, tip in parameters.LEADING_OUTPUTS),
        *(p.tooltip for p in parameters.PARAMETERS),
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
                    [INLINE_CHOICE, *files],
                    {
                        "tooltip": "A manifest file from ComfyUI's input/manifests/ folder, or "
                        f"'{INLINE_CHOICE}' to use the manifest_json text below."
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
                "workflow": (
                    "STRING",
                    {
                        "default": "",
                        "tooltip": "The workflow this graph implements (name@version, set by "
                        "the workflow builder). A manifest made for another workflow is "
                        "refused before anything runs. Empty (the @1 graphs): not checked.",
                    },
                ),
            },
        }

    @classmethod
    def IS_CHANGED(cls, manifest: str, manifest_json: str = "", workflow: str = "") -> str:
        # The manifest hash (and keyframe hash inside it) is the identity of the
        # result: a changed file under the same name must re-run.
        try:
            return load_for_node(
                _input_dir(), manifest, manifest_json, workflow=workflow, decode=False
            ).key
        except Exception as e:  # let execution report the error properly
            return f"error:{e}"

    @classmethod
    def VALIDATE_INPUTS(
        cls, manifest: str, manifest_json: str = "", workflow: str = ""
    ) -> bool | str:
        """Runs at ``/prompt`` validation, before any node executes: a manifest of
        another workflow than the graph declares is refused here, naming both."""
        if manifest == INLINE_CHOICE and not manifest_json.strip():
            return "choose a manifest file or fill manifest_json"
        if workflow and workflow not in all_specs():
            known = ", ".join(sorted(all_specs()))
            return f"workflow {workflow!r} is not a workflow this pack ships ({known})"
        if workflow:
            from ..manifest import ManifestError

            root = None if manifest_json.strip() else _input_dir()
            try:
                choose_manifest(root, manifest, manifest_json, workflow=workflow)
            except ManifestError as e:
                return str(e)
        return True

    def load(self, manifest: str, manifest_json: str = "", workflow: str = "") -> tuple[Any, ...]:
        loaded: LoadedManifest = load_for_node(
            _input_dir(), manifest, manifest_json, workflow=workflow
        )
        import torch

        image = torch.from_numpy(loaded.keyframe_float01()).unsqueeze(0)
        return (image, loaded.manifest, *loaded.parameters())


NODE_CLASS_MAPPINGS = {"ManifestLoader": ManifestLoader}
NODE_DISPLAY_NAME_MAPPINGS = {"ManifestLoader": "Manifest Loader (vidgen)"}
