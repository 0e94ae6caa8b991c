"""What each versioned workflow accepts, so a bad manifest fails on the control machine.

Every released workflow version declares, as data in ``specs/<name>/v<N>.toml``,
the generation keys it consumes from the manifest (with bounds) and the frame
count and size constraints its model imposes (Wan lengths of 4k+1, LTXV 8k+1,
size steps of 8/16/32). Manifest validation enforces them, and the workflow lint
checks that the graph consumes exactly these keys.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache

from .parameters import generation_keys
from .paths import SPECS_DIR

WORKFLOW_REF_PATTERN = re.compile(r"^([a-z0-9_]+)@([1-9][0-9]{0,3})$")

#: what ``vidgen manifest new`` and the editor's "Save manifest" use when no
#: workflow is given (and no locked shootout settings exist)
DEFAULT_WORKFLOW = "camera_only@3"


class WorkflowSpecError(ValueError):
    """A workflow spec file is malformed (a bug in the pack, not in a manifest)."""


@dataclass(frozen=True)
class Range:
    min: int
    max: int


@dataclass(frozen=True)
class FrameRule:
    """Allowed model-native lengths: ``offset + k*step`` within ``[min, max]``."""

    min: int
    max: int
    step: int = 1
    offset: int = 0

    def allows(self, n: int) -> bool:
        return self.min <= n <= self.max and (n - self.offset) % self.step == 0

    def describe(self) -> str:
        if self.step == 1:
            return f"{self.min}..{self.max}"
        return f"{self.step}k+{self.offset} in {self.min}..{self.max}"


@dataclass(frozen=True)
class ParamRule:
    required: bool
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    #: what ``vidgen manifest new`` writes when the user gives no value
    default: float | str | None = None
    #: recorded in the manifest for provenance but read by no node (e.g. the seed of
    #: the deterministic camera_only workflow); the lint does not require a consumer
    informational: bool = False


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    version: int
    description: str
    size_step: int
    width: Range
    height: Range
    frames: FrameRule
    params: dict[str, ParamRule] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def parse_ref(ref: str) -> tuple[str, int]:
    """Split ``name@version``; raises ValueError with the expected form."""
    m = WORKFLOW_REF_PATTERN.match(ref)
    if not m:
        raise ValueError(
            f"workflow must look like 'name@version' (e.g. camera_only@1), got {ref!r}"
        )
    return m.group(1), int(m.group(2))


def _range(raw: object, what: str) -> Range:
    if not isinstance(raw, dict) or not {"min", "max"} <= raw.keys():
        raise WorkflowSpecError(f"{what} needs min and max")
    return Range(int(raw["min"]), int(raw["max"]))


def _parse_spec(name: str, version: int, data: dict[str, object]) -> WorkflowSpec:
    fr = data.get("frames")
    if not isinstance(fr, dict):
        raise WorkflowSpecError(f"{name}@{version}: frames rule missing")
    params_raw = data.get("params", {})
    if not isinstance(params_raw, dict):
        raise WorkflowSpecError(f"{name}@{version}: params must be a table")
    params: dict[str, ParamRule] = {}
    for key, rule in params_raw.items():
        if key not in generation_keys() or not isinstance(rule, dict):
            raise WorkflowSpecError(f"{name}@{version}: unknown or malformed param {key!r}")
        params[key] = ParamRule(
            required=bool(rule.get("required", False)),
            min=rule.get("min"),
            max=rule.get("max"),
            max_length=rule.get("max_length"),
            default=rule.get("default"),
            informational=bool(rule.get("informational", False)),
        )
    return WorkflowSpec(
        name=name,
        version=version,
        description=str(data.get("description", "")),
        size_step=int(data.get("size_step", 8)),  # type: ignore[call-overload]
        width=_range(data.get("width"), "width"),
        height=_range(data.get("height"), "height"),
        frames=FrameRule(
            min=int(fr["min"]),
            max=int(fr["max"]),
            step=int(fr.get("step", 1)),
            offset=int(fr.get("offset", 0)),
        ),
        params=params,
    )


@cache
def all_specs() -> dict[str, WorkflowSpec]:
    """Every workflow version this pack ships, keyed by ``name@version``.

    A version whose graph changed but whose parameters did not says ``same_as = N``
    and takes version N's rules (its own keys, e.g. ``description``, win).
    """
    specs: dict[str, WorkflowSpec] = {}
    for wf_dir in SPECS_DIR.iterdir():
        if not wf_dir.is_dir() or wf_dir.name.startswith(("_", ".")):
            continue
        raw: dict[int, dict[str, object]] = {}
        for f in wf_dir.iterdir():
            m = re.fullmatch(r"v([1-9][0-9]*)\.toml", f.name)
            if m:
                raw[int(m.group(1))] = tomllib.loads(f.read_text("utf-8"))
        for version, data in raw.items():
            base = data.get("same_as")
            if base is not None:
                if not isinstance(base, int) or base not in raw or "same_as" in raw[base]:
                    raise WorkflowSpecError(f"{wf_dir.name}@{version}: bad same_as {base!r}")
                data = {**raw[base], **{k: v for k, v in data.items() if k != "same_as"}}
            spec = _parse_spec(wf_dir.name, version, data)
            specs[spec.ref] = spec
    return specs


def get_spec(ref: str) -> WorkflowSpec:
    """Look up ``name@version``; KeyError names the known workflows."""
    specs = all_specs()
    if ref not in specs:
        known = ", ".join(sorted(specs))
        raise KeyError(f"unknown workflow {ref!r}; this pack ships: {known}")
    return specs[ref]
