"""The manifest: the contract between the control machine and the GPU rack.

Validation is strict (unknown keys refused, no type coercion, every number
bounded, NaN/Inf and duplicate JSON keys refused) and the identity of a manifest
is ``manifest_hash``: the sha256 of its canonical JSON, computed from the
*validated* content so that key order, whitespace and equivalent number
spellings (``1``/``1.0``/``1e0`` for a float field) never change it. See
``docs/architecture.md`` ("The manifest") for the exact canonical form.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .errors import VidgenError
from .fsutil import sha256_file
from .workflow_specs import WorkflowSpec, all_specs, parse_ref

SCHEMA_ID = "comfy-vidgen/manifest@1"
#: manifest files larger than this are refused without being read
MAX_MANIFEST_BYTES = 1 << 20
#: aspect tolerance between a crop (in keyframe pixels) and the output size
ASPECT_TOLERANCE = 0.01
#: below this relative change a crop is considered not to move / not to scale
GEOMETRY_EPS = 1e-4
UINT64_MAX = 2**64 - 1

MotionType = Literal[
    "static",
    "pan_left",
    "pan_right",
    "tilt_up",
    "tilt_down",
    "zoom_in",
    "zoom_out",
    "dolly_in",
    "dolly_out",
    "custom",
]
Easing = Literal["linear", "ease_in", "ease_out", "ease_in_out"]
MOTION_TYPES: tuple[str, ...] = MotionType.__args__  # type: ignore[attr-defined]
EASINGS: tuple[str, ...] = Easing.__args__  # type: ignore[attr-defined]

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, allow_inf_nan=False, validate_default=False
    )


def _check_relative_posix(value: str, what: str) -> str:
    """Refuse paths that could leave the input root before touching the filesystem."""
    if "\x00" in value:
        raise PydanticCustomError("path_nul", f"{what} contains a NUL byte")
    if "\\" in value:
        raise PydanticCustomError("path_backslash", f"{what} must use '/' separators, not '\\'")
    if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
        raise PydanticCustomError(
            "path_absolute", f"{what} must be relative to the input root, got absolute {value!r}"
        )
    parts = value.split("/")
    if ".." in parts:
        raise PydanticCustomError("path_traversal", f"{what} must not contain '..' ({value!r})")
    if not value.strip("/.") or value.endswith("/"):
        raise PydanticCustomError("path_empty", f"{what} must name a file")
    return value


class Crop(_Strict):
    """A rectangle normalised to the keyframe: 0..1 on both axes, inside the image."""

    # fields of every model are declared in alphabetical order: the canonical
    # JSON is the model's own serialisation, whose key order is declaration order
    h: Annotated[float, Field(gt=0.0, le=1.0)]
    w: Annotated[float, Field(gt=0.0, le=1.0)]
    x: Unit
    y: Unit

    @model_validator(mode="after")
    def _inside(self) -> Crop:
        if self.x + self.w > 1.0 + 1e-9 or self.y + self.h > 1.0 + 1e-9:
            raise PydanticCustomError(
                "crop_outside",
                "crop leaves the image: x+w = {xw}, y+h = {yh} (each must be <= 1)",
                {"xw": f"{self.x + self.w:.6g}", "yh": f"{self.y + self.h:.6g}"},
            )
        return self

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


class Keyframe(_Strict):
    #: displayed size (after EXIF orientation); lets crops be checked without the file
    height: Annotated[int, Field(ge=16, le=100_000)]
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    sha256: Sha256Hex
    width: Annotated[int, Field(ge=16, le=100_000)]

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _check_relative_posix(v, "keyframe.path")


def _motion_error(motion: str, start: Crop, end: Crop) -> str | None:
    """Why start/end geometry contradicts ``motion`` (None when consistent)."""
    scale = end.w / start.w
    dx, dy = end.cx - start.cx, end.cy - start.cy
    same_scale = abs(scale - 1.0) <= ASPECT_TOLERANCE
    moved = max(abs(dx), abs(dy)) > GEOMETRY_EPS
    if motion == "static":
        if not (abs(scale - 1.0) <= GEOMETRY_EPS and not moved):
            return "static needs identical start and end crops"
    elif motion in ("zoom_in", "dolly_in"):
        if scale >= 1.0 - GEOMETRY_EPS:
            return f"{motion} needs an end crop smaller than the start crop (end/start width = {scale:.4g})"
    elif motion in ("zoom_out", "dolly_out"):
        if scale <= 1.0 + GEOMETRY_EPS:
            return f"{motion} needs an end crop larger than the start crop (end/start width = {scale:.4g})"
    elif motion in ("pan_left", "pan_right", "tilt_up", "tilt_down"):
        if not same_scale:
            return f"{motion} needs start and end crops of the same size (end/start width = {scale:.4g})"
        horizontal = motion in ("pan_left", "pan_right")
        main, cross = (dx, dy) if horizontal else (dy, dx)
        sign = -1.0 if motion in ("pan_left", "tilt_up") else 1.0
        direction = {
            "pan_left": "leftward",
            "pan_right": "rightward",
            "tilt_up": "upward",
            "tilt_down": "downward",
        }[motion]
        if main * sign <= GEOMETRY_EPS or abs(cross) > abs(main):
            return (
                f"{motion} needs a mainly {direction} move of the crop centre "
                f"(moved dx = {dx:+.4g}, dy = {dy:+.4g} of the image)"
            )
    return None


class Camera(_Strict):
    easing: Easing = "linear"
    end_frame: Crop
    motion_type: MotionType
    start_frame: Crop

    @model_validator(mode="after")
    def _consistent(self) -> Camera:
        why = _motion_error(self.motion_type, self.start_frame, self.end_frame)
        if why:
            raise PydanticCustomError("motion_mismatch", "{why}", {"why": why})
        return self


class Audio(_Strict):
    gain_db: Annotated[float, Field(ge=-30.0, le=30.0)] = 0.0
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    sha256: Sha256Hex

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _check_relative_posix(v, "output.audio.path")


class Output(_Strict):
    audio: Audio | None = None
    bit_depth: Literal[8, 10] = 10
    codec: Literal["hevc"] = "hevc"
    fps: Annotated[int, Field(ge=1, le=120)] = 30
    frames: Annotated[int, Field(ge=2, le=1200)] = 120
    height: Annotated[int, Field(ge=64, le=4096, multiple_of=8)]
    quality: Annotated[int, Field(ge=0, le=51)] = 20
    width: Annotated[int, Field(ge=64, le=4096, multiple_of=8)]


class Generation(_Strict):
    cfg: Annotated[float, Field(ge=0.0, le=30.0)] | None = None
    frames: Annotated[int, Field(ge=2, le=257)] | None = None
    lora_strength: Annotated[float, Field(ge=0.0, le=4.0)] | None = None
    min_cfg: Annotated[float, Field(ge=0.0, le=30.0)] | None = None
    motion_bucket_id: Annotated[int, Field(ge=1, le=1023)] | None = None
    negative_prompt: Annotated[str, StringConstraints(max_length=2000)] | None = None
    noise_aug_strength: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    prompt: Annotated[str, StringConstraints(max_length=2000)] | None = None
    seed: Annotated[int, Field(ge=0, le=UINT64_MAX)] | None = None
    shift: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    split_step: Annotated[int, Field(ge=1, le=199)] | None = None
    steps: Annotated[int, Field(ge=1, le=200)] | None = None
    workflow: Annotated[str, StringConstraints(max_length=64)]

    @field_validator("workflow")
    @classmethod
    def _ref(cls, v: str) -> str:
        try:
            parse_ref(v)
        except ValueError as e:
            raise PydanticCustomError("workflow_ref", str(e)) from None
        if v not in all_specs():
            known = ", ".join(sorted(all_specs()))
            raise PydanticCustomError(
                "workflow_unknown",
                "unknown workflow {v}; known: {known}",
                {"v": repr(v), "known": known},
            )
        return v

    def params(self) -> dict[str, Any]:
        """The generation keys that are set (everything but ``workflow``)."""
        return {k: v for k, v in self.__dict__.items() if k != "workflow" and v is not None}


class Interpolation(_Strict):
    model: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.\-]{0,63}$")] = "rife-4.25"
    scene_cut_guard: bool = True


class Manifest(_Strict):
    camera: Camera
    generation: Generation
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,128}$")]
    interpolation: Interpolation = Interpolation()
    keyframe: Keyframe
    output: Output
    schema_: Annotated[str, Field(alias="schema")]

    model_config = ConfigDict(populate_by_name=False)

    @field_validator("schema_")
    @classmethod
    def _schema(cls, v: str) -> str:
        if v != SCHEMA_ID:
            raise PydanticCustomError(
                "schema_unsupported",
                "unsupported manifest schema {v}: this version of comfy-vidgen reads {want}",
                {"v": repr(v), "want": repr(SCHEMA_ID)},
            )
        return v

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if set(v) == {"."}:
            raise PydanticCustomError(
                "id_dots", "id must not consist only of dots (it names a folder)"
            )
        return v

    @model_validator(mode="after")
    def _cross_field(self) -> Manifest:
        errors = _cross_field_errors(self)
        if errors:
            raise PydanticCustomError(
                "manifest_semantics",
                "{summary}",
                {"summary": "; ".join(f"{loc}: {msg}" for loc, msg in errors), "errors": errors},
            )
        return self

    @property
    def spec(self) -> WorkflowSpec:
        return all_specs()[self.generation.workflow]


def _cross_field_errors(m: Manifest) -> list[tuple[str, str]]:
    """Checks that need several sections at once (aspect, workflow constraints)."""
    errors: list[tuple[str, str]] = []
    out_aspect = m.output.width / m.output.height
    for name in ("start_frame", "end_frame"):
        crop: Crop = getattr(m.camera, name)
        aspect = (crop.w * m.keyframe.width) / (crop.h * m.keyframe.height)
        if abs(aspect / out_aspect - 1.0) > ASPECT_TOLERANCE:
            errors.append(
                (
                    f"camera.{name}",
                    f"crop aspect {aspect:.4f} (in keyframe pixels) differs from the output aspect "
                    f"{out_aspect:.4f} ({m.output.width}x{m.output.height}) by more than "
                    f"{ASPECT_TOLERANCE:.0%}",
                )
            )
    spec = m.spec
    for axis, rng in (("width", spec.width), ("height", spec.height)):
        v = getattr(m.output, axis)
        if v % spec.size_step:
            errors.append(
                (f"output.{axis}", f"{spec.ref} needs a multiple of {spec.size_step}, got {v}")
            )
        if not rng.min <= v <= rng.max:
            errors.append((f"output.{axis}", f"{spec.ref} allows {rng.min}..{rng.max}, got {v}"))
    params = m.generation.params()
    for key in params.keys() - spec.params.keys():
        allowed = ", ".join(sorted(spec.params)) or "none"
        errors.append(
            (f"generation.{key}", f"{spec.ref} does not use this key (it reads: {allowed})")
        )
    for key, rule in spec.params.items():
        value = params.get(key)
        if value is None:
            if rule.required:
                errors.append((f"generation.{key}", f"required by {spec.ref}"))
            continue
        loc = f"generation.{key}"
        if rule.min is not None and value < rule.min:
            errors.append((loc, f"{spec.ref} allows >= {rule.min}, got {value}"))
        if rule.max is not None and value > rule.max:
            errors.append((loc, f"{spec.ref} allows <= {rule.max}, got {value}"))
        if rule.max_length is not None and len(value) > rule.max_length:
            errors.append((loc, f"{spec.ref} allows at most {rule.max_length} characters"))
    split, steps = m.generation.split_step, m.generation.steps
    if split is not None and steps is not None and split >= steps:
        # both experts must run: the high-noise one for steps [0, split), the low-noise
        # one for [split, steps); a split at or past the end would skip the second
        errors.append(
            ("generation.split_step", f"must be below generation.steps ({steps}), got {split}")
        )
    frames = m.generation.frames
    if frames is not None and not spec.frames.allows(frames):
        errors.append(
            (
                "generation.frames",
                f"{spec.ref} generates {spec.frames.describe()} frames, got {frames}",
            )
        )
    return errors


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class FieldError:
    """One problem, located by a dotted path into the manifest (``""`` = whole file)."""

    loc: str
    msg: str

    def as_dict(self) -> dict[str, str]:
        return {"loc": self.loc, "msg": self.msg}


class ManifestError(VidgenError):
    """The manifest is refused; ``errors`` lists every problem with its location."""

    def __init__(self, errors: list[FieldError], source: str | None = None) -> None:
        self.errors = errors
        self.source = source
        where = f"{source}: " if source else ""
        lines = "; ".join(f"{e.loc or '<manifest>'}: {e.msg}" for e in errors)
        super().__init__(f"{where}invalid manifest: {lines}")


_ALIASES = {"schema_": "schema"}


def _loc(parts: tuple[int | str, ...]) -> str:
    out: list[str] = []
    for p in parts:
        if isinstance(p, int):
            out.append(f"[{p}]")
        else:
            name = _ALIASES.get(p, p)
            # pydantic reports tagged/union branches and function-validator steps in loc
            if name.startswith(("function-", "nullable[", "union[", "constrained-")):
                continue
            out.append(("." if out else "") + name)
    return "".join(out)


def _from_validation_error(exc: ValidationError) -> list[FieldError]:
    errors: list[FieldError] = []
    for e in exc.errors(include_url=False):
        base = _loc(e["loc"])
        ctx = e.get("ctx") or {}
        if e["type"] == "manifest_semantics":
            prefix = f"{base}." if base else ""
            errors.extend(FieldError(prefix + loc, msg) for loc, msg in ctx["errors"])
            continue
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not part of comfy-vidgen/manifest@1)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        errors.append(FieldError(base, msg))
    return errors


# --------------------------------------------------------------------------- parsing


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed (JSON numbers must be finite)")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {dup!r} (ambiguous: parsers disagree on which wins)")
    return obj


def _decode_json(data: bytes | str) -> Any:
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ManifestError(
                [FieldError("", f"not UTF-8 text (invalid byte at offset {e.start})")]
            ) from None
    else:
        text = data
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as e:
        raise ManifestError(
            [FieldError("", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}")]
        ) from None
    except (ValueError, RecursionError) as e:
        raise ManifestError([FieldError("", f"not valid JSON: {e}")]) from None


def parse_manifest(data: bytes | str | Mapping[str, Any], source: str | None = None) -> Manifest:
    """Validate JSON text/bytes or an already-decoded object; raises ManifestError."""
    try:
        obj: Any = _decode_json(data) if isinstance(data, bytes | str) else data
        if not isinstance(obj, dict):
            raise ManifestError(
                [FieldError("", f"a manifest is a JSON object, got {type(obj).__name__}")]
            )
        # json.loads reads 1e309 as inf: every number lands in a typed field whose
        # validator refuses non-finite values (allow_inf_nan=False), naming the field
        return Manifest.model_validate(obj, strict=True)
    except ValidationError as e:
        raise ManifestError(_from_validation_error(e), source) from None
    except ManifestError as e:
        if source and e.source is None:
            raise ManifestError(e.errors, source) from None
        raise


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and validate a manifest file; files over 1 MiB are refused unread."""
    src = os.fspath(path)
    try:
        st = os.stat(src)
        if not stat.S_ISREG(st.st_mode):
            raise ManifestError([FieldError("", "not a regular file")], src)
        size = st.st_size
        if size > MAX_MANIFEST_BYTES:
            raise ManifestError(
                [
                    FieldError(
                        "",
                        f"file is {size} bytes; manifests are limited to {MAX_MANIFEST_BYTES} bytes "
                        "(refused unread)",
                    )
                ],
                src,
            )
        with open(src, "rb") as f:
            data = f.read(size + 1)  # +1 notices a file that grew after stat
    except FileNotFoundError:
        raise ManifestError([FieldError("", "no such file")], src) from None
    except OSError as e:
        raise ManifestError([FieldError("", f"cannot read: {e.strerror or e}")], src) from None
    if len(data) > size:
        raise ManifestError([FieldError("", "file changed while it was being read")], src)
    return parse_manifest(data, source=src)


