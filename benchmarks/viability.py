"""Viability pre-filter benchmark: one 24 MP camera-like JPEG, then a 200-file batch.

Targets:
  * (issue 20) the whole score of a 6000x4000 q92 JPEG costs <= 1.25x the decode it
    cannot avoid: ``Image.draft("RGB", analysis size)`` then ``convert("RGB")``,
    measured side by side in this process: ``--rounds`` rounds of the draft decode
    then the score, the median of the per-round ratios with its spread (the
    machine may be shared: the load average is printed); 12 MP and 45 MP too;
  * (issue 4) ``vidgen viability --workers 2`` over 200 such files is >= 1.7x faster
    than ``--workers 1``.

Files are generated once from real photographs (scikit-image's bundled ones):
upscaled to 6000x4000, given fine texture and sensor-like noise, saved at q92,
into a cache folder under /tmp so reruns are cheap. Prints both measurements side
by side and the ratio versus the target; always exits 0.

    .venv/bin/python benchmarks/viability.py [--files 200] [--unique 20] [--cache DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
W, H = 6000, 4000


SIZES = {"12 MP": (4240, 2832), "24 MP": (W, H), "45 MP": (8256, 5504)}


def camera_like(name: str, seed: int, size: tuple[int, int] = (W, H)) -> np.ndarray:
    """A real photo as a 24 MP camera frame: cover-cropped to 3:2, upscaled, textured, noisy."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3]
    h, w = img.shape[:2]
    if w / h > 1.5:
        cw = int(h * 1.5)
        img = img[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = int(w / 1.5)
        img = img[(h - ch) // 2 : (h - ch) // 2 + ch]
    w, h = size
    big = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    rng = np.random.default_rng(seed)
    # fine texture: band-limited detail a real lens resolves that upscaling lacks
    tex = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)
    big += (6.0 * tex)[..., None]
    big += rng.normal(0, 1.5, big.shape).astype(np.float32)  # sensor noise
    return np.clip(big, 0, 255).astype(np.uint8)


def build_cache(cache: Path, files: int, unique: int) -> list[Path]:
    cache.mkdir(parents=True, exist_ok=True)
    paths = [cache / f"shot_{i:04d}.jpg" for i in range(files)]
    missing = [p for p in paths if not p.exists()]
    if missing:
        print(f"generating {len(missing)} camera-like 6000x4000 q92 JPEGs in {cache} (once)...")
    for i, p in enumerate(paths):
        if p.exists():
            continue
        src = cache / f"shot_{i % unique:04d}.jpg"
        if i >= unique and src.exists():
            shutil.copyfile(src, p)  # identical content, distinct file
            continue
        tmp = p.with_suffix(".part")
        Image.fromarray(camera_like(PHOTOS[i % len(PHOTOS)], i)).save(tmp, "JPEG", quality=92)
        tmp.replace(p)
    return paths


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def side_by_side(first: Callable[[], None], second: Callable[[], None]) -> tuple[float, ...]:
    """(wall, wall, CPU, CPU) seconds of ``first`` then ``second``, run back to back."""
    w0, c0 = time.perf_counter(), time.thread_time()
    first()
    w1, c1 = time.perf_counter(), time.thread_time()
    second()
    w2, c2 = time.perf_counter(), time.thread_time()
    return w1 - w0, w2 - w1, c1 - c0, c2 - c1


def best_of(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--unique", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=15, help="side-by-side rounds per size")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/vidgen-bench-viability"))
    ap.add_argument("--skip-batch", action="store_true")
    args = ap.parse_args()
    if min(args.files, args.unique, args.repeat, args.rounds) < 1:
        ap.error("--files, --unique, --repeat and --rounds must be >= 1")

    from comfy_vidgen.viability import load_profile, video_viability_score

    paths = build_cache(args.cache, args.files, min(args.unique, args.files))
    profile = load_profile()
    cv2.setNumThreads(1)  # same as a batch worker: one core per file
    sample = paths[1]  # coffee
    mb = sample.stat().st_size / 1e6

    video_viability_score(sample, profile)  # warm caches and imports
    long_side = profile.analysis_long_side
    print(
        f"\nsingle file vs the draft decode it cannot avoid: {args.rounds} rounds, each the draft "
        "decode then the score (wall clock, and CPU time of this thread); median [min-max] "
        "of the per-round ratios"
    )
    print(f"  load average before: {loadavg()}")
    print(
        f"  {'file':8s} {'draft decode':>13s} {'score':>9s} {'ratio':>6s} {'spread':>13s} "
        f"{'CPU ratio':>10s}  target <= 1.25x"
    )
    for label, (w, h) in SIZES.items():
        path = sample if (w, h) == (W, H) else args.cache / f"size_{w}x{h}.jpg"
        if not path.exists():
            tmp = path.with_suffix(".part")
            Image.fromarray(camera_like("coffee", 1, (w, h))).save(tmp, "JPEG", quality=92)
            tmp.replace(path)
        size = (long_side, round(long_side * h / w))

        def draft(path: Path = path, size: tuple[int, int] = size) -> None:
            im = Image.open(path)
            im.draft("RGB", size)
            im.convert("RGB")

        def score(path: Path = path) -> None:
            video_viability_score(path, profile)

        score()
        rows = [side_by_side(draft, score) for _ in range(args.rounds)]
        wall = [sc / dr for dr, sc, _, _ in rows]
        cpu = [sc / dr for _, _, dr, sc in rows]
        med = statistics.median
        print(
            f"  {label:8s} {med(r[0] for r in rows) * 1e3:10.1f} ms {med(r[1] for r in rows) * 1e3:6.1f} ms "
            f"{med(wall):5.2f}x [{min(wall):.2f}-{max(wall):.2f}] {med(cpu):9.2f}x  "
            f"{'OK' if med(wall) <= 1.25 else 'MISSED'}"
        )
    print(f"  load average after: {loadavg()}")
    t_full = best_of(lambda: Image.open(sample).convert("RGB"), args.repeat)
    t_score = best_of(lambda: video_viability_score(sample, profile), args.repeat)
    t_score_full = best_of(
        lambda: video_viability_score(sample, profile, reduced_decode=False),
        max(2, args.repeat // 2),
    )
    rep = video_viability_score(sample, profile)
    rep_full = video_viability_score(sample, profile, reduced_decode=False)

    print(f"\n24 MP: {sample.name}, {W}x{H} q92, {mb:.1f} MB (best of {args.repeat})")
    print(f"  {'PIL open+convert(RGB), full res':42s} {t_full * 1e3:8.1f} ms   1.00x")
    print(
        f"  {'video_viability_score (reduced decode)':42s} {t_score * 1e3:8.1f} ms   "
        f"{t_score / t_full:.2f}x"
    )
    print(
        f"  {'video_viability_score (full decode)':42s} {t_score_full * 1e3:8.1f} ms   "
        f"{t_score_full / t_full:.2f}x"
    )
    print(
        f"  score reduced {rep.score:.4f} vs full {rep_full.score:.4f}: "
        f"|diff| {abs(rep.score - rep_full.score):.4f} (limit 0.02)"
    )
    stages: dict[str, float] = {}
    for _ in range(args.repeat):
        for k, v in video_viability_score(sample, profile).timings.items():
            stages[k] = min(stages.get(k, v), v)
    print(f"  per-stage cost (reduced decode, best of {args.repeat} per stage):")
    total = sum(stages.values())
    for k, v in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"    {k:12s} {v * 1e3:7.2f} ms  {100 * v / total:5.1f}%")

    if args.skip_batch:
        return 0
    print(
        f"\nbatch: {len(paths)} files, `vidgen viability FILE... --json` (process start included)"
    )
    results = {}
    for workers in (1, 2):
        # the files themselves: the cache folder may hold more than --files
        cmd = [sys.executable, "-m", "comfy_vidgen.cli", "viability", *map(str, paths)]
        cmd += ["--json", "--workers", str(workers)]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t
        lines = proc.stdout.count("\n")
        results[workers] = dt
        print(
            f"  --workers {workers}: {dt:7.2f} s  {len(paths) / dt:6.1f} images/s  "
            f"(exit {proc.returncode}, {lines} reports)"
        )
    speedup = results[1] / results[2]
    print(
        f"  speed-up workers 2 vs 1: {speedup:.2f}x   target >= 1.7x  "
        f"{'OK' if speedup >= 1.7 else 'MISSED'}"
    )
    print(f"  (load average after the batch: {loadavg()})")
    print(
        f"\nmedian per-file time at 1 worker: {statistics.median([results[1] / len(paths)]) * 1e3:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
