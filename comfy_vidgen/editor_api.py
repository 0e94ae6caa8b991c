"""Request handling for the camera-path editor's routes, free of ComfyUI and aiohttp.

The web editor (``comfy_vidgen/web``) calls four routes that the pack registers
in ComfyUI (``nodes/routes.py``): ``POST /vidgen/suggest`` (ranked camera paths
for an input-folder image, the same ``suggest_paths`` as ``vidgen camera
suggest``), ``POST /vidgen/save_manifest`` (a validated manifest built from what
the artist drew, written atomically to ``input/manifests/<name>.json``, where
ManifestLoader lists it) and ``POST /vidgen/manifest_info`` (the keyframe, camera
and output of the manifest a ManifestLoader has selected) and ``POST
/vidgen/manifest_workflows`` (which workflow each listed manifest is made for, so
a ManifestLoader offers only the manifests of its graph's workflow). Everything a
request names is confined to the input folder; a malformed body or a path
outside it is a 400 with a message naming the field, never a traceback.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import VidgenError
from .manifest import EASINGS, MOTION_TYPES, ManifestError, resolve_under
from .manifest_loading import MANIFEST_SUBDIR, list_manifest_files
from .workflow_specs import DEFAULT_WORKFLOW

if TYPE_CHECKING:
    from .manifest_loading import LoadedManifest

#: request bodies larger than this are refused unread
MAX_BODY_BYTES = 64 * 1024
#: manifest file names the save route accepts (written as ``<name>.json``)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,122}$")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"})
#: ComfyUI's annotated file names ("x.png [input]"); only the input folder is served here
_ANNOTATION = re.compile(r"^(?P<name>.*?)\s*\[(?P<kind>input|output|temp)\]$")


class EditorRequestError(VidgenError):
    """A request the editor routes refuse; ``status`` is the HTTP status to answer."""

    status = 400

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class EditorNotFound(EditorRequestError):
    status = 404


class EditorConflict(EditorRequestError):
    status = 409


@dataclass(frozen=True)
class Response:
    """What a route answers: an HTTP status and a JSON-serialisable body."""

    status: int
    body: dict[str, Any]


# --------------------------------------------------------------------------- parsing


def parse_body(raw: bytes) -> dict[str, Any]:
    """A JSON object from a request body; anything else is a 400."""
    if len(raw) > MAX_BODY_BYTES:
        raise EditorRequestError(f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise EditorRequestError(f"request body is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise EditorRequestError(f"request body must be a JSON object, got {type(obj).__name__}")
    return obj


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")


def _int(body: dict[str, Any], key: str, lo: int, hi: int, default: int | None = None) -> int:
    v = body.get(key, default)
    if v is None:
        raise EditorRequestError(f"{key} is required (an integer {lo}..{hi})")
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise EditorRequestError(f"{key} must be an integer {lo}..{hi}, got {v!r}")
    return v


def _choice(body: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None) -> str:
    v = body.get(key, default)
    if not isinstance(v, str) or v not in allowed:
        raise EditorRequestError(f"{key} must be one of {', '.join(allowed)}, got {v!r}")
    return v


def _crop(body: dict[str, Any], key: str) -> dict[str, float]:
    v = body.get(key)
    if not isinstance(v, dict) or set(v) != {"x", "y", "w", "h"}:
        raise EditorRequestError(
            f"{key} must be an object with exactly x, y, w, h (0..1), got {v!r}"
        )
    out: dict[str, float] = {}
    for k in ("x", "y", "w", "h"):
        c = v[k]
        if isinstance(c, bool) or not isinstance(c, int | float) or not math.isfinite(c):
            raise EditorRequestError(f"{key}.{k} must be a number 0..1, got {c!r}")
        out[k] = float(c)
    return out


def input_image(input_dir: str | Path, name: object) -> Path:
    """Resolve an image name as ComfyUI's LoadImage lists it, confined to the input folder."""
    if not isinstance(name, str) or not name.strip():
        raise EditorRequestError(f"image must be a file name from the input folder, got {name!r}")
    rel = name.strip()
    m = _ANNOTATION.match(rel)
    if m:
        if m["kind"] != "input":
            raise EditorRequestError(f"image: input-folder images only, got a [{m['kind']}] file")
        rel = m["name"]
    if Path(rel).suffix.lower() not in IMAGE_SUFFIXES:
        allowed = ", ".join(sorted(IMAGE_SUFFIXES))
        raise EditorRequestError(f"image must be one of {allowed}, got {rel!r}")
    try:
        return resolve_under(input_dir, rel, what="image")
    except ManifestError as e:
        msg = "; ".join(err.msg for err in e.errors)
        cls = EditorNotFound if "not found" in msg else EditorRequestError
        raise cls(f"image: {msg}", [err.as_dict() for err in e.errors]) from None


