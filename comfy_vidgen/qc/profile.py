"""QC gate profiles: hard thresholds and score weights as data (TOML).

A profile names metrics by their dotted path in the QC report's ``metrics``
(e.g. ``stability.ssim_min``). Hard rules reject a clip; score terms map a
metric linearly from ``worst`` (0) to ``best`` (1) and are averaged with their
weights. A metric that was not measured (no manifest, no keyframe) skips its
rule unless the rule says ``required = true``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import UsageError
from ..paths import PRESETS_DIR
from ..tomlfile import load_toml_model

DEFAULT_PROFILE = "default"
#: user profiles: <dir>/qc-<name>.toml, looked up before the bundled presets
USER_DIR_ENV = "VIDGEN_QC_PROFILES"


class ProfileError(UsageError):
    """The QC profile cannot be used: a settings mistake (exit code 2)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlashSettings(_Model):
    """Viewing geometry and display assumptions for the flash rules."""

    #: the WCAG 10-degree field as a fraction of the frame (341/1024 x 256/768 when
    #: the clip fills a 1024x768 screen); raise it when clips play smaller
    field_width: Annotated[float, Field(gt=0.0, le=1.0)] = 1 / 3
    field_height: Annotated[float, Field(gt=0.0, le=1.0)] = 1 / 3
    #: BT.1702 works in cd/m2: relative luminance 1.0 is shown at this luminance
    display_peak_cd_m2: Annotated[float, Field(ge=50.0, le=10000.0)] = 200.0
    #: extended level (a warning unless a profile gates ``flash.extended_warning``):
    #: at least ``extended_min_flashes`` flashes/s held ``extended_hold_s`` seconds
    #: of an ``extended_window_s`` window (IRIS and Harding-style checkers: 2, 4 s, 5 s)
    extended_window_s: Annotated[float, Field(gt=0.0, le=60.0)] = 5.0
    extended_hold_s: Annotated[float, Field(gt=0.0, le=60.0)] = 4.0
    extended_min_flashes: Annotated[int, Field(ge=1, le=3)] = 2

    @model_validator(mode="after")
    def _hold_in_window(self) -> FlashSettings:
        if self.extended_hold_s > self.extended_window_s:
            raise ValueError("extended_hold_s must not exceed extended_window_s")
        return self


class HardRule(_Model):
    metric: Annotated[str, Field(min_length=1)]
    min: float | None = None
    max: float | None = None
    equals: bool | float | str | None = None
    required: bool = False
    unless_motion: list[str] = Field(default_factory=list)
    why: str = ""

    @model_validator(mode="after")
    def _one_limit(self) -> HardRule:
        if self.min is None and self.max is None and self.equals is None:
            raise ValueError(f"rule for {self.metric!r} needs min, max or equals")
        return self


class ScoreTerm(_Model):
    metric: Annotated[str, Field(min_length=1)]
    weight: Annotated[float, Field(gt=0.0)]
    worst: float
    best: float

    @model_validator(mode="after")
    def _range(self) -> ScoreTerm:
        if self.worst == self.best:
            raise ValueError(f"score term {self.metric!r}: worst and best must differ")
        return self


class Profile(_Model):
    name: str = DEFAULT_PROFILE
    description: str = ""
    flash: FlashSettings = FlashSettings()
    hard: list[HardRule] = Field(default_factory=list)
    #: same shape as ``hard``, but a failing rule only adds a warning to the report
    warn: list[HardRule] = Field(default_factory=list)
    score: list[ScoreTerm] = Field(default_factory=list)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    score: float
    reasons: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _preset_path(name: str) -> Path | None:
    user = os.environ.get(USER_DIR_ENV)
    if user:
        p = Path(user) / f"qc-{name}.toml"
        if p.is_file():
            return p
    res = PRESETS_DIR / f"qc-{name}.toml"
    return Path(str(res)) if res.is_file() else None


def load_profile(spec: str | os.PathLike[str] | Profile | None = None) -> Profile:
    """A profile from a TOML path, a preset name (``default``), or the default."""
    if isinstance(spec, Profile):
        return spec
    text_spec = os.fspath(spec) if spec is not None else DEFAULT_PROFILE
    path = Path(text_spec)
    if not path.is_file():
        found = _preset_path(text_spec)
        if found is None:
            raise ProfileError(
                f"QC profile {text_spec!r}: no such file and no preset qc-{text_spec}.toml "
                f"(bundled presets or ${USER_DIR_ENV})"
            )
        path = found
    return load_toml_model(path, Profile, f"QC profile {path}", ProfileError)


def metric_value(metrics: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path, or None when any part is missing."""
    cur: Any = metrics
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else repr(v) if isinstance(v, str) else str(v)


def gate(report: Any, profile: Profile | str | os.PathLike[str] | None = None) -> GateResult:
    """Apply a profile's hard thresholds and weights to QC metrics.

    ``report`` is a QCReport or its ``metrics`` dict. ``passed`` is False as soon
    as one hard rule fails (``warn`` rules only add ``warnings``); ``score`` (0..1) is the weighted mean of the measured
    score terms, computed either way so that candidates can be ranked.
    """
    prof = load_profile(profile)
    metrics: dict[str, Any] = report if isinstance(report, dict) else report.metrics
    motion = metric_value(metrics, "structure.motion_type")
    reasons: list[str] = []
    skipped: list[str] = []
    for rule in prof.hard:
        _apply(rule, metrics, motion, reasons, skipped)
    warnings: list[str] = []
    for rule in prof.warn:
        _apply(rule, metrics, motion, warnings, [])
    total = 0.0
    weights = 0.0
    for term in prof.score:
        v = metric_value(metrics, term.metric)
        if not isinstance(v, int | float) or isinstance(v, bool) or math.isnan(float(v)):
            continue
        frac = (float(v) - term.worst) / (term.best - term.worst)
        total += term.weight * min(1.0, max(0.0, frac))
        weights += term.weight
    score = round(total / weights, 4) if weights else 0.0
    return GateResult(
        passed=not reasons, score=score, reasons=reasons, skipped=skipped, warnings=warnings
    )


def _apply(
    rule: HardRule, metrics: dict[str, Any], motion: Any, out: list[str], skipped: list[str]
) -> None:
    """Append to ``out`` why ``rule`` fails on ``metrics`` (nothing when it holds)."""
    if motion is not None and motion in rule.unless_motion:
        return
    v = metric_value(metrics, rule.metric)
    why = f" ({rule.why})" if rule.why else ""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        if rule.required:
            out.append(f"{rule.metric} was not measured{why}")
        else:
            skipped.append(rule.metric)
        return
    if rule.equals is not None and v != rule.equals:
        out.append(f"{rule.metric} = {_fmt(v)}, required {_fmt(rule.equals)}{why}")
    if rule.min is not None and isinstance(v, int | float) and v < rule.min:
        out.append(f"{rule.metric} = {_fmt(v)} < min {_fmt(rule.min)}{why}")
    if rule.max is not None and isinstance(v, int | float) and v > rule.max:
        out.append(f"{rule.metric} = {_fmt(v)} > max {_fmt(rule.max)}{why}")
