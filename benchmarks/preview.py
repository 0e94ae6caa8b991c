"""What the NVENCEncode node's browser preview costs, next to the delivery it follows.

The node's inputs as ComfyUI hands them over (a float32 [B,H,W,3] tensor in 0..1;
120 frames of a real photograph panned 2 px per frame, 1024x576 by default), encoded
as the delivery (``deliver``: libx265 medium, CRF 20, 10-bit, as the node runs it
without NVENC) and then as the preview (``write_preview``: H.264 at most 512 px wide),
alternately, ``--repeat`` times; prints the best wall and CPU seconds of each, the
preview/delivery ratios, the sizes and the load average.

Run: .venv/bin/python benchmarks/preview.py [--frames 120] [--size 1024x576] [--repeat 3]
Exit code 0 always (a report, not a gate).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def frames(n: int, w: int, h: int) -> Any:
    import numpy as np
    import torch
    from PIL import Image
    from skimage import data

    img = Image.fromarray(data.coffee()).resize((w + 2 * n + 16, h + 64), Image.Resampling.LANCZOS)
    big = np.asarray(img)
    arr = np.stack([big[32 : 32 + h, 2 * i : 2 * i + w] for i in range(n)])
    return torch.from_numpy(arr.astype(np.float32) / 255)


def timed(fn: Any) -> tuple[float, float, Any]:
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def main() -> int:
    from comfy_vidgen.encode.delivery import deliver
    from comfy_vidgen.encode.preview import write_preview

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", default="1024x576")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    images = frames(args.frames, w, h)
    best: dict[str, list[float]] = {"delivery": [1e9, 1e9], "preview": [1e9, 1e9]}
    sizes: dict[str, int] = {}
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            dw, dc, d = timed(
                lambda i=i: deliver(
                    images, tmp, fps=30, quality=20, bit_depth=10, encoder="libx265", job_id=f"d{i}"
                )
            )
            pw, pc, p = timed(lambda i=i: write_preview(images, Path(tmp, f"p{i}.mp4"), 30))
            ratios.append(pw / dw)
            for k, wall, cpu in (("delivery", dw, dc), ("preview", pw, pc)):
                best[k] = [min(best[k][0], wall), min(best[k][1], cpu)]
            sizes = {"delivery": d.result.size_bytes, "preview": p.size_bytes}
            size_p = f"{p.width}x{p.height}"
    print(f"{args.frames} frames {w}x{h} (float32 tensor), best of {args.repeat}")
    print(f"{'':14}{'delivery (x265)':>18}{'preview (x264)':>18}{'ratio':>8}")
    for j, name in enumerate(("wall s", "CPU s")):
        d_, p_ = best["delivery"][j], best["preview"][j]
        print(f"{name:14}{d_:>18.2f}{p_:>18.2f}{p_ / d_:>8.3f}")
    print(f"{'bytes':14}{sizes['delivery']:>18}{sizes['preview']:>18}")
    print(f"preview size {size_p}; per-run wall ratios " + " ".join(f"{r:.3f}" for r in ratios))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
