"""Every command against what users really type (issue 17): about ten bad inputs each.

Each case asserts the exit code (2 usage error, 1 rejected item), one ``vidgen:``
line on stderr (or the report line on stdout for report commands), no traceback,
and that nothing in the working folder changed: every input byte-identical, no
file created, none left half-written.

The cases run through ``comfy_vidgen.cli.main`` in one subprocess
(tests/hostile_driver.py) so the whole sweep costs one interpreter start;
``test_driver_matches_the_real_entry_point`` runs a sample through
``python -m comfy_vidgen.cli`` to show the driver sees what a user sees.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import photo
from PIL import Image

HERE = Path(__file__).resolve().parent

# (id, command line, exit code, text the message must contain; "" = any).
# ids start with the command they attack; @report: the verdict is on stdout.
CASES: list[tuple[str, str, int, str]] = [
    # ------------------------------------------------------------------ top level
    ("top-none", "", 2, ""),
    ("top-unknown-command", "explode", 2, "invalid choice"),
    ("top-unknown-flag", "--bogus", 2, "unrecognized"),
    ("top-verbose-unknown", "-vvv explode", 2, "invalid choice"),
    ("top-empty-command", "''", 2, "invalid choice"),
    ("top-flag-as-command", "--json", 2, "unrecognized"),
    ("top-version-extra", "--version-x", 2, ""),
    ("top-double-dash", "-- demo", 2, ""),
    # ------------------------------------------------------------------ demo
    ("demo-out-is-a-file", "demo --out K.jpg", 2, "not a directory"),
    ("demo-out-in-proc", "demo --out /proc/vidgen-x", 2, "cannot write"),
    ("demo-out-under-a-file", "demo --out notes.txt/sub", 2, "not a directory"),
    ("demo-out-dev-null", "demo --out /dev/null", 2, "not a directory"),
    ("demo-unknown-flag", "demo --fast", 2, "unrecognized"),
    ("demo-extra-arg", "demo shots", 2, "unrecognized"),
    ("demo-out-missing-value", "demo --out", 2, "expected one argument"),
    ("demo-out-link-to-file", "demo --out L.jpg", 2, "not a directory"),
    # ------------------------------------------------------------------ viability
    ("viability-no-such-file", "viability nope.jpg", 2, "no such file"),
    ("viability-report-is-input", "viability K.jpg --report K.jpg", 2, "is the input"),
    ("viability-report-symlink", "viability K.jpg --report L.jpg", 2, "is the input"),
    ("viability-report-hardlink", "viability K.jpg --report H.jpg", 2, "is the input"),
    ("viability-report-in-folder", "viability frames --report frames/f0.png", 2, "is the input"),
    ("viability-report-dir", "viability K.jpg --report frames", 2, "is a directory"),
    ("viability-report-proc", "viability K.jpg --report /proc/x.csv", 2, "cannot write"),
    ("viability-min-score-nan", "viability K.jpg --min-score nan", 2, "--min-score"),
    ("viability-min-score-inf", "viability K.jpg --min-score inf", 2, "--min-score"),
    ("viability-min-score-big", "viability K.jpg --min-score 2", 2, "--min-score"),
    ("viability-workers-0", "viability K.jpg --workers 0", 2, "--workers"),
    ("viability-profile-nan", "viability K.jpg --profile via_nan.toml", 2, "min_score"),
    ("viability-profile-missing", "viability K.jpg --profile nope.toml", 2, "no such file"),
    ("viability-profile-binary", "viability K.jpg --profile K.jpg", 2, "cannot read TOML"),
    ("viability-empty-folder", "viability emptydir", 2, "no image files"),
    # ------------------------------------------------------------------ manifest new
    ("new-o-is-keyframe", "manifest new K.jpg {NEW} -o K.jpg", 2, "is the input"),
    ("new-o-symlink-to-keyframe", "manifest new K.jpg {NEW} -o L.jpg", 2, "is the input"),
    ("new-o-hardlink-to-keyframe", "manifest new K.jpg {NEW} -o H.jpg", 2, "is the input"),
    ("new-o-is-dir", "manifest new K.jpg {NEW} -o frames", 2, "is a directory"),
    ("new-o-proc", "manifest new K.jpg {NEW} -o /proc/m.json", 2, "cannot write"),
    ("new-o-under-a-file", "manifest new K.jpg {NEW} -o notes.txt/m.json", 2, "not a directory"),
    ("new-frames-0", "manifest new K.jpg {NEW} --frames 0", 2, "output.frames"),
    ("new-fps-0", "manifest new K.jpg {NEW} --fps 0", 2, "output.fps"),
    ("new-seed-negative", "manifest new K.jpg {NEW} --seed -1", 2, "seed"),
    ("new-size-zero", "manifest new K.jpg --motion zoom_in --end full --size 0x0", 2, "size"),
    ("new-crop-3-numbers", "manifest new K.jpg --motion zoom_in --end 1,2,3", 2, "X,Y,W,H"),
    ("new-crop-nan", "manifest new K.jpg --motion zoom_in --end nan,0,0.5,0.5", 2, "end_frame"),
    ("new-motion-unknown", "manifest new K.jpg --motion warp --end full", 2, "motion"),
    ("new-workflow-unknown", "manifest new K.jpg {NEW} --workflow nosuch@1", 2, "'nosuch@1'"),
    ("new-keyframe-missing", "manifest new nope.jpg {NEW}", 2, "does not exist"),
    ("new-keyframe-not-image", "manifest new notes.txt --motion zoom_in --end full", 2, ""),
    ("new-cfg-nan", "manifest new K.jpg {NEW} --workflow svd_xt@1 --cfg nan", 2, "cfg"),
    ("new-noise-aug-inf", "manifest new K.jpg {NEW} --workflow svd_xt@1 --noise-aug inf", 2, ""),
    # ------------------------------------------------------------------ manifest validate/hash
    ("validate-missing", "manifest validate nope.json", 2, "no such manifest"),
    ("validate-dir", "manifest validate frames", 2, "no such manifest"),
    ("validate-no-files", "manifest validate", 2, "required"),
    ("validate-bad-json@report", "manifest validate badjson.json", 1, "INVALID"),
    ("validate-empty@report", "manifest validate empty.json", 1, "INVALID"),
    ("validate-jpeg@report", "manifest validate K.jpg", 1, "INVALID"),
    ("validate-truncated-keyframe@report", "manifest validate mt.json", 1, "keyframe"),
    ("validate-root-missing@report", "manifest validate m.json --input-root nope", 1, "INVALID"),
    ("validate-unknown-flag", "manifest validate m.json --strict", 2, "unrecognized"),
    ("hash-missing", "manifest hash nope.json", 2, "no such manifest"),
    ("hash-bad-json", "manifest hash badjson.json", 1, "invalid manifest"),
    ("hash-jpeg", "manifest hash K.jpg", 1, "invalid manifest"),
    ("manifest-no-action", "manifest", 2, "required"),
    ("manifest-schema-extra-arg", "manifest schema out.json", 2, "unrecognized"),
    # ------------------------------------------------------------------ camera suggest
    ("suggest-missing", "camera suggest nope.jpg", 2, "does not exist"),
    ("suggest-n-0", "camera suggest K.jpg --n 0", 2, "--n"),
    ("suggest-n-100", "camera suggest K.jpg --n 100", 2, "--n"),
    ("suggest-size-odd-text", "camera suggest K.jpg --size abc", 2, "WIDTHxHEIGHT"),
    ("suggest-size-zero", "camera suggest K.jpg --size 0x5", 2, "positive"),
    ("suggest-easing", "camera suggest K.jpg --easing bounce", 2, "--easing"),
    ("suggest-dir", "camera suggest frames", 2, "not a file"),
    ("suggest-not-image", "camera suggest notes.txt", 1, ""),
    ("suggest-truncated", "camera suggest KT.jpg", 1, ""),
    # ------------------------------------------------------------------ camera preview
    ("preview-sheet-is-keyframe", "camera preview mp.json --sheet KP.png", 2, "is the input"),
    ("preview-o-link-to-keyframe", "camera preview mp.json -o LP.png", 2, "is the input"),
    ("preview-sheet-jpg", "camera preview m.json --sheet K.jpg", 2, ".mp4 (video) or .png"),
    ("preview-o-manifest", "camera preview m.json -o m.json", 2, ".mp4 (video) or .png"),
    ("preview-no-output", "camera preview m.json", 2, "give -o"),
    ("preview-o-proc", "camera preview m.json -o /proc/p.mp4", 2, "cannot write"),
    ("preview-same-twice", "camera preview m.json -o s.png --sheet s.png", 2, "same file"),
    ("preview-width-0", "camera preview m.json -o p.mp4 --width 0", 2, "--width"),
    ("preview-frames-1", "camera preview m.json -o p.mp4 --frames 1", 2, "--frames"),
    ("preview-manifest-missing", "camera preview nope.json -o p.mp4", 2, "no such manifest"),
    ("preview-root-missing", "camera preview m.json -o p.mp4 --input-root nope", 2, "not a dir"),
    ("preview-sheet-dir", "camera preview m.json --sheet frames.png", 2, "is a directory"),
    # ------------------------------------------------------------------ camera render
    ("render-o-jpg", "camera render m.json -o K.jpg", 2, "directory (PNG frames) or a .mp4"),
    ("render-o-nonempty-dir", "camera render m.json -o frames", 2, "not empty"),
    ("render-o-is-over", "camera render m.json -o A.mp4 --over A.mp4", 2, "is the input"),
    ("render-o-proc", "camera render m.json -o /proc/r.mp4", 2, "cannot write"),
    ("render-o-under-file", "camera render m.json -o notes.txt/r.mp4", 2, "not a directory"),
    ("render-frames-0", "camera render m.json -o r.mp4 --frames 0", 2, "--frames"),
    ("render-odd-size", "camera render m.json -o r.mp4 --size 33x33", 2, "even"),
    ("render-over-missing", "camera render m.json -o r.mp4 --over nope.mp4", 2, "does not exist"),
    ("render-manifest-missing", "camera render nope.json -o r.mp4", 2, "no such manifest"),
    ("render-manifest-bad", "camera render badjson.json -o r.mp4", 1, "invalid manifest"),
    ("render-keyframe-truncated", "camera render mt.json -o r.mp4", 1, ""),
    # ------------------------------------------------------------------ interpolate
    ("interp-o-is-input", "interpolate A.mp4 --frames 60 -o A.mp4 {W}", 2, "is the input"),
    ("interp-o-link-to-input", "interpolate A.mp4 --frames 60 -o LA.mp4 {W}", 2, "is the input"),
    ("interp-fps-0", "interpolate A.mp4 --frames 60 --fps 0 -o i.mp4 {W}", 2, "--fps"),
    ("interp-fps-negative", "interpolate A.mp4 --frames 60 --fps -30 -o i.mp4 {W}", 2, "--fps"),
    ("interp-fps-huge", "interpolate A.mp4 --frames 60 --fps 1e9 -o i.mp4 {W}", 2, "--fps"),
    ("interp-fps-nan", "interpolate A.mp4 --frames 60 --fps nan -o i.mp4 {W}", 2, "--fps"),
    ("interp-fps-0-png-out", "interpolate A.mp4 --frames 60 --fps 0 -o pngs {W}", 2, "--fps"),
    ("interp-o-nonempty-dir", "interpolate A.mp4 --frames 60 -o frames {W}", 2, "not empty"),
    ("interp-o-is-input-dir", "interpolate frames --frames 6 -o frames {W}", 2, "is the input"),
    ("interp-o-txt", "interpolate A.mp4 --frames 60 -o i.txt {W}", 2, ".mp4/.mov/.m4v"),
    ("interp-o-proc", "interpolate A.mp4 --frames 60 -o /proc/i.mp4 {W}", 2, "cannot write"),
    ("interp-frames-1", "interpolate A.mp4 --frames 1 -o i.mp4 {W}", 2, "--frames"),
    ("interp-batch-0", "interpolate A.mp4 --frames 60 --batch-size 0 -o i.mp4 {W}", 2, "batch"),
    ("interp-input-missing", "interpolate nope.mp4 --frames 60 -o i.mp4 {W}", 2, "does not exist"),
    ("interp-dtype-cpu", "interpolate A.mp4 --frames 60 --dtype fp16 -o i.mp4 {W}", 2, "fp32"),
    ("interp-model-missing", "interpolate A.mp4 --frames 60 -o i.mp4 --model nope.pth", 2, ""),
    ("interp-damaged-input", "interpolate T.mp4 --frames 60 -o i.mp4 {W}", 1, "damaged"),
    # ------------------------------------------------------------------ encode
    ("encode-o-is-input", "encode A.mp4 -o A.mp4", 2, "is the input"),
    ("encode-o-link-to-input", "encode A.mp4 -o LA.mp4", 2, "is the input"),
    ("encode-sidecar-is-manifest", "encode A.mp4 -o m.mp4 --manifest m.json", 2, "is the input"),
    ("encode-fps-0", "encode A.mp4 -o e.mp4 --fps 0", 2, "fps"),
    ("encode-fps-text", "encode A.mp4 -o e.mp4 --fps fast", 2, "fps"),
    ("encode-quality-99", "encode A.mp4 -o e.mp4 --quality 99", 2, "quality"),
    ("encode-preset-warp9", "encode A.mp4 -o e.mp4 --preset warp9", 2, "preset"),
    ("encode-o-txt", "encode A.mp4 -o e.txt", 2, ".mp4"),
    ("encode-gain-nan", "encode A.mp4 -o e.mp4 --audio-gain nan", 2, "--audio-gain"),
    ("encode-gain-inf", "encode A.mp4 -o e.mp4 --audio-gain inf", 2, "--audio-gain"),
    ("encode-gain-1e9", "encode A.mp4 -o e.mp4 --audio-gain 1e9", 2, "--audio-gain"),
    ("encode-audio-missing", "encode A.mp4 -o e.mp4 --audio nope.wav", 2, "--audio"),
    ("encode-o-proc", "encode A.mp4 -o /proc/e.mp4", 2, "cannot write"),
    ("encode-o-dir", "encode A.mp4 -o frames.mp4", 2, "is a directory"),
    ("encode-bit-depth-12", "encode A.mp4 -o e.mp4 --bit-depth 12", 2, "invalid choice"),
    ("encode-empty-folder", "encode emptydir -o e.mp4", 2, "no frames"),
    ("encode-damaged-input", "encode T.mp4 -o e.mp4", 1, "damaged"),
    ("encode-not-media", "encode notes.txt -o e.mp4", 1, "not a readable media file"),
    # ------------------------------------------------------------------ probe
    ("probe-missing", "probe nope.mp4", 2, "no such file"),
    ("probe-dir", "probe frames", 2, "no such file"),
    ("probe-no-arg", "probe", 2, "required"),
    ("probe-damaged", "probe T.mp4", 1, "damaged"),
    ("probe-damaged-json", "probe T.mp4 --json", 1, "damaged"),
    ("probe-text", "probe notes.txt", 1, "not a readable media file"),
    ("probe-empty", "probe empty.json", 1, "empty file"),
    ("probe-unknown-flag", "probe A.mp4 --frames", 2, "unrecognized"),
    # ------------------------------------------------------------------ run
    ("run-ledger-not-db", "run m.json --ledger notes.txt", 2, "not a vidgen ledger"),
    ("run-ledger-malformed", "run m.json --ledger bad.db", 2, "ledger"),
    ("run-ledger-foreign", "run m.json --ledger foreign.db", 2, "something else"),
    ("run-ledger-dir", "run m.json --ledger ldir", 2, "is a directory"),
    ("run-ledger-json", "run m.json --ledger m.json", 2, "not a vidgen ledger"),
    ("run-out-is-file", "run m.json --out K.jpg", 2, "not a directory"),
    ("run-out-proc", "run m.json --out /proc/vidgen-out", 2, "cannot write"),
    ("run-out-under-file", "run m.json --out notes.txt/out", 2, "not a directory"),
    ("run-timeout-negative", "run m.json --timeout -5", 2, "--timeout"),
    ("run-timeout-nan", "run m.json --timeout nan", 2, "--timeout"),
    ("run-qc-profile-nan", "run m.json --qc-profile qc_nan.toml", 2, "hard[0].min"),
    ("run-qc-profile-unknown", "run m.json --qc-profile nosuch", 2, "nosuch"),
    ("run-manifest-missing", "run nope.json", 2, "neither"),
    ("run-queue-depth-0", "run m.json --queue-depth 0", 2, "--queue-depth"),
    ("run-comfyui-no-rack", "run m.json --engine comfyui", 2, "--fleet"),
    ("run-fleet-nan", "run m.json --fleet fleet_nan.toml", 2, "queue_depth"),
    ("run-fleet-dir", "run m.json --fleet ldir", 2, "fleet file"),
    ("run-engine-unknown", "run m.json --engine cloud", 2, "invalid choice"),
    # ------------------------------------------------------------------ status / retry
    ("status-ledger-not-db", "status --ledger notes.txt", 2, "not a vidgen ledger"),
    ("status-ledger-malformed", "status --ledger bad.db", 2, "ledger"),
    ("status-ledger-foreign", "status --ledger foreign.db", 2, "something else"),
    ("status-ledger-dir", "status --ledger ldir", 2, "no ledger"),
    ("status-ledger-missing", "status --ledger nope.db", 2, "no ledger"),
    ("status-ledger-jpeg", "status --ledger K.jpg", 2, "not a vidgen ledger"),
    ("status-extra-arg", "status now", 2, "unrecognized"),
    ("status-unknown-flag", "status --all", 2, "unrecognized"),
    ("status-ledger-no-value", "status --ledger", 2, "expected one argument"),
    ("retry-nothing", "retry", 2, "give a JOB"),
    ("retry-both", "retry J --failed", 2, "give a JOB"),
    ("retry-ledger-missing", "retry J --ledger nope.db", 2, "no ledger"),
    ("retry-ledger-not-db", "retry J --ledger notes.txt", 2, "not a vidgen ledger"),
    ("retry-ledger-malformed", "retry J --ledger bad.db", 2, "ledger"),
    ("retry-ledger-foreign", "retry J --ledger foreign.db", 2, "something else"),
    ("retry-ledger-dir", "retry --failed --ledger ldir", 2, "no ledger"),
    ("retry-ledger-jpeg", "retry --failed --ledger K.jpg", 2, "not a vidgen ledger"),
    ("retry-unknown-job", "retry nosuch --ledger good.db", 2, "no job 'nosuch'"),
    ("retry-unknown-flag", "retry J --force", 2, "unrecognized"),
    # ------------------------------------------------------------------ qc
    ("qc-missing", "qc nope.mp4", 2, "no such video"),
    ("qc-dir", "qc frames", 2, "no such video"),
    ("qc-profile-unknown", "qc A.mp4 --profile nosuch", 2, "nosuch"),
    ("qc-profile-nan", "qc A.mp4 --profile qc_nan.toml", 2, "hard[0].min"),
    ("qc-profile-binary", "qc A.mp4 --profile K.jpg", 2, "QC profile"),
    ("qc-plot-is-input", "qc A.mp4 --plot A.mp4", 2, "is the input"),
    ("qc-plot-link-to-input", "qc A.mp4 --plot LA.mp4", 2, "is the input"),
    ("qc-plot-dir", "qc A.mp4 --plot frames", 2, "is a directory"),
    ("qc-plot-proc", "qc A.mp4 --plot /proc/q.png", 2, "cannot write"),
    ("qc-manifest-missing", "qc A.mp4 --manifest nope.json", 2, "--manifest"),
    ("qc-not-media", "qc notes.txt", 1, ""),
    # ------------------------------------------------------------------ capacity
    ("capacity-gpus-0", "capacity {CAP} --gpus 0", 2, "--gpus"),
    ("capacity-gpus-missing", "capacity {CAP}", 2, "--gpus"),
    (
        "capacity-gen-nan",
        "capacity --gen-seconds nan --interp-seconds 1 --encode-seconds 1 --gpus 1",
        2,
        "--gen-seconds",
    ),  # fmt: skip
    (
        "capacity-gen-inf",
        "capacity --gen-seconds inf --interp-seconds 1 --encode-seconds 1 --gpus 1",
        2,
        "--gen-seconds",
    ),  # fmt: skip
    (
        "capacity-gen-negative",
        "capacity --gen-seconds -5 --interp-seconds 1 --encode-seconds 1 --gpus 1",
        2,
        "--gen-seconds",
    ),  # fmt: skip
    (
        "capacity-all-zero",
        "capacity --gen-seconds 0 --interp-seconds 0 --encode-seconds 0 --gpus 1",
        2,
        "more than 0",
    ),  # fmt: skip
    ("capacity-missing-stage", "capacity --gen-seconds 1 --gpus 1", 2, "missing"),
    ("capacity-target-0", "capacity {CAP} --gpus 1 --target 0", 2, "--target"),
    ("capacity-from-missing", "capacity --from nope.json --gpus 1", 2, "no such"),
    ("capacity-from-bad", "capacity --from badjson.json --gpus 1", 2, ""),
    ("capacity-topology", "capacity {CAP} --gpus 1 --topology ring", 2, "invalid choice"),
    (
        "capacity-workflow-unknown",
        "capacity --workflow nope@1 --interp-seconds 1 --encode-seconds 1 --gpus 1",
        2,
        "no published time",
    ),  # fmt: skip
    # ------------------------------------------------------------------ shootout
    ("shootout-missing", "shootout nope.toml", 2, "does not exist"),
    ("shootout-nan", "shootout shoot_nan.toml", 2, "price_per_gpu_hour"),
    ("shootout-not-toml", "shootout badjson.json", 2, "invalid TOML"),
    ("shootout-dir", "shootout ldir", 2, "not a file"),
    ("shootout-timeout-negative", "shootout shoot.toml --timeout -1", 2, "--timeout"),
    ("shootout-timeout-nan", "shootout shoot.toml --timeout nan", 2, "--timeout"),
    ("shootout-out-is-file", "shootout shoot.toml --out K.jpg", 2, "not a directory"),
    ("shootout-out-is-config", "shootout shoot.toml --out shoot.toml", 2, "is the input"),
    ("shootout-out-proc", "shootout shoot.toml --out /proc/s", 2, "cannot write"),
    ("shootout-fleet-nan", "shootout shoot.toml --fleet fleet_nan.toml", 2, "queue_depth"),
    ("shootout-fleet-and-urls", "shootout shoot.toml --fleet f.toml --comfyui x", 2, "either"),
    # ------------------------------------------------------------------ models
    ("models-fetch-unknown", "models fetch nosuch", 2, "unknown model 'nosuch'"),
    ("models-verify-unknown", "models verify nosuch", 2, "unknown model 'nosuch'"),
    ("models-list-unknown", "models list nosuch", 2, "unknown model 'nosuch'"),
    ("models-lock-missing", "models list --lock nope.json", 2, "not found"),
    ("models-lock-bad", "models list --lock badjson.json", 2, "lock"),
    ("models-dest-is-file", "models fetch rife-4.25 --dest K.jpg", 2, "not a directory"),
    ("models-dest-proc", "models fetch rife-4.25 --dest /proc/m", 2, "cannot write"),
    ("models-comfyui-missing", "models fetch rife-4.25 --comfyui-dir nope", 2, "ComfyUI"),
    ("models-dest-and-comfyui", "models fetch --dest a --comfyui-dir b", 2, "not allowed"),
    ("models-no-action", "models", 2, "required"),
    # ------------------------------------------------------------------ workflow
    ("workflow-lint-unknown", "workflow lint nosuch@1", 2, "no such workflow"),
    ("workflow-lint-bad-version", "workflow lint camera_only@x", 2, "no such workflow"),
    ("workflow-lint-file", "workflow lint notes.txt", 2, "not a workflow folder"),
    ("workflow-lint-dir", "workflow lint frames", 2, "not a workflow folder"),
    ("workflow-lint-object-info-missing", "workflow lint --object-info nope.json", 2, ""),
    ("workflow-lint-object-info-bad", "workflow lint --object-info badjson.json", 2, ""),
    ("workflow-no-action", "workflow", 2, "required"),
    ("workflow-list-extra", "workflow list svd", 2, "unrecognized"),
]

# a valid manifest-new tail; {W}: a weights path that exists (never loaded: every
# case fails before); {CAP}: valid stage seconds
_SUBST = {
    "{NEW}": "--motion zoom_in --end 0.25,0.25,0.5,0.421875 --size 128x72 --seed 1",
    "{W}": "--model weights.pkl",
    "{CAP}": "--gen-seconds 90 --interp-seconds 6 --encode-seconds 2",
}

SHOOT = """
price_per_gpu_hour = {price}
gpus = 1
[inputs]
keyframes = ["K.jpg"]
size = "128x72"
frames = 12
[[candidate]]
workflow = "camera_only@1"
"""


def _argv(line: str) -> list[str]:
    for k, v in _SUBST.items():
        line = line.replace(k, v)
    return shlex.split(line)


def _encode(frames: Any, path: Path) -> None:
    from comfy_vidgen.encode import encode

    encode(frames, path, fps=30, quality=30, preset="ultrafast", sidecar=False)


def _workspace(root: Path) -> None:
    """Real inputs: a photo, its manifest, clips (one truncated), frames, settings files."""
    from comfy_vidgen.encode import probe
    from comfy_vidgen.fsutil import sha256_file
    from comfy_vidgen.manifest import build_manifest, dumps_pretty, full_crop
    from orchestrator.ledgers import open_ledger

    rgb = photo("coffee")
    Image.fromarray(rgb).save(root / "K.jpg", quality=90)
    Image.fromarray(rgb).save(root / "KP.png")
    data = (root / "K.jpg").read_bytes()
    (root / "KT.jpg").write_bytes(data[: len(data) * 6 // 10])
    for name, kf in (("m.json", "K.jpg"), ("mp.json", "KP.png")):
        m = build_manifest(
            keyframe=root / kf,
            input_root=root,
            motion_type="zoom_in",
            start=full_crop(600, 400, 128, 72),
            end={"x": 0.25, "y": 0.25, "w": 0.5, "h": 0.421875},
            workflow="camera_only@1",
            seed=1,
            size=(128, 72),
            output={"frames": 12},
        )
        (root / name).write_text(dumps_pretty(m))
    mt = json.loads((root / "m.json").read_text())
    mt["keyframe"].update(path="KT.jpg", sha256=sha256_file(root / "KT.jpg"))
    (root / "mt.json").write_text(json.dumps(mt, indent=2))
    ramp = np.linspace(0, 255, 128, dtype=np.uint8)
    clip = np.stack([np.roll(np.tile(ramp, (72, 1)), 3 * i, axis=1) for i in range(120)])
    clip = np.repeat(clip[..., None], 3, axis=3)
    _encode(clip[:30], root / "A.mp4")
    _encode(clip, root / "full.mp4")
    full = (root / "full.mp4").read_bytes()
    (root / "T.mp4").write_bytes(full[: len(full) * 8 // 10])
    (root / "full.mp4").unlink()
    assert probe(root / "T.mp4").damaged  # decodes part of its frames, header says 120
    (root / "frames").mkdir()
    for i in range(3):
        Image.fromarray(clip[i]).save(root / "frames" / f"f{i}.png")
    (root / "frames.png").mkdir()
    (root / "frames.mp4").mkdir()
    (root / "emptydir").mkdir()
    (root / "ldir").mkdir()
    (root / "notes.txt").write_text("not a picture\n")
    (root / "weights.pkl").write_bytes(b"never loaded")
    (root / "empty.json").write_bytes(b"")
    (root / "badjson.json").write_text("{ not json")
    (root / "bad.db").write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)
    os.symlink("K.jpg", root / "L.jpg")
    os.symlink("KP.png", root / "LP.png")
    os.symlink("A.mp4", root / "LA.mp4")
    os.link(root / "K.jpg", root / "H.jpg")
    (root / "qc_nan.toml").write_text(
        'name = "nan"\n[[hard]]\nmetric = "stability.ssim_min"\nmin = nan\n'
    )
    (root / "via_nan.toml").write_text("min_score = nan\n")
    (root / "fleet_nan.toml").write_text(
        'queue_depth = nan\n[[instance]]\nname = "gpu0"\nurl = "http://127.0.0.1:9"\n'
    )
    (root / "shoot.toml").write_text(SHOOT.format(price=1.0))
    (root / "shoot_nan.toml").write_text(SHOOT.format(price="nan"))
    open_ledger(root / "good.db").close()
    with contextlib.closing(sqlite3.connect(root / "foreign.db")) as db:
        db.execute("CREATE TABLE photos (name TEXT)")
        db.commit()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "work"
    root.mkdir()
    _workspace(root)
    return root


@pytest.fixture(scope="module")
def results(work: Path) -> dict[str, dict[str, Any]]:
    base = work.parent
    cases = [{"id": cid, "argv": _argv(line)} for cid, line, _, _ in CASES]
    (base / "cases.json").write_text(json.dumps(cases))
    env = {**os.environ, "VIDGEN_MODELS_DIR": str(base / "models"), "COLUMNS": "200"}
    r = subprocess.run(
        [sys.executable, str(HERE / "hostile_driver.py"), str(work), str(base / "cases.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = {}
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        out[rec["id"]] = rec
    return out


def test_at_least_150_cases_and_8_per_command() -> None:
    assert len(CASES) >= 150
    assert len({c[0] for c in CASES}) == len(CASES), "case ids must be unique"
    per: dict[str, int] = {}
    for cid, *_ in CASES:
        group = cid.split("-")[0]
        group = {"new": "manifest", "validate": "manifest", "hash": "manifest"}.get(group, group)
        group = {"suggest": "camera", "preview": "camera", "render": "camera"}.get(group, group)
        group = {"interp": "interpolate"}.get(group, group)
        per[group] = per.get(group, 0) + 1
    thin = {g: n for g, n in per.items() if n < 8}
    assert not thin, thin


@pytest.mark.parametrize(("cid", "line", "code", "text"), CASES, ids=[c[0] for c in CASES])
def test_hostile_input(
    results: dict[str, dict[str, Any]], cid: str, line: str, code: int, text: str
) -> None:
    r = results[cid]
    shown = f"$ vidgen {line}\nexit {r['code']}\nstdout: {r['stdout']}\nstderr: {r['stderr']}"
    assert "Traceback" not in r["stdout"] + r["stderr"], shown
    assert r["code"] == code, shown
    assert r["changed"] == [], f"{shown}\nchanged in the working folder: {r['changed']}"
    if cid.endswith("@report"):  # the verdict is the report on stdout
        assert text in r["stdout"], shown
        return
    errors = [ln for ln in r["stderr"].splitlines() if ln.startswith("vidgen:")]
    assert len(errors) == 1, shown
    assert text in errors[0], shown
    others = [ln for ln in r["stderr"].splitlines() if ln and not ln.startswith("vidgen:")]
    assert all(ln.startswith(("usage:", " ")) for ln in others), shown  # argparse usage only


SAMPLE = ["encode-o-is-input", "run-ledger-malformed", "interp-fps-0", "probe-damaged"]


def test_driver_matches_the_real_entry_point(
    results: dict[str, dict[str, Any]], work: Path
) -> None:
    """A few cases through ``python -m comfy_vidgen.cli``: same code, same stderr."""
    lines = {c[0]: c[1] for c in CASES}
    for cid in SAMPLE:
        r = subprocess.run(
            [sys.executable, "-m", "comfy_vidgen.cli", *_argv(lines[cid])],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (r.returncode, r.stderr) == (results[cid]["code"], results[cid]["stderr"]), cid
