"""The model shootout: candidates x manifests through the orchestrator, ranked on numbers.

A TOML file names the input shots (manifests, or keyframes plus a camera move),
the candidates (``workflow@version``, an engine, fixed parameters and a grid of
parameter values, expanded into variants), the price per GPU-hour, the number of
GPUs and the daily target. Every variant x shot becomes a manifest validated
against the workflow's spec, enters the ledger through ``submit_manifests``
(identity dedup: a rerun resumes) and runs on its engine with the usual
verification and audit; QC runs inside verification in *observe* mode (the gate
verdict is recorded in the audit but a failing clip is still delivered, so the
report can show it). Then per variant: QC pass rate and score, GPU seconds per
clip from the audit timings, cost, capacity for N GPUs; hard thresholds first,
then the weighted score. Outputs: the ``report/`` folder (``shootout.report``),
``locked-settings.json`` for the winner, ``measurements.json`` for
``vidgen capacity --from`` and ``summary.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import glob
import itertools
import json
import logging
import math
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from comfy_vidgen.errors import UsageError, VidgenError
from comfy_vidgen.fsutil import atomic_write_text
from comfy_vidgen.manifest import (
    Manifest,
    ManifestError,
    load_manifest,
    manifest_dict,
    parse_manifest,
)
from comfy_vidgen.parameters import generation_keys
from comfy_vidgen.tomlfile import load_toml_model
from comfy_vidgen.workflow_specs import all_specs, get_spec
from orchestrator.dispatcher import Reporter
from orchestrator.fleet import FleetConfig
from orchestrator.ledger import Job, JobState, Ledger
from orchestrator.ledgers import open_ledger
from orchestrator.verify import GateFn, Verifier

log = logging.getLogger(__name__)

ENGINES = ("local", "comfyui")
#: generation keys a candidate may set or sweep (the seed and prompts belong to the shot)
SWEEPABLE = tuple(k for k in generation_keys() if k not in ("seed", "prompt", "negative_prompt"))
_NAME = r"^[A-Za-z0-9_-]{1,40}$"


class ShootoutConfigError(UsageError):
    """The shootout TOML (or a variant manifest it implies) is unusable: exit 2."""


# --------------------------------------------------------------------------- config
class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Scalar = int | float | str


class InputsConfig(_M):
    """Shots: manifest files, or keyframes that get a generated camera move."""

    manifests: list[str] = Field(default_factory=list)
    keyframes: list[str] = Field(default_factory=list)
    motion: Literal["pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out"] = (
        "zoom_in"
    )
    #: fraction of the full crop the camera travels (pan/tilt) or zooms by
    amount: Annotated[float, Field(gt=0.0, le=0.5)] = 0.15
    easing: Literal["linear", "ease_in", "ease_out", "ease_in_out"] = "ease_in_out"
    size: Annotated[str, Field(pattern=r"^[0-9]{2,4}x[0-9]{2,4}$")] = "1024x576"
    frames: Annotated[int, Field(ge=2, le=1200)] = 120
    fps: Annotated[int, Field(ge=1, le=120)] = 30
    gen_frames: Annotated[int, Field(ge=2, le=257)] | None = None
    seed: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _one_source(self) -> InputsConfig:
        if bool(self.manifests) == bool(self.keyframes):
            raise ValueError("give either manifests = [...] or keyframes = [...] (one of them)")
        return self


class CandidateConfig(_M):
    workflow: str
    name: Annotated[str, Field(pattern=_NAME)] | None = None
    engine: Literal["local", "comfyui"] | None = None
    params: dict[str, Scalar] = Field(default_factory=dict)
    grid: dict[str, list[Scalar]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _keys(self) -> CandidateConfig:
        if self.workflow not in all_specs():
            raise ValueError(
                f"unknown workflow {self.workflow!r}; this pack ships: "
                + ", ".join(sorted(all_specs()))
            )
        for where, keys in (("params", self.params), ("grid", self.grid)):
            for k in keys:
                if k not in SWEEPABLE:
                    raise ValueError(
                        f"{where}.{k}: not a generation parameter (allowed: {', '.join(SWEEPABLE)})"
                    )
        for k, values in self.grid.items():
            if not values:
                raise ValueError(f"grid.{k}: needs at least one value")
            if k in self.params:
                raise ValueError(f"{k} is both in params and grid")
        return self


class Thresholds(_M):
    """Hard thresholds: a variant that misses one cannot win, whatever its score."""

    min_pass_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    min_score: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    max_cost_per_clip: Annotated[float, Field(gt=0.0)] | None = None
    #: default: the daily target
    min_clips_per_day: Annotated[int, Field(ge=0)] | None = None


class Weights(_M):
    """Final score = weighted mean of QC quality (0..1) and relative cost (0..1)."""

    quality: Annotated[float, Field(ge=0.0)] = 0.7
    cost: Annotated[float, Field(ge=0.0)] = 0.3

    @model_validator(mode="after")
    def _some(self) -> Weights:
        if self.quality + self.cost <= 0:
            raise ValueError("at least one weight must be > 0")
        return self


class ComfyUIConfig(_M):
    workflows: str | None = None
    lint: Literal["full", "basic"] = "full"
    timeout_s: Annotated[float, Field(gt=0)] | None = None


class ShootoutConfig(_M):
    title: str = "vidgen shootout"
    profile: str = "default"
    price_per_gpu_hour: Annotated[float, Field(gt=0.0, le=1000.0)]
    currency: Annotated[str, Field(max_length=8)] = "USD"
    gpus: Annotated[int, Field(ge=1, le=10000)]
    target_per_day: Annotated[int, Field(ge=1)] = 1000
    input_root: str | None = None
    inputs: InputsConfig
    candidate: Annotated[list[CandidateConfig], Field(min_length=1)]
    thresholds: Thresholds = Thresholds()
    weights: Weights = Weights()
    comfyui: ComfyUIConfig = ComfyUIConfig()


def load_config(path: str | Path) -> ShootoutConfig:
    p = Path(path)
    return load_toml_model(p, ShootoutConfig, f"shootout file {p}", ShootoutConfigError)


# --------------------------------------------------------------------------- variants
@dataclass(frozen=True)
class Variant:
    """One ranked entry: a workflow, its parameters and the engine that runs it."""

    key: str
    candidate: str
    workflow: str
    engine: str
    params: dict[str, Scalar]

    @property
    def label(self) -> str:
        ps = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.workflow} {ps}".strip()


def expand_variants(cfg: ShootoutConfig, default_engine: str) -> list[Variant]:
    """Candidates x their grids (cartesian product), with unique id-safe keys."""
    out: list[Variant] = []
    used: set[str] = set()
    for c in cfg.candidate:
        base = c.name or c.workflow.replace("@", "-v")
        name, n = base, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        keys = sorted(c.grid)
        combos = list(itertools.product(*(c.grid[k] for k in keys))) or [()]
        for i, combo in enumerate(combos):
            key = name if len(combos) == 1 else f"{name}-{i + 1}"
            used.add(key)
            params = {**c.params, **dict(zip(keys, combo, strict=True))}
            out.append(Variant(key, name, c.workflow, c.engine or default_engine, params))
    return out


# --------------------------------------------------------------------------- shots
def _crop_pair(motion: str, amount: float, full: dict[str, float]) -> tuple[dict[str, float], ...]:
    """Start/end crops for a simple move inside the full crop (both keep the output aspect)."""
    a = amount
    small = {"w": full["w"] * (1 - a), "h": full["h"] * (1 - a)}
    cx, cy = full["x"] + full["w"] * a / 2, full["y"] + full["h"] * a / 2
    left = {**small, "x": full["x"], "y": cy}
    right = {**small, "x": full["x"] + full["w"] * a, "y": cy}
    top = {**small, "x": cx, "y": full["y"]}
    bottom = {**small, "x": cx, "y": full["y"] + full["h"] * a}
    centre = {**small, "x": cx, "y": cy}
    pairs = {
        "pan_right": (left, right),
        "pan_left": (right, left),
        "tilt_down": (top, bottom),
        "tilt_up": (bottom, top),
        "zoom_in": (full, centre),
        "zoom_out": (centre, full),
    }
    return pairs[motion]


def _expand_globs(patterns: list[str], base: Path, what: str) -> list[Path]:
    paths: list[Path] = []
    for pat in patterns:
        full = pat if Path(pat).is_absolute() else str(base / pat)
        found = sorted(Path(p) for p in glob.glob(full))
        if not found:
            raise ShootoutConfigError(
                f"inputs.{what}: {pat!r} matches no file (relative to {base})"
            )
        paths.extend(found)
    return paths


def base_manifests(cfg: ShootoutConfig, base_dir: Path, input_root: Path) -> list[dict[str, Any]]:
    """The shots as manifest dicts (from files, or built from keyframes)."""
    from comfy_vidgen.manifest import build_manifest, full_crop

    inp = cfg.inputs
    shots: list[dict[str, Any]] = []
    if inp.manifests:
        for p in _expand_globs(inp.manifests, base_dir, "manifests"):
            try:
                shots.append(manifest_dict(load_manifest(p)))
            except ManifestError as e:
                raise ShootoutConfigError(f"inputs.manifests: {e}") from None
    else:
        from comfy_vidgen.images import ImageError, probe_image

        w, h = (int(v) for v in inp.size.split("x"))
        for i, kf in enumerate(_expand_globs(inp.keyframes, base_dir, "keyframes")):
            try:
                info = probe_image(kf)
                start, end = _crop_pair(
                    inp.motion, inp.amount, full_crop(info.width, info.height, w, h)
                )
                m = build_manifest(
                    keyframe=kf,
                    input_root=input_root,
                    motion_type=inp.motion,
                    start=start,
                    end=end,
                    workflow="camera_only@1",
                    seed=inp.seed + i,
                    size=(w, h),
                    easing=inp.easing,
                    output={"frames": inp.frames, "fps": inp.fps},
                    generation={"frames": inp.gen_frames},
                )
            except (ManifestError, ImageError) as e:
                raise ShootoutConfigError(f"inputs.keyframes: {kf}: {e}") from None
            shots.append(manifest_dict(m))
    ids = [s["id"] for s in shots]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ShootoutConfigError(f"inputs: shot ids must be unique, repeated: {', '.join(dup)}")
    return shots


def variant_manifest(shot: dict[str, Any], v: Variant) -> dict[str, Any]:
    """The shot rewritten for a variant: its workflow, spec defaults, then its parameters.

    The manifest id gets the variant key, so each variant x shot is its own job in
    the ledger even when two variants share every setting but the engine.
    """
    spec = get_spec(v.workflow)
    d = copy.deepcopy(shot)
    old = shot.get("generation", {})
    gen: dict[str, Any] = {"workflow": v.workflow, "seed": old.get("seed", 0)}
    for key, rule in spec.params.items():
        if key == "seed":
            continue
        if key in old:
            gen[key] = old[key]
        elif rule.default is not None:
            gen[key] = rule.default
    fr = spec.params.get("frames")
    if "frames" in gen and not spec.frames.allows(int(gen["frames"])) and fr and fr.default:
        gen["frames"] = fr.default
    gen.update(v.params)
    d["generation"] = gen
    suffix = f".{v.key}"
    d["id"] = f"{shot['id'][: 128 - len(suffix)]}{suffix}"
    return d


# --------------------------------------------------------------------------- runnability
@dataclass(frozen=True)
class EngineSetup:
    """What the shootout may use: the fleet (None: no rack given) and workflow lookup."""

    fleet: FleetConfig | None = None
    workflow_dirs: list[Path] | None = None
    #: None: the TOML's ``[comfyui] lint`` decides
    full_lint: bool | None = None
    timeout_s: float | None = None


def not_runnable_reason(v: Variant, setup: EngineSetup) -> str | None:
    """Why ``v`` cannot run on its engine here, or None."""
    if v.engine == "local":
        if v.workflow.split("@")[0] != "camera_only":
            return (
                f"the local engine runs camera_only only; {v.workflow} needs a GPU rack "
                "(--engine comfyui --fleet F)"
            )
        return None
    if setup.fleet is None:
        return "the comfyui engine needs --fleet FILE or --comfyui URL"
    from orchestrator.client import ComfyClient, TransportError
    from orchestrator.workflow import WorkflowError, check, load_workflow

    try:
        wf = load_workflow(v.workflow, setup.workflow_dirs)
        check(wf, full=setup.full_lint is not False)
    except WorkflowError as e:
        return f"workflow {v.workflow}: {e}"
    needed = sorted({str(n.get("class_type")) for n in wf.graph.values() if isinstance(n, dict)})
    inst = setup.fleet.instances[0]
    client = ComfyClient(inst.url, token=inst.token(), timeout_s=setup.fleet.timeout_s)
    try:
        known = client.object_info()
    except TransportError as e:
        return f"cannot read /object_info from {inst.name}: {e}"
    finally:
        client.close()
    missing = [n for n in needed if n not in known]
    if missing:
        return (
            f"{inst.name} lacks the nodes {', '.join(missing)} that {v.workflow} uses "
            "(install the custom nodes and `vidgen models fetch` on the rack)"
        )
    return None


# --------------------------------------------------------------------------- results
@dataclass
class ClipResult:
    shot: str
    manifest_id: str
    job_id: str | None
    state: str
    error: str | None = None
    path: str | None = None
    audit_path: str | None = None
    gpu_s: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    qc_passed: bool = False
    qc_score: float | None = None
    qc_reasons: list[str] = field(default_factory=list)
    qc_metrics: dict[str, Any] = field(default_factory=dict)
    instance: str | None = None


@dataclass
class VariantResult:
    variant: Variant
    runnable: bool
    note: str | None = None
    clips: list[ClipResult] = field(default_factory=list)
    pass_rate: float = 0.0
    qc_score: float = 0.0
    gpu_s_median: float | None = None
    gpu_s_mean: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    cost_per_clip: float | None = None
    cost_per_1000: float | None = None
    cost_per_passing_clip: float | None = None
    capacity: dict[str, Any] | None = None
    clips_per_day: int = 0
    gpus_for_target: int | None = None
    eligible: bool = False
    failures: list[str] = field(default_factory=list)
    score: float = 0.0
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        v = self.variant
        return {
            "key": v.key,
            "candidate": v.candidate,
            "workflow": v.workflow,
            "engine": v.engine,
            "params": v.params,
            "runnable": self.runnable,
            "note": self.note,
            "clips": len(self.clips),
            "pass_rate": self.pass_rate,
            "qc_score": self.qc_score,
            "gpu_s_median": self.gpu_s_median,
            "gpu_s_mean": self.gpu_s_mean,
            "stages": self.stages,
            "cost_per_clip": self.cost_per_clip,
            "cost_per_1000": self.cost_per_1000,
            "cost_per_passing_clip": self.cost_per_passing_clip,
            "clips_per_day": self.clips_per_day,
            "gpus_for_target": self.gpus_for_target,
            "capacity": self.capacity,
            "eligible": self.eligible,
            "failures": self.failures,
            "score": self.score,
            "rank": self.rank,
        }


@dataclass
class ShootoutResult:
    config: ShootoutConfig
    source: str
    variants: list[VariantResult]
    winner: VariantResult | None
    out_dir: Path
    report: Path | None = None
    locked: Path | None = None
    measurements: Path | None = None
    started_at: float = 0.0
    finished_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.config.title,
            "winner": self.winner.variant.key if self.winner else None,
            "report": str(self.report) if self.report else None,
            "locked_settings": str(self.locked) if self.locked else None,
            "measurements": str(self.measurements) if self.measurements else None,
            "variants": [r.to_dict() for r in self.variants],
        }


# --------------------------------------------------------------------------- QC hook
def observe_gate(profile: Any, input_root: Path) -> GateFn:
    """The QC gate in observe mode: measured and recorded, never blocking delivery.

    A shootout must see the failing clips too; production runs use
    ``qc.verifier_gate`` directly, which rejects them.
    """
    from comfy_vidgen.qc import verifier_gate

    hook = verifier_gate(profile, input_root)

    def observe(path: Path, manifest: Manifest | None) -> tuple[bool, dict[str, Any]]:
        passed, report = hook(path, manifest)
        return True, {**report, "gate_passed": passed, "enforced": False}

    return observe


def _qc_of(job: Job, audit: dict[str, Any], profile: Any, input_root: Path) -> dict[str, Any]:
    """QC from the audit record, or measured now (a job delivered by a run without QC)."""
    qc = (audit.get("verification") or {}).get("qc")
    if isinstance(qc, dict) and "metrics" in qc:
        return qc
    from comfy_vidgen.qc import run_qc

    report = run_qc(
        job.output_path or "",
        manifest=job.manifest,
        profile=profile,
        input_root=input_root,
    )
    return {**report.to_dict(), "gate_passed": report.passed}


def _stages(engine: str, timings: dict[str, Any], gpu_s: float) -> dict[str, float]:
    """Per-stage seconds: the local pipeline times its steps; ComfyUI only the whole prompt."""
    step = {k[5:]: float(v) for k, v in timings.items() if k.startswith("step_") and v is not None}
    if engine == "local" and step:
        gen = step.get("load", 0.0) + step.get("render", 0.0)
        interp, enc = step.get("retime", 0.0), step.get("encode", 0.0)
        other = max(0.0, gpu_s - gen - interp - enc)
        return {"gen": gen + other, "interp": interp, "encode": enc}
    return {"gen": gpu_s, "interp": 0.0, "encode": 0.0}


def collect_clip(
    ledger: Ledger, job: Job, shot: str, engine: str, profile: Any, input_root: Path
) -> ClipResult:
    job = ledger.get(job.job_id) or job
    clip = ClipResult(shot, job.manifest_id, job.job_id, job.state.value, job.error_message)
    if job.state is not JobState.DONE or not job.output_path or not job.audit_path:
        clip.qc_reasons = [
            f"no clip: job {job.state.value}"
            + (f": {job.error_message}" if job.error_message else "")
        ]
        return clip
    clip.path, clip.audit_path = job.output_path, job.audit_path
    try:
        audit = json.loads(Path(job.audit_path).read_text("utf-8"))
    except (OSError, ValueError) as e:
        clip.error = f"unreadable audit record {job.audit_path}: {e}"
        return clip
    timings = audit.get("timings") or {}
    exec_s = timings.get("exec_s")
    if exec_s is None:  # no history timestamps: fall back to the ledger's attempt times
        done = [a for a in ledger.attempts(job_id=job.job_id) if a.started_at and a.finished_at]
        exec_s = (done[-1].finished_at - done[-1].started_at) if done else None  # type: ignore[operator]
    clip.instance = audit.get("instance")
    if exec_s is not None:
        clip.gpu_s = float(exec_s)
        clip.stages = _stages(engine, timings, clip.gpu_s)
    qc = _qc_of(job, audit, profile, input_root)
    clip.qc_passed = bool(qc.get("gate_passed", qc.get("passed")))
    clip.qc_score = float(qc.get("score", 0.0))
    clip.qc_reasons = list(qc.get("reasons") or [])
    clip.qc_reasons += [f"warning: {w}" for w in qc.get("warnings") or []]
    clip.qc_metrics = dict(qc.get("metrics") or {})
    return clip


# --------------------------------------------------------------------------- numbers
def summarise(r: VariantResult, cfg: ShootoutConfig) -> None:
    """Pass rate, QC score, GPU seconds, cost and capacity of one variant."""
    from comfy_vidgen.capacity import SECONDS_PER_DAY, StageSeconds, plan

    n = len(r.clips)
    if not r.runnable or n == 0:
        return
    r.pass_rate = round(sum(c.qc_passed for c in r.clips) / n, 4)
    # a shot without a clip scores 0: failures are part of a model's quality
    r.qc_score = round(sum(c.qc_score or 0.0 for c in r.clips) / n, 4)
    secs = [c.gpu_s for c in r.clips if c.gpu_s is not None]
    if not secs:
        return
    # the median: the first clip of a process also pays for loading the models
    r.gpu_s_median = round(statistics.median(secs), 4)
    r.gpu_s_mean = round(statistics.fmean(secs), 4)
    r.stages = {
        k: round(statistics.median(c.stages[k] for c in r.clips if c.stages), 4)
        for k in ("gen", "interp", "encode")
    }
    per_clip = r.gpu_s_median
    cost = per_clip / 3600.0 * cfg.price_per_gpu_hour  # rounded only for display, never reused
    r.cost_per_clip = round(cost, 6)
    r.cost_per_1000 = round(cost * 1000, 4)
    if r.pass_rate > 0:
        r.cost_per_passing_clip = round(cost / r.pass_rate, 6)
    try:
        t = StageSeconds(r.stages["gen"], r.stages["interp"], r.stages["encode"])
        r.capacity = plan(t, cfg.gpus, cfg.target_per_day)
        r.clips_per_day = max(v["clips_per_day"] for v in r.capacity["topologies"].values())
    except UsageError:
        r.capacity, r.clips_per_day = None, 0
    if per_clip > 0:
        r.gpus_for_target = math.ceil(cfg.target_per_day * per_clip / SECONDS_PER_DAY)


def rank(results: list[VariantResult], cfg: ShootoutConfig) -> VariantResult | None:
    """Hard thresholds first (eligibility), then the weighted score; the best eligible wins.

    quality = mean QC gate score over the shots; cost = cheapest eligible cost per
    passing clip / this variant's (1 for the cheapest, capped at 1). Ineligible variants are
    scored too (for the report) but never win.
    """
    th = cfg.thresholds
    min_cpd = th.min_clips_per_day if th.min_clips_per_day is not None else cfg.target_per_day
    for r in results:
        f: list[str] = []
        if not r.runnable:
            f.append(f"not runnable: {r.note}")
        elif not r.clips or r.gpu_s_median is None:
            f.append("no measured clip")
        else:
            if r.pass_rate < th.min_pass_rate:
                f.append(f"QC pass rate {r.pass_rate:.0%} < {th.min_pass_rate:.0%}")
            if r.qc_score < th.min_score:
                f.append(f"QC score {r.qc_score:.3f} < {th.min_score:.3f}")
            if th.max_cost_per_clip is not None and (r.cost_per_clip or 0) > th.max_cost_per_clip:
                f.append(
                    f"cost per clip {r.cost_per_clip:.4f} > {th.max_cost_per_clip:.4f} {cfg.currency}"
                )
            if r.clips_per_day < min_cpd:
                f.append(f"{r.clips_per_day} clips/day on {cfg.gpus} GPU(s) < {min_cpd}")
        r.failures, r.eligible = f, not f

    def cost_of(r: VariantResult) -> float | None:
        if r.cost_per_clip is None:
            return None
        return r.cost_per_passing_clip if r.pass_rate > 0 else math.inf

    # relative to the cheapest variant that passed the hard thresholds (else any measured)
    pool = [c for r in results if r.eligible and (c := cost_of(r))] or [
        c for r in results if (c := cost_of(r))
    ]
    cheapest = min(pool) if pool else None
    w = cfg.weights
    for r in results:
        cost = cost_of(r)
        cost_score = (
            min(1.0, cheapest / cost) if (cheapest and cost and math.isfinite(cheapest)) else 0.0
        )
        r.score = round((w.quality * r.qc_score + w.cost * cost_score) / (w.quality + w.cost), 4)
    order = sorted(results, key=lambda r: (not r.eligible, -r.score, r.variant.key))
    for i, r in enumerate(order, 1):
        r.rank = i
    return order[0] if order and order[0].eligible else None


# --------------------------------------------------------------------------- run
class _LogReporter:
    """Logs job transitions and forwards them to the caller's reporter."""

    def __init__(self, inner: Reporter | None) -> None:
        self.inner = inner

    def job_state(self, job: Any, state: Any, instance: str | None, detail: str) -> None:
        log.info("%s: %s on %s %s", job.job_id, state.value, instance or "-", detail)
        if self.inner is not None:
            self.inner.job_state(job, state, instance, detail)

    def progress(self, job_id: str, instance: str, value: int, total: int) -> None:
        if self.inner is not None:
            self.inner.progress(job_id, instance, value, total)


