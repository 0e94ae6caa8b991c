"""Global camera motion between frames, the motion a camera path implies, and dense flow.

The camera moves the whole picture by a similarity without rotation: a point
``p`` (pixels, origin at the frame centre) of frame t lands at ``s * p + b`` in
frame t+1. We estimate ``(s, bx, by)`` from pyramidal Lucas-Kanade tracks of
corner features, fitted by RANSAC so that local (scene) motion is outvoted by
the background, then refined by least squares on the inliers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2 as _cv2
import numpy as np
from numpy.typing import NDArray

# OpenCV's bundled stubs type arrays as Mat | UMat unions; treat the module as
# untyped here and type our own results explicitly.
cv2: Any = _cv2

F64 = NDArray[np.float64]

#: displacement errors are measured at these points (fractions of the frame, centred)
_PROBE = np.array([(x, y) for y in (-0.5, 0.0, 0.5) for x in (-0.5, 0.0, 0.5)], dtype=np.float64)


@dataclass(frozen=True)
class Similarity:
    """p' = s * p + b, p in pixels relative to the frame centre."""

    s: float
    bx: float
    by: float

    def displacement(self, pts: F64) -> F64:
        d: F64 = (self.s - 1.0) * pts + np.array([self.bx, self.by])
        return d

    def scaled(self, k: float) -> Similarity:
        """The same motion measured in pixels k times larger."""
        return Similarity(self.s, self.bx * k, self.by * k)


IDENTITY = Similarity(1.0, 0.0, 0.0)


def probe_points(width: int, height: int) -> F64:
    pts: F64 = _PROBE * np.array([width, height], dtype=np.float64)
    return pts


def fit_similarity(
    p: F64, q: F64, rng: np.random.Generator, threshold: float = 1.0, iters: int = 64
) -> tuple[Similarity, int]:
    """RANSAC fit of q = s p + b (no rotation); returns the model and its inlier count."""
    n = len(p)
    if n < 3:
        return IDENTITY, 0
    i = rng.integers(0, n, size=iters)
    j = rng.integers(0, n, size=iters)
    dp = p[i] - p[j]
    dq = q[i] - q[j]
    den = np.einsum("ij,ij->i", dp, dp)
    good = den > 25.0  # the two points at least 5 px apart
    s = np.where(good, np.einsum("ij,ij->i", dp, dq) / np.maximum(den, 1e-9), 1.0)
    b = q[i] - s[:, None] * p[i]
    # residuals of every hypothesis on every track: (iters, n)
    pred = s[:, None, None] * p[None] + b[:, None, :]
    err = np.linalg.norm(pred - q[None], axis=2)
    inl = (err < threshold) & good[:, None]
    best = int(np.argmax(inl.sum(axis=1)))
    mask = inl[best]
    if mask.sum() < 3:
        mask = np.ones(n, bool)
    for _ in range(2):  # least squares on the inliers, then re-select once
        pm, qm = p[mask], q[mask]
        pc, qc = pm - pm.mean(0), qm - qm.mean(0)
        den1 = float((pc * pc).sum())
        s1 = float((pc * qc).sum()) / den1 if den1 > 1e-9 else 1.0
        b1 = qm.mean(0) - s1 * pm.mean(0)
        res = np.linalg.norm(s1 * p + b1 - q, axis=1)
        new = res < threshold
        if new.sum() < 3:
            break
        mask = new
    return Similarity(s1, float(b1[0]), float(b1[1])), int(mask.sum())


class GlobalMotion:
    """Frame-to-frame similarity estimation on grey frames (any fixed size).

    Tracked points are carried from one step to the next and re-detected only
    when too few survive, which saves most of the corner detection.
    """

    def __init__(self, max_corners: int = 200, min_tracks: int = 80) -> None:
        self.max_corners = max_corners
        self.min_tracks = min_tracks
        self._rng = np.random.default_rng(0)
        self._pts: NDArray[np.float32] | None = None

    def estimate(
        self, prev: NDArray[np.uint8], cur: NDArray[np.uint8]
    ) -> tuple[Similarity, float] | None:
        """The similarity from ``prev`` to ``cur`` and the inlier fraction, or None.

        None means too little texture to say (flat frames).
        """
        pts = self._pts
        if pts is None or len(pts) < self.min_tracks:
            pts = cv2.goodFeaturesToTrack(
                prev, maxCorners=self.max_corners, qualityLevel=0.01, minDistance=7, blockSize=7
            )
        self._pts = None
        if pts is None or len(pts) < 8:
            return None
        nxt, st, err = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, winSize=(15, 15), maxLevel=3)
        h, w = prev.shape
        xy = nxt.reshape(-1, 2)
        inside = (xy[:, 0] >= 4) & (xy[:, 0] < w - 4) & (xy[:, 1] >= 4) & (xy[:, 1] < h - 4)
        ok = (st.ravel() == 1) & inside
        if ok.sum() < 8:
            return None
        c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
        p = pts.reshape(-1, 2)[ok].astype(np.float64) - c
        q = xy[ok].astype(np.float64) - c
        model, inliers = fit_similarity(p, q, self._rng, threshold=0.75)
        # keep the tracks that agree with the camera for the next step
        res = np.linalg.norm(model.s * p + np.array([model.bx, model.by]) - q, axis=1)
        keep = (q[res < 0.75] + c).astype(np.float32).reshape(-1, 1, 2)
        self._pts = keep if len(keep) >= self.min_tracks else None
        return model, inliers / len(pts)

    def reset(self) -> None:
        self._pts = None


def path_steps(rects: F64, width: int, height: int) -> list[Similarity]:
    """The similarity between consecutive output frames implied by crop rectangles.

    ``rects`` are [x, y, w, h] in keyframe pixels per output frame. Output pixel
    ``u`` of frame t shows keyframe point ``r_t.xy + u * r_t.w / W``; in frame
    t+1 that point sits at ``(k - r_{t+1}.xy) * W / r_{t+1}.w``.
    """
    out: list[Similarity] = []
    c = np.array([width / 2.0, height / 2.0])
    for a, b in zip(rects[:-1], rects[1:], strict=True):
        ka = a[2] / width  # keyframe px per output px in frame t
        kb = b[2] / width
        s = ka / kb
        # top-left origin: u' = s u + (a.xy - b.xy) / kb; re-centred: b_c = b0 + (s - 1) c
        b0 = (a[:2] - b[:2]) / kb
        bc = b0 + (s - 1.0) * c
        out.append(Similarity(float(s), float(bc[0]), float(bc[1])))
    return out


def step_error(est: Similarity, exp: Similarity, pts: F64) -> float:
    """Mean displacement difference (px) over a 3x3 grid of points across the frame."""
    d = est.displacement(pts) - exp.displacement(pts)
    return float(np.linalg.norm(d, axis=1).mean())


def dense_flow(prev: NDArray[np.uint8], cur: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Farneback dense flow (px of the given small frames), shape h x w x 2."""
    flow: NDArray[np.float32] = cv2.calcOpticalFlowFarneback(
        prev, cur, None, 0.5, 2, 9, 2, 5, 1.1, 0
    )
    return flow


def residual_motion(flow: NDArray[np.float32], model: Similarity) -> float:
    """Mean flow magnitude left after removing the global camera model (same px units)."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs -= (w - 1) / 2.0
    ys -= (h - 1) / 2.0
    gx = (model.s - 1.0) * xs + model.bx
    gy = (model.s - 1.0) * ys + model.by
    r = np.hypot(flow[..., 0] - gx, flow[..., 1] - gy)
    return float(r.mean())
