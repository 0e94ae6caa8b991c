"""QC cost versus decoding: a 120-frame 1024x576 H.265 clip on the CPU.

Target (issue 10): the full QC pass (decode included) takes at most 3x the time
of just decoding the clip to RGB frames. Prints both times and the ratio; exits 0.

    .venv/bin/python benchmarks/qc.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comfy_vidgen.qc import iter_frames, render_crop, run_qc

W, H, N, FPS = 1024, 576, 120, 30
TARGET = 3.0


def pan_frames() -> Iterator[np.ndarray]:
    """An eased pan over a real photograph (scikit-image's astronaut, upscaled)."""
    from skimage import data

    img = cv2.resize(data.astronaut(), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    t = np.linspace(0.0, 1.0, N)
    t = t * t * (3 - 2 * t)
    for i in range(N):
        yield render_crop(img, (100 + 400 * t[i], 300.0, 1536.0, 864.0), W, H)


def write_clip(path: Path) -> None:
    """10-bit H.265 through the pack's delivery encoder (libx265 on the CPU)."""
    from comfy_vidgen.encode import encode

    encode(pan_frames(), path, fps=FPS, encoder="libx265", sidecar=False)


def best_of(fn: object, reps: int = 3) -> tuple[float, float]:
    """Best wall time and best CPU time (all threads) of ``reps`` runs."""
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()  # type: ignore[operator]
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "pan.mp4"
        write_clip(clip)
        decode, decode_cpu = best_of(lambda: sum(1 for _ in iter_frames(clip)))
        qc, qc_cpu = best_of(lambda: run_qc(clip))
    ratio = qc / decode
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"clip: {N} frames {W}x{H} H.265 10-bit, CPU; decode = frames to full-size RGB")
    print(f"decode only : {decode:6.3f} s wall  {decode_cpu:6.3f} s CPU")
    print(f"full QC     : {qc:6.3f} s wall  {qc_cpu:6.3f} s CPU  (decode included)")
    print(f"ratio       : {ratio:6.2f}x wall (target <= {TARGET:.1f}x: {verdict})")
    print(f"CPU ratio   : {qc_cpu / decode_cpu:6.2f}x (all threads; less sensitive to other load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
