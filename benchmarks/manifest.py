"""Validate + hash 10,000 distinct manifest files vs plain json.loads of the same files.

Target (issue 3): validation + hash runs at >= 25% of json.loads speed.
Both loops read the file from disk; the page cache is warmed first.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from comfy_vidgen.manifest import SCHEMA_ID, load_manifest, manifest_hash

N = 10_000
TARGET = 0.25


def make_manifest(i: int, rng: random.Random) -> dict[str, object]:
    """Distinct, valid manifests over a few workflows and motion types (600x400 keyframe)."""
    w = rng.choice([0.4, 0.5, 0.6, 0.8])
    h = w * 1.5 / (16 / 9)
    x, y = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
    gen: dict[str, object] = {
        "workflow": "camera_only@1",
        "seed": rng.getrandbits(64),
        "frames": 25,
    }
    if i % 2:
        gen = {
            "workflow": "svd_xt@1",
            "seed": rng.getrandbits(64),
            "frames": 25,
            "steps": rng.randint(10, 40),
            "cfg": round(rng.uniform(1.5, 4.0), 3),
            "min_cfg": 1.0,
            "motion_bucket_id": rng.randint(1, 255),
            "noise_aug_strength": 0.02,
        }
    return {
        "schema": SCHEMA_ID,
        "id": f"shot-{i:05d}",
        "keyframe": {
            "path": f"shoot/{i:05d}.jpg",
            "sha256": f"{rng.getrandbits(256):064x}",
            "width": 600,
            "height": 400,
        },
        "camera": {
            "motion_type": "custom",
            "start_frame": {"x": 0.0, "y": 0.078125, "w": 1.0, "h": 0.84375},
            "end_frame": {"x": x, "y": y, "w": w, "h": h},
            "easing": rng.choice(["linear", "ease_in", "ease_out", "ease_in_out"]),
        },
        "output": {"width": 1024, "height": 576, "fps": 30, "frames": 120},
        "generation": gen,
    }


def main() -> int:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(N):
            p = Path(tmp) / f"{i:05d}.json"
            p.write_text(json.dumps(make_manifest(i, rng), indent=2))
            paths.append(p)
        for p in paths:  # warm the page cache for both loops
            p.read_bytes()

        def plain() -> None:
            for p in paths:
                with open(p, "rb") as f:
                    json.loads(f.read())

        def ours() -> None:
            for p in paths:
                manifest_hash(load_manifest(p))

        best = {}
        for name, fn in (("json.loads", plain), ("validate+hash", ours)):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            best[name] = min(times)
    rate_plain = N / best["json.loads"]
    rate_ours = N / best["validate+hash"]
    ratio = rate_ours / rate_plain
    print(f"{'json.loads (read+parse)':<28}{rate_plain:>12,.0f} manifests/s")
    print(f"{'validate+hash (read+all)':<28}{rate_ours:>12,.0f} manifests/s")
    verdict = "meets" if ratio >= TARGET else "MISSES"
    print(f"ratio {ratio:.2f} of json.loads speed ({verdict} the target >= {TARGET:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