# --------------------------------------------------------------------------- routes


def suggest(input_dir: str | Path, body: dict[str, Any]) -> dict[str, Any]:
    """Ranked camera paths for an input-folder image, as ``vidgen camera suggest --json``."""
    from .camera.suggest import suggest_paths
    from .images import ImageError, load_rgb_array, probe_image

    path = input_image(input_dir, body.get("image"))
    width = _int(body, "width", 16, 4096)
    height = _int(body, "height", 16, 4096)
    n = _int(body, "n", 1, 10, default=3)
    easing = _choice(body, "easing", EASINGS, "ease_in_out")
    try:
        info = probe_image(path)
        # as `vidgen camera suggest`: JPEGs decode at a reduced scale (crops are normalised)
        rgb = load_rgb_array(path, min_size=512)
    except ImageError as e:
        raise EditorRequestError(f"image: {e}") from None
    found = suggest_paths(rgb, (width, height), n, easing=easing)
    return {
        "image": body["image"],
        "image_size": [info.width, info.height],
        "size": [width, height],
        "suggestions": [s.as_dict() for s in found],
    }


def manifest_name(name: object) -> str:
    """``<name>.json`` for a validated name (letters, digits, ``._-``; no folders)."""
    if not isinstance(name, str):
        raise EditorRequestError(f"name must be a string, got {name!r}")
    stem = name[:-5] if name.lower().endswith(".json") else name
    if not NAME_PATTERN.match(stem) or ".." in stem:
        raise EditorRequestError(
            f"name must be 1-123 letters, digits, '.', '_' or '-' (starting with a letter or "
            f"digit, no folders), got {name!r}"
        )
    return f"{stem}.json"


def save_manifest(input_dir: str | Path, body: dict[str, Any]) -> dict[str, Any]:
    """Build a manifest from the editor's values and write it atomically into the input folder."""
    from .fsutil import atomic_write_text
    from .manifest import build_manifest, dumps_pretty, manifest_dict, manifest_hash
    from .workflow_specs import all_specs

    filename = manifest_name(body.get("name"))
    image = input_image(input_dir, body.get("image"))
    motion = _choice(body, "motion_type", MOTION_TYPES, None)
    easing = _choice(body, "easing", EASINGS, "ease_in_out")
    start, end = _crop(body, "start"), _crop(body, "end")
    width = _int(body, "width", 64, 4096)
    height = _int(body, "height", 64, 4096)
    seed = _int(body, "seed", 0, 2**63 - 1, default=0)
    workflow = body.get("workflow", DEFAULT_WORKFLOW)
    specs = all_specs()
    if not isinstance(workflow, str) or workflow not in specs:
        raise EditorRequestError(
            f"workflow must be one of {', '.join(sorted(specs))}, got {workflow!r}"
        )
    overwrite = body.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise EditorRequestError(f"overwrite must be true or false, got {overwrite!r}")
    generation: dict[str, Any] = {}
    output: dict[str, Any] = {}
    interpolation: dict[str, Any] | None = None
    if body.get("base") is not None:
        # drawn over a ManifestLoader's manifest: everything but the camera and size carries over
        m0 = _load_choice(input_dir, body["base"]).manifest
        if "workflow" in body and workflow != m0.generation.workflow:
            raise EditorRequestError(
                f"the graph is {workflow} but the manifest it was drawn over is for "
                f"{m0.generation.workflow}"
            )
        workflow, seed = m0.generation.workflow, m0.generation.seed or 0
        generation = m0.generation.params()
        output = m0.output.model_dump(mode="json", exclude={"width", "height"}, exclude_none=True)
        interpolation = m0.interpolation.model_dump(mode="json")
    elif body.get("length") is not None and "frames" in specs[workflow].params:
        # the node's `length` is the model-native frame count the workflow generates
        generation["frames"] = _int(body, "length", 2, 257)
    rel = f"{MANIFEST_SUBDIR}/{filename}"
    target = Path(input_dir).resolve() / MANIFEST_SUBDIR / filename
    if target.exists() and not overwrite:
        raise EditorConflict(f"{rel} already exists in the input folder (send overwrite: true)")
    try:
        m = build_manifest(
            keyframe=image,
            input_root=input_dir,
            motion_type=motion,
            start=start,
            end=end,
            workflow=workflow,
            seed=seed,
            size=(width, height),
            easing=easing,
            manifest_id=filename[:-5],
            output=output,
            generation=generation,
            interpolation=interpolation,
        )
    except ManifestError as e:
        raise EditorRequestError(str(e), [err.as_dict() for err in e.errors]) from None
    atomic_write_text(target, dumps_pretty(m))
    return {"path": rel, "manifest_hash": manifest_hash(m), "manifest": manifest_dict(m)}