def run_shootout(
    config_path: str | Path,
    *,
    out_dir: str | Path,
    default_engine: str = "local",
    setup: EngineSetup | None = None,
    input_root: str | Path | None = None,
    reporter: Reporter | None = None,
    stop: threading.Event | None = None,
    local_runner: Any = None,
) -> ShootoutResult:
    """Run every variant x shot, measure, rank, and write the report and the lock."""
    from comfy_vidgen.qc import ProfileError, load_profile
    from orchestrator.engine import ComfyUIEngine, LocalEngine, submit_manifests
    from orchestrator.workflow import load_workflow

    if default_engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}, got {default_engine!r}")
    cfg_path = Path(config_path)
    cfg = load_config(cfg_path)
    base_dir = cfg_path.resolve().parent
    setup = setup or EngineSetup()
    if setup.workflow_dirs is None and cfg.comfyui.workflows:
        setup = dataclasses.replace(setup, workflow_dirs=[base_dir / cfg.comfyui.workflows])
    if setup.full_lint is None:
        setup = dataclasses.replace(setup, full_lint=cfg.comfyui.lint == "full")
    if setup.timeout_s is None:
        setup = dataclasses.replace(setup, timeout_s=cfg.comfyui.timeout_s)
    root = Path(input_root) if input_root else base_dir / (cfg.input_root or ".")
    root = root.resolve()
    prof_spec: str | Path = cfg.profile
    if (base_dir / cfg.profile).is_file():
        prof_spec = base_dir / cfg.profile
    try:
        profile = load_profile(prof_spec)
    except ProfileError as e:
        raise ShootoutConfigError(f"{cfg_path}: profile: {e}") from None
    out = Path(out_dir)
    started = time.time()
    shots = base_manifests(cfg, base_dir, root)
    variants = expand_variants(cfg, default_engine)

    # 1. every variant manifest validated before anything runs
    results: list[VariantResult] = []
    manifests: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    errors: list[str] = []
    for v in variants:
        reason = not_runnable_reason(v, setup)
        res = VariantResult(v, runnable=reason is None, note=reason)
        results.append(res)
        items: list[tuple[str, dict[str, Any]]] = []
        for shot in shots:
            d = variant_manifest(shot, v)
            try:
                parse_manifest(d, source=f"{v.key}/{shot['id']}")
            except ManifestError as e:
                msg = f"variant {v.key} ({v.label}), shot {shot['id']}: {e}"
                if res.runnable:
                    errors.append(msg)
                elif res.note and "would also be invalid" not in res.note:
                    res.note += f"; its manifests would also be invalid ({e})"
                continue
            items.append((shot["id"], d))
        manifests[v.key] = items
    if errors:
        raise ShootoutConfigError("invalid variant manifests:\n  " + "\n  ".join(errors))

    # 2. through the orchestrator: one ledger, dedup, verification (QC observed), audit
    out.mkdir(parents=True, exist_ok=True)
    ledger = open_ledger(out / "ledger.db")
    stop = stop or threading.Event()
    rep = _LogReporter(reporter)
    try:
        jobs: dict[str, list[tuple[str, Job]]] = {}
        for res in results:
            if not res.runnable:
                continue
            mdir = out / "manifests" / res.variant.key
            mdir.mkdir(parents=True, exist_ok=True)
            paths: list[Path] = []
            for _shot, d in manifests[res.variant.key]:
                p = mdir / f"{d['id']}.json"
                atomic_write_text(p, json.dumps(d, indent=2, sort_keys=True) + "\n")
                paths.append(p)
            subs = submit_manifests(ledger, paths, root)
            bad = [s for s in subs if s.job is None]
            if bad:
                raise VidgenError(f"variant {res.variant.key}: {bad[0].source}: {bad[0].error}")
            shot_ids = [s for s, _ in manifests[res.variant.key]]
            jobs[res.variant.key] = [
                (sid, s.job) for sid, s in zip(shot_ids, subs, strict=True) if s.job is not None
            ]
        clips_dir = out / "clips"
        verifier = Verifier(gate=observe_gate(profile, root))
        by_engine: dict[str, set[str]] = {e: set() for e in ENGINES}
        for res in results:
            for _sid, job in jobs.get(res.variant.key, []):
                by_engine[res.variant.engine].add(job.job_id)
        if by_engine["local"] and not stop.is_set():
            LocalEngine(
                ledger, out_dir=clips_dir, runner=local_runner, verifier=verifier, reporter=rep
            ).run(by_engine["local"], stop)
        if by_engine["comfyui"] and not stop.is_set():
            assert setup.fleet is not None
            dirs = setup.workflow_dirs
            engine = ComfyUIEngine(
                ledger,
                setup.fleet,
                out_dir=clips_dir,
                workflows=lambda ref: load_workflow(ref, dirs),
                verifier=verifier,
                reporter=rep,
                full_lint=setup.full_lint is not False,
            )
            engine.run(by_engine["comfyui"], stop, setup.timeout_s)

        # 3. measure and rank
        for res in results:
            res.clips = [
                collect_clip(ledger, job, sid, res.variant.engine, profile, root)
                for sid, job in jobs.get(res.variant.key, [])
            ]
            summarise(res, cfg)
    finally:
        ledger.close()
    winner = rank(results, cfg)
    result = ShootoutResult(
        cfg, str(cfg_path), results, winner, out, started_at=started, finished_at=time.time()
    )
    write_outputs(result)
    return result