# --------------------------------------------------------------------------- identity


def manifest_dict(m: Manifest) -> dict[str, Any]:
    """The validated manifest as plain JSON data (defaults filled, unset keys absent)."""
    return m.model_dump(mode="json", by_alias=True, exclude_none=True)


def canonical_json(m: Manifest) -> bytes:
    """Sorted keys, compact separators, UTF-8, shortest round-trip floats.

    This is pydantic-core's serialisation of the validated model (fields are
    declared alphabetically, so keys come out sorted; floats are written by ryu,
    e.g. ``1e-5``; float fields always carry a fraction or exponent, e.g. ``1.0``).
    ``tests/test_manifest.py`` pins golden hashes so a library upgrade that
    changed this form would fail loudly instead of silently re-identifying jobs.
    """
    return m.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")


def manifest_hash(m: Manifest) -> str:
    return hashlib.sha256(canonical_json(m)).hexdigest()


def dumps_pretty(m: Manifest) -> str:
    """Human-friendly file form; hashes the same as the canonical form."""
    return json.dumps(manifest_dict(m), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "comfy-vidgen manifest v1"
    return schema


# --------------------------------------------------------------------------- files


def resolve_under(root: str | os.PathLike[str], rel: str, what: str = "keyframe.path") -> Path:
    """Resolve ``rel`` inside ``root``, refusing anything (symlinks too) that escapes it."""
    _check = _check_relative_posix  # same syntactic rules as the model
    try:
        _check(rel, what)
    except PydanticCustomError as e:
        raise ManifestError([FieldError(what, e.message())]) from None
    root_real = Path(root).resolve()
    candidate = root_real.joinpath(*PurePosixPath(rel).parts)
    try:
        real = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise ManifestError(
            [FieldError(what, f"file not found under the input root {root_real}: {rel}")]
        ) from None
    except (OSError, RuntimeError) as e:  # symlink loops
        raise ManifestError([FieldError(what, f"cannot resolve {rel}: {e}")]) from None
    if not real.is_relative_to(root_real):
        raise ManifestError(
            [FieldError(what, f"{rel} resolves outside the input root (symlink escape refused)")]
        )
    if not real.is_file():
        raise ManifestError([FieldError(what, f"{rel} is not a regular file")])
    return real


def verify_keyframe(m: Manifest, input_root: str | os.PathLike[str]) -> Path:
    """Resolve the keyframe, check its sha256, pixel budget and size; return its path."""
    from .images import ImageError, probe_image

    path = resolve_under(input_root, m.keyframe.path)
    actual = sha256_file(path)
    if actual != m.keyframe.sha256:
        raise ManifestError(
            [
                FieldError(
                    "keyframe.sha256",
                    f"file hash {actual} does not match the manifest's {m.keyframe.sha256}",
                )
            ]
        )
    try:
        info = probe_image(path)
    except ImageError as e:
        raise ManifestError([FieldError("keyframe.path", str(e))]) from None
    if (info.width, info.height) != (m.keyframe.width, m.keyframe.height):
        raise ManifestError(
            [
                FieldError(
                    "keyframe.width",
                    f"image is {info.width}x{info.height} (as displayed), "
                    f"manifest says {m.keyframe.width}x{m.keyframe.height}",
                )
            ]
        )
    return path


def with_keyframe_path(m: Manifest, path: str) -> Manifest:
    """The same manifest naming its keyframe at ``path`` (e.g. the copy uploaded to a
    GPU instance). Only the new path is checked (relative, no '..'): the rest was
    validated once and is shared, not validated again."""
    try:
        _check_relative_posix(path, "keyframe.path")
    except PydanticCustomError as e:
        raise ManifestError([FieldError("keyframe.path", str(e))]) from None
    return m.model_copy(update={"keyframe": m.keyframe.model_copy(update={"path": path})})


def validate_file(
    path: str | os.PathLike[str], input_root: str | os.PathLike[str] | None
) -> tuple[Manifest | None, list[FieldError]]:
    """Everything ``vidgen manifest validate`` checks for one file, errors collected."""
    try:
        m = load_manifest(path)
    except ManifestError as e:
        return None, e.errors
    if input_root is not None:
        from .images import ImageError, load_image

        try:
            kf = verify_keyframe(m, input_root)
        except ManifestError as e:
            return m, e.errors
        try:  # a full decode: a truncated keyframe fails here, as it would in `run`
            load_image(kf).close()
        except ImageError as e:
            return m, [FieldError("keyframe.path", str(e))]
    return m, []


# --------------------------------------------------------------------------- building


def full_crop(image_w: int, image_h: int, out_w: int, out_h: int) -> dict[str, float]:
    """The largest centred crop of the output aspect inside the image (normalised)."""
    a = out_w / out_h
    if image_w / image_h > a:
        w, h = a * image_h / image_w, 1.0
    else:
        w, h = 1.0, image_w / (a * image_h)
    return {"x": (1.0 - w) / 2, "y": (1.0 - h) / 2, "w": w, "h": h}


def build_manifest(
    *,
    keyframe: str | os.PathLike[str],
    input_root: str | os.PathLike[str],
    motion_type: str,
    start: dict[str, float],
    end: dict[str, float],
    workflow: str,
    seed: int,
    size: tuple[int, int] = (1024, 576),
    easing: str = "ease_in_out",
    manifest_id: str | None = None,
    output: dict[str, Any] | None = None,
    generation: dict[str, Any] | None = None,
    interpolation: dict[str, Any] | None = None,
) -> Manifest:
    """A validated manifest for a keyframe file; required workflow keys get the spec defaults.

    The keyframe must lie under ``input_root``; its sha256 and displayed size are
    read from the file.
    """
    from .images import ImageError, probe_image

    root = Path(input_root).resolve()
    kf = Path(keyframe).resolve()
    if not kf.is_relative_to(root):
        raise ManifestError(
            [FieldError("keyframe.path", f"{keyframe} is not under the input root {root}")]
        )
    rel = kf.relative_to(root).as_posix()
    try:
        info = probe_image(kf)
    except ImageError as e:
        raise ManifestError([FieldError("keyframe.path", str(e))]) from None
    if manifest_id is None:
        manifest_id = re.sub(r"[^A-Za-z0-9._-]+", "-", kf.stem).strip("-.")[:128] or "shot"
    gen: dict[str, Any] = {"workflow": workflow, "seed": seed}
    try:
        spec = all_specs()[workflow]
    except KeyError:
        spec = None
    if spec is not None:
        for key, rule in spec.params.items():
            if rule.default is not None:
                gen.setdefault(key, rule.default)
    gen.update({k: v for k, v in (generation or {}).items() if v is not None})
    data: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "id": manifest_id,
        "keyframe": {
            "path": rel,
            "sha256": sha256_file(kf),
            "width": info.width,
            "height": info.height,
        },
        "camera": {
            "motion_type": motion_type,
            "start_frame": start,
            "end_frame": end,
            "easing": easing,
        },
        "output": {"width": size[0], "height": size[1], **(output or {})},
        "generation": gen,
        "interpolation": interpolation or {},
    }
    return parse_manifest(data)