def _load_choice(input_dir: str | Path, body: object) -> LoadedManifest:
    """The LoadedManifest for a ManifestLoader choice {manifest, manifest_json}, keyframe checked."""
    from .manifest_loading import load_for_node

    if not isinstance(body, dict):
        raise EditorRequestError(f"expected an object {{manifest, manifest_json}}, got {body!r}")
    choice = body.get("manifest")
    inline = body.get("manifest_json", "")
    if not isinstance(choice, str) or not isinstance(inline, str):
        raise EditorRequestError("manifest and manifest_json must be strings")
    if not inline.strip() and not choice.endswith(".json"):
        raise EditorRequestError(
            f"manifest must name a .json file in input/manifests/, got {choice!r}"
        )
    try:
        return load_for_node(input_dir, choice, inline, decode=False)
    except ManifestError as e:
        msg = "; ".join(f"{err.loc or 'manifest'}: {err.msg}" for err in e.errors)
        cls = EditorNotFound if "not found" in msg else EditorRequestError
        raise cls(msg, [err.as_dict() for err in e.errors]) from None


def manifest_info(input_dir: str | Path, body: dict[str, Any]) -> dict[str, Any]:
    """Keyframe, camera and output of a ManifestLoader choice (file or inline JSON), checked."""
    loaded = _load_choice(input_dir, body)
    m = loaded.manifest
    return {
        "image": m.keyframe.path,
        "image_size": [m.keyframe.width, m.keyframe.height],
        "camera": m.camera.model_dump(mode="json"),
        "output": m.output.model_dump(mode="json", include={"width", "height", "fps", "frames"}),
        "generation_frames": m.generation.frames,
        "manifest_hash": loaded.key,
    }


#: a manifest is a few KiB; a larger file in the folder is not one to read for its workflow
MAX_MANIFEST_BYTES = 1024 * 1024


def _declared_workflow(path: Path) -> str | None:
    """``generation.workflow`` of a manifest file, or None when it is unreadable or absent.

    Only this one field is read, not the whole manifest validated: the list is for
    narrowing a dropdown, and ManifestLoader validates the file chosen anyway.
    """
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    gen = data.get("generation") if isinstance(data, dict) else None
    wf = gen.get("workflow") if isinstance(gen, dict) else None
    return wf if isinstance(wf, str) else None


def manifest_workflows(input_dir: str | Path, body: dict[str, Any]) -> dict[str, Any]:
    """The workflow each manifest in ``input/manifests/`` is made for (None: unreadable),
    keyed by the names ManifestLoader lists; symlinks leaving the input folder are skipped."""
    root = Path(input_dir).resolve()
    folder = root / MANIFEST_SUBDIR
    out: dict[str, str | None] = {}
    for name in list_manifest_files(folder):
        path = (folder / name).resolve()
        if path.is_relative_to(root):
            out[name] = _declared_workflow(path)
    return {"manifests": out}


ROUTES = {
    "suggest": suggest,
    "save_manifest": save_manifest,
    "manifest_info": manifest_info,
    "manifest_workflows": manifest_workflows,
}


def handle(route: str, input_dir: str | Path, raw: bytes) -> Response:
    """Run one editor route on a raw request body; expected mistakes become 4xx answers."""
    try:
        body = parse_body(raw)
        return Response(200, ROUTES[route](input_dir, body))
    except EditorRequestError as e:
        return Response(e.status, {"error": str(e), "errors": e.errors})
    except VidgenError as e:  # e.g. a keyframe the camera code refuses
        return Response(400, {"error": str(e), "errors": []})