# --------------------------------------------------------------------------- outputs
def locked_settings(result: ShootoutResult) -> dict[str, Any] | None:
    """``locked-settings.json`` (read by ``comfy_vidgen.locked``): workflow + parameters."""
    w = result.winner
    if w is None:
        return None
    # every generation key the winner ran with, except what belongs to the shot
    params: dict[str, Any] = {}
    for clip_params in (_generation_of(c) for c in w.clips):
        params.update(clip_params)
        break
    params.update(w.variant.params)
    return {
        "workflow": w.variant.workflow,
        "parameters": params,
        "source": f"vidgen shootout {result.source}: variant {w.variant.key} ({w.variant.label})",
        "variant": w.variant.key,
        "engine": w.variant.engine,
        "score": w.score,
        "qc_pass_rate": w.pass_rate,
        "qc_score": w.qc_score,
        "gpu_seconds_per_clip": w.gpu_s_median,
        "cost_per_1000": w.cost_per_1000,
        "currency": result.config.currency,
        "decided_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.finished_at)),
    }


def _generation_of(clip: ClipResult) -> dict[str, Any]:
    if not clip.audit_path:
        return {}
    try:
        audit = json.loads(Path(clip.audit_path).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    gen = dict((audit.get("manifest") or {}).get("generation") or {})
    return {k: v for k, v in gen.items() if k in SWEEPABLE}


def measurements(result: ShootoutResult) -> dict[str, Any]:
    """``measurements.json``: the winner's stage seconds (``vidgen capacity --from``) + all."""
    per = {
        r.variant.key: {
            "workflow": r.variant.workflow,
            "engine": r.variant.engine,
            "gen_seconds": r.stages.get("gen"),
            "interp_seconds": r.stages.get("interp"),
            "encode_seconds": r.stages.get("encode"),
            "gpu_seconds_per_clip": r.gpu_s_median,
        }
        for r in result.variants
        if r.stages
    }
    out: dict[str, Any] = {"winner": result.winner.variant.key if result.winner else None}
    if result.winner is not None and result.winner.stages:
        s = result.winner.stages
        out.update(gen_seconds=s["gen"], interp_seconds=s["interp"], encode_seconds=s["encode"])
    out["gpus"] = result.config.gpus
    out["target_per_day"] = result.config.target_per_day
    out["variants"] = per
    return out


def write_outputs(result: ShootoutResult) -> None:
    from .report import REPORT_DIR, write_report

    out = result.out_dir
    lock = locked_settings(result)
    if lock is not None:
        result.locked = out / "locked-settings.json"
        atomic_write_text(result.locked, json.dumps(lock, indent=2, sort_keys=True) + "\n")
    else:
        (out / "locked-settings.json").unlink(missing_ok=True)
    result.measurements = out / "measurements.json"
    atomic_write_text(
        result.measurements, json.dumps(measurements(result), indent=2, allow_nan=False) + "\n"
    )
    result.report = write_report(result, out / REPORT_DIR)
    atomic_write_text(
        out / "summary.json", json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
    )
