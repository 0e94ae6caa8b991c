"""``vidgen qc`` (objective clip QC + delivery gate) and ``vidgen capacity``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import add_input_root, add_json_flag, add_parser, emit_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    q = add_parser(
        sub,
        "qc",
        "measure a clip (structure, stability, flashes, fidelity, camera path, motion) "
        "and apply the delivery gate; exit 0 when it passes, 1 when it fails",
        "vidgen qc out/beach.mp4 --manifest beach.json --input-root shots --json "
        "--plot beach-qc.png",
    )
    q.add_argument("video", type=Path, metavar="VIDEO")
    q.add_argument("--manifest", type=Path, default=None, metavar="M", help="the clip's manifest")
    q.add_argument(
        "--profile",
        default=None,
        metavar="P",
        help="gate profile: a TOML file or a preset name (default: 'default')",
    )
    q.add_argument(
        "--plot", type=Path, default=None, metavar="PNG", help="save per-frame curves here"
    )
    add_input_root(q)
    add_json_flag(q)
    q.set_defaults(func=cmd_qc)

    c = add_parser(
        sub,
        "capacity",
        "clips per day for each rack topology from per-stage GPU seconds per clip",
        "vidgen capacity --gen-seconds 95 --interp-seconds 6 --encode-seconds 2 --gpus 8 --json",
    )
    c.add_argument("--gen-seconds", type=float, default=None, metavar="S")
    c.add_argument("--interp-seconds", type=float, default=None, metavar="S")
    c.add_argument("--encode-seconds", type=float, default=None, metavar="S")
    c.add_argument(
        "--from",
        dest="measurements",
        type=Path,
        default=None,
        metavar="FILE",
        help="take the stage seconds from a shootout's measurements.json (flags override)",
    )
    c.add_argument(
        "--workflow",
        default=None,
        metavar="NAME",
        help="take --gen-seconds from the time published for this workflow's model"
        " (comfy_vidgen.capacity.PUBLISHED; the flag overrides)",
    )
    c.add_argument("--gpus", type=int, required=True, metavar="N")
    c.add_argument(
        "--topology",
        choices=("symmetric", "split"),
        default="symmetric",
        help="the topology whose result sets the exit code (both are reported)",
    )
    c.add_argument(
        "--target", type=int, default=1000, metavar="CLIPS", help="clips per day (default 1000)"
    )
    add_json_flag(c)
    c.set_defaults(func=cmd_capacity)


def _progress(enabled: bool) -> Any:
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(desc="qc", unit="frame", dynamic_ncols=True)

    def tick(done: int, total: int) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    tick.bar = bar  # type: ignore[attr-defined]
    return tick


def cmd_qc(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..fsutil import check_output
    from ..qc import run_qc
    from ..qc.plot import save_plot
    from ..qc.profile import load_profile

    if not args.video.is_file():
        raise UsageError(f"{args.video}: no such video file")
    if args.manifest is not None and not args.manifest.is_file():
        raise UsageError(f"--manifest {args.manifest}: no such file")
    profile = load_profile(args.profile)  # a bad profile is refused before decoding
    if args.plot is not None:
        check_output(args.plot, [args.video, args.manifest, args.profile], option="--plot")
    tick = _progress(not args.json)
    try:
        report = run_qc(
            args.video,
            manifest=args.manifest,
            profile=profile,
            on_progress=tick,
            input_root=args.input_root,
        )
    finally:
        if tick is not None:
            tick.bar.close()
    if args.plot:
        save_plot(report.curves, args.plot)
    if args.json:
        emit_json(report.to_dict())
    else:
        _print_report(report, args)
    return 0 if report.passed else 1


def _print_report(report: Any, args: argparse.Namespace) -> None:
    m = report.metrics
    st, sb, mo = m["structure"], m["stability"], m["motion"]
    out = sys.stdout
    verdict = "PASS" if report.passed else "FAIL"
    out.write(f"{args.video}: {verdict}  score {report.score:.3f}\n")
    out.write(
        f"  structure  {st['frames']} frames, {st['fps']} fps, {st['width']}x{st['height']}, "
        f"{st['codec']} {st['pix_fmt']}\n"
    )
    out.write(
        f"  stability  SSIM mean {sb['ssim_mean']} min {sb['ssim_min']}, "
        f"luma spike {sb['luma_spike_max']}, flicker {sb['flicker_hf_max']}, "
        f"frozen {sb['frozen_frames']}, black {sb['black_frames']}, cuts {sb['scene_cuts']}, "
        f"jerk {sb['motion_jerk_px']} px\n"
    )
    for name in ("wcag_general", "wcag_red", "bt1702_general", "bt1702_red"):
        f = m["flash"][name]
        out.write(
            f"  {name:<15} {'ok  ' if f['passed'] else 'FAIL'} "
            f"max {f['max_flashes_per_s']} flashes/s, worst area {f['max_area']:.1%}\n"
        )
    pat = m["pattern"]
    out.write(
        f"  pattern         {'ok  ' if pat['passed'] else 'FAIL'} "
        f"stationary {pat['max_stationary_area']:.1%}, changing {pat['max_changing_area']:.1%}, "
        f"flowing {pat['max_flowing_area']:.1%} of the screen, {pat['max_pairs']} pairs\n"
    )
    if m["fidelity"]:
        fi = m["fidelity"]
        out.write(
            f"  fidelity   SSIM {fi['ssim']} PSNR {fi['psnr_db']} dB (frame 0 vs start crop)\n"
        )
    if m["path"] and m["path"].get("measured_steps"):
        p = m["path"]
        out.write(
            f"  path       error mean {p['mean_px']} px max {p['max_px']} px, zoom error "
            f"{p['zoom_err_mean']}, direction {'ok' if p['direction_ok'] else 'WRONG'}\n"
        )
    out.write(f"  motion     {mo['mean_px']} px/frame (residual {mo['residual_mean_px']} px)\n")
    for r in report.reasons:
        out.write(f"  reason: {r}\n")
    for w in report.warnings:
        out.write(f"  warning: {w}\n")
    if args.plot:
        out.write(f"  curves: {args.plot}\n")


def cmd_capacity(args: argparse.Namespace) -> int:
    from ..capacity import (
        PUBLISHED,
        StageSeconds,
        budget_seconds,
        load_measurements,
        plan,
        split,
        symmetric,
    )
    from ..errors import UsageError

    base = load_measurements(args.measurements) if args.measurements else None
    published = None
    if args.workflow is not None:
        published = PUBLISHED.get(args.workflow.split("@")[0])
        if published is None:
            raise UsageError(
                f"--workflow: no published time for {args.workflow!r} (known: "
                f"{', '.join(sorted(PUBLISHED))})"
            )
    gen_default = published.seconds if published else (base.gen if base else None)
    vals = {
        "gen": args.gen_seconds if args.gen_seconds is not None else gen_default,
        "interp": args.interp_seconds
        if args.interp_seconds is not None
        else (base.interp if base else None),
        "encode": args.encode_seconds
        if args.encode_seconds is not None
        else (base.encode if base else None),
    }
    missing = [f"--{k}-seconds" for k, v in vals.items() if v is None]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (or give --from measurements.json)")
    t = StageSeconds(gen=vals["gen"], interp=vals["interp"], encode=vals["encode"])  # type: ignore[arg-type]
    result = plan(t, args.gpus, args.target)
    chosen = result["topologies"][args.topology]
    holds = chosen["clips_per_day"] >= args.target
    if args.json:
        emit_json(result)
    else:
        sym, spl = symmetric(t, args.gpus), split(t, args.gpus)
        if published is not None and args.gen_seconds is None:
            sys.stdout.write(
                f"generation time published for {published.workflow}: {published.seconds:g} s"
                f" on {published.gpu} at {published.setting} ({published.source})\n"
            )
        sys.stdout.write(
            f"budget: {budget_seconds(args.gpus, args.target):.1f} GPU s per clip, all stages"
            f" (symmetric, {args.gpus} GPU(s), {args.target} clips/day)\n"
        )
        sys.stdout.write(
            f"{args.gpus} GPU(s); per clip: generation {t.gen:g} s, interpolation "
            f"{t.interp:g} s, encode {t.encode:g} s; target {args.target} clips/day\n"
        )
        sys.stdout.write(
            f"  symmetric  {sym.clips_per_day:>8} clips/day  bottleneck: {sym.bottleneck}"
            f"  {'meets' if sym.clips_per_day >= args.target else 'misses'} target\n"
        )
        alloc = f" ({spl.gen_gpus} gen + {spl.post_gpus} RIFE/encode)" if spl.gen_gpus else ""
        sys.stdout.write(
            f"  split      {spl.clips_per_day:>8} clips/day  bottleneck: {spl.bottleneck}{alloc}"
            f"  {'meets' if spl.clips_per_day >= args.target else 'misses'} target\n"
        )
    return 0 if holds else 1
