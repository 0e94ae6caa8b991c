"""``vidgen viability PATH...``: score keyframes before any GPU time is spent."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._common import add_json_flag, add_parser, emit_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_parser(
        sub,
        "viability",
        "score keyframes for image-to-video (blur, noise, exposure, compression, pixels); "
        "exit 0 when all pass, 1 when any is rejected",
        "vidgen viability shoot/ --recursive --workers 2 --report viability.csv",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image files or folders")
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML profile (default: built-in)",
    )
    p.add_argument(
        "--min-score",
        type=float,
        default=None,
        metavar="X",
        help="override the profile's min_score",
    )
    p.add_argument(
        "--workers", type=int, default=None, metavar="N", help="processes (default: all cores)"
    )
    p.add_argument(
        "--report", type=Path, default=None, metavar="OUT.csv", help="also write a CSV report"
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_viability)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv
    import io

    from ..fsutil import atomic_write_text

    metric_names = sorted({k for r in rows for k in r["metrics"]})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "score", "passed", "reasons", *metric_names])
    for r in rows:
        w.writerow(
            [
                r["path"],
                r["score"],
                r["passed"],
                "; ".join(r["reasons"]),
                *(r["metrics"].get(k, "") for k in metric_names),
            ]
        )
    atomic_write_text(path, buf.getvalue())


def cmd_viability(args: argparse.Namespace) -> int:
    import dataclasses

    from ..viability import find_images, load_profile, score_files

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.min_score is not None and not 0.0 <= args.min_score <= 1.0:
        raise UsageError(f"--min-score must be in 0..1, got {args.min_score}")
    profile = load_profile(args.profile)
    if args.min_score is not None:
        profile = dataclasses.replace(profile, min_score=args.min_score)
    files = find_images(args.paths, recursive=args.recursive)
    if not files:
        raise UsageError(
            "no image files found in "
            + ", ".join(map(str, args.paths))
            + ("" if args.recursive else " (use --recursive for sub-folders)")
        )
    if args.report is not None:
        from ..fsutil import check_output

        check_output(args.report, [*files, *args.paths, args.profile], option="--report")

    bar = None
    if not args.json and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(files), desc="viability", unit="img", dynamic_ncols=True)

    def tick(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    rows: list[dict[str, Any]] = []
    min_score = profile.min_score
    try:
        for report in score_files(files, profile, workers=args.workers, on_progress=tick):
            d = report.as_dict()
            # --min-score applies on top of the per-check verdict
            d["passed"] = report.passed and report.score >= min_score
            rows.append(d)
            if args.json:
                emit_json(d)
    finally:
        if bar is not None:
            bar.close()
    if not args.json:
        width = max(len(r["path"]) for r in rows)
        for r in rows:
            verdict = "PASS" if r["passed"] else "REJECT"
            why = "; ".join(r["reasons"])
            print(f"{verdict:6s} {r['score']:.3f}  {r['path']:<{width}}  {why}".rstrip())
        n_ok = sum(r["passed"] for r in rows)
        print(f"{n_ok}/{len(rows)} passed (profile {profile.name}, min score {min_score:g})")
    if args.report is not None:
        _write_csv(args.report, rows)
    return 0 if all(r["passed"] for r in rows) else 1
