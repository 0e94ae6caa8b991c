"""Loading a manifest where it runs (ComfyUI's input folder), confined to that folder.

Shared by the ManifestLoader node and the local engine so both apply the same
rules: the manifest file and the keyframe must resolve inside the input root,
the keyframe's sha256 must match, and the parameters come out as the parameter table
(``parameters.py``) says.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import parameters
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

    def outputs(self) -> dict[str, Any]:
        """Every parameter output of ManifestLoader for this manifest, by name."""
        return parameters.values(self.manifest)

    def parameters(self) -> tuple[Any, ...]:
        """The parameter outputs in ManifestLoader's slot order (after keyframe, manifest)."""
        return tuple(self.outputs().values())


#: the manifest choice that means "use the manifest_json text" (what the orchestrator sends)
INLINE_CHOICE = "(inline manifest_json)"
MANIFEST_SUBDIR = "manifests"


def list_manifest_files(folder: Path) -> list[str]:
    """``*.json`` under ``folder`` (recursively), as POSIX paths relative to it."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.json") if p.is_file())


def check_declared_workflow(m: Manifest, declared: str) -> None:
    """Refuse a manifest made for another workflow than the graph declares.

    ``declared`` is the id a self-declaring graph (``@2`` and later) carries in its
    ManifestLoader; ``""`` (the ``@1`` graphs) checks nothing.
    """
    if declared and m.generation.workflow != declared:
        wanted = m.generation.workflow
        raise ManifestError(
            [
                FieldError(
                    "generation.workflow",
                    f"the manifest is for {wanted} but this graph is {declared}: "
                    f"run it with the {wanted} workflow, or make a {declared} manifest",
                )
            ]
        )


def choose_manifest(
    input_dir: str | os.PathLike[str] | None, choice: str, inline_json: str, *, workflow: str = ""
) -> Manifest:
    """The validated manifest a ManifestLoader's inputs select (keyframe not yet checked);
    ``input_dir`` is needed only for a file choice."""
    if inline_json.strip():
        m = parse_manifest(inline_json, source="manifest_json")
    elif choice == INLINE_CHOICE:
        raise ManifestError([FieldError("", "no manifest chosen and manifest_json is empty")])
    elif input_dir is None:
        raise ValueError("a manifest file choice needs the input folder")
    else:
        # confined to the input folder; '..' and absolute names are refused syntactically
        path = resolve_under(Path(input_dir), f"{MANIFEST_SUBDIR}/{choice}", what="manifest")
        m = load_manifest(path)
    check_declared_workflow(m, workflow)
    return m


def load_for_node(
    input_dir: str | os.PathLike[str],
    choice: str,
    inline_json: str,
    *,
    workflow: str = "",
    decode: bool = True,
) -> LoadedManifest:
    """Validate the chosen manifest and its keyframe, all confined to ``input_dir``."""
    root = Path(input_dir)
    m = choose_manifest(root, choice, inline_json, workflow=workflow)
    keyframe = verify_keyframe(m, root)
    rgb = None
    if decode:
        from .images import load_rgb_array

        rgb = load_rgb_array(keyframe)
    return LoadedManifest(m, manifest_hash(m), keyframe, rgb)
