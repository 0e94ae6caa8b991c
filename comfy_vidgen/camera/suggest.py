"""Suggested camera paths: saliency, faces and composition rules -> ranked manifest fragments.

The analysis runs on a small copy of the keyframe: spectral-residual saliency
(Hou & Zhang 2007) on a 64-pixel image, frontal faces from OpenCV's bundled Haar
cascade. Candidates (push-in, pull-out, pan, tilt, static) place the subject's
focus point on a thirds intersection or the centre of the end crop. Hard rules:
every crop of the path (sampled along the move) contains each detected face
whole or not at all, and the subject lies inside the end crop (the start crop
for a pull-out, which ends on the wide view). Survivors are ranked by
composition, subject fill, saliency kept in frame and a moderate amount of motion.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..manifest import ASPECT_TOLERANCE
from .conditioning import motion_bucket_id, prompt_phrase
from .path import CameraError, CameraPath, camera_from_values

log = logging.getLogger(__name__)

#: power points of the frame (relative position of the focus in a crop)
POWER_POINTS: dict[str, tuple[float, float]] = {
    "centre": (0.5, 0.5),
    "upper-left third": (1 / 3, 1 / 3),
    "upper-right third": (2 / 3, 1 / 3),
    "lower-left third": (1 / 3, 2 / 3),
    "lower-right third": (2 / 3, 2 / 3),
}
#: crops of a path checked against the face rule
PATH_SAMPLES = 33


@dataclass(frozen=True)
class Box:
    """A rectangle in normalised image coordinates (0..1 on both axes)."""

    x: float
    y: float
    w: float
    h: float

    @property
    def x2(self) -> float:
        return self.x + self.w

    @property
    def y2(self) -> float:
        return self.y + self.h

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def inside(self, o: Box, tol: float = 1e-9) -> bool:
        return (
            self.x >= o.x - tol
            and self.y >= o.y - tol
            and self.x2 <= o.x2 + tol
            and self.y2 <= o.y2 + tol
        )

    def overlaps(self, o: Box) -> bool:
        return self.x < o.x2 and o.x < self.x2 and self.y < o.y2 and o.y < self.y2

    def union(self, o: Box) -> Box:
        x, y = min(self.x, o.x), min(self.y, o.y)
        return Box(x, y, max(self.x2, o.x2) - x, max(self.y2, o.y2) - y)

    def grow(self, left: float, top: float, right: float, bottom: float) -> Box:
        """Enlarged by fractions of its own size, clipped to the image."""
        x = max(0.0, self.x - left * self.w)
        y = max(0.0, self.y - top * self.h)
        x2 = min(1.0, self.x2 + right * self.w)
        y2 = min(1.0, self.y2 + bottom * self.h)
        return Box(x, y, x2 - x, y2 - y)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class Analysis:
    """What the keyframe shows: faces (as detected, normalised), subject box, focus point."""

    width: int
    height: int
    faces: list[Box]
    subject: Box
    focus: tuple[float, float]
    saliency: NDArray[np.float32] = field(repr=False)

    def saliency_in(self, b: Box) -> float:
        """Fraction of the saliency mass inside ``b``."""
        s = self.saliency
        h, w = s.shape
        x0, x1 = int(round(b.x * w)), int(round(b.x2 * w))
        y0, y1 = int(round(b.y * h)), int(round(b.y2 * h))
        total = float(s.sum()) or 1.0
        return float(s[y0:y1, x0:x1].sum()) / total


@dataclass(frozen=True)
class Suggestion:
    """One proposed path: a manifest ``camera`` fragment, its score and why."""

    camera: dict[str, Any]
    score: float
    rationale: str
    prompt: str
    motion_bucket_id: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "score": round(self.score, 4),
            "rationale": self.rationale,
            "prompt": self.prompt,
            "motion_bucket_id": self.motion_bucket_id,
        }


# --------------------------------------------------------------------------- analysis


def spectral_residual(gray: NDArray[np.float32]) -> NDArray[np.float32]:
    """Spectral-residual saliency of a small grayscale image, normalised to 0..1."""
    f = np.fft.fft2(gray.astype(np.float64))
    log_amp = np.log(np.abs(f) + 1e-9)
    phase = np.angle(f)
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REFLECT)
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2
    sal = cv2.GaussianBlur(sal, (0, 0), sigmaX=max(gray.shape) * 0.04)
    sal -= sal.min()
    peak = sal.max()
    out: NDArray[np.float32] = (sal / peak if peak > 0 else sal).astype(np.float32)
    return out


@functools.cache
def _face_cascade() -> Any:
    if not hasattr(cv2, "CascadeClassifier"):
        raise CameraError(
            "this OpenCV build has no Haar cascade classifier (OpenCV 5 moved it to contrib); "
            "install opencv-python-headless<5"
        )
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise CameraError(f"cannot load OpenCV's bundled face cascade {path}")
    return cascade


def detect_faces(rgb: NDArray[np.uint8], max_side: int = 800) -> list[Box]:
    """Frontal faces (normalised boxes, largest first) from OpenCV's bundled Haar cascade."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(
        rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    sh, sw = gray.shape
    min_side = max(20, min(sh, sw) // 20)
    found = _face_cascade().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    boxes = [
        Box(float(x) / sw, float(y) / sh, float(bw) / sw, float(bh) / sh)
        for x, y, bw, bh in np.asarray(found).reshape(-1, 4)
    ]
    return sorted(boxes, key=lambda b: -b.w * b.h)


def analyse(rgb: NDArray[np.uint8]) -> Analysis:
    """Faces, saliency, subject box and focus point of a keyframe."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise CameraError(f"keyframe must be HxWx3 uint8, got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    scale = 64 / max(h, w)
    small = cv2.resize(
        rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    sal = spectral_residual(gray)
    faces = detect_faces(rgb)
    if faces:
        # head and shoulders of every face form the subject; focus on the main face's eyes
        subject = faces[0].grow(0.4, 0.3, 0.4, 0.6)
        for f in faces[1:]:
            subject = subject.union(f.grow(0.4, 0.3, 0.4, 0.6))
        focus = (float(faces[0].cx), float(faces[0].y + 0.4 * faces[0].h))
    else:
        subject, focus = _salient_region(sal)
    return Analysis(width=w, height=h, faces=faces, subject=subject, focus=focus, saliency=sal)


def _salient_region(sal: NDArray[np.float32]) -> tuple[Box, tuple[float, float]]:
    """Bounding box and weighted centroid of the strongest salient blob."""
    h, w = sal.shape
    mask = (sal >= max(0.35, float(sal.mean() + 1.5 * sal.std()))).astype(np.uint8)
    count, labels = cv2.connectedComponents(mask)
    best, best_mass = 0, -1.0
    for lab in range(1, count):
        mass = float(sal[labels == lab].sum())
        if mass > best_mass:
            best, best_mass = lab, mass
    if best == 0:
        return Box(0.4, 0.4, 0.2, 0.2), (0.5, 0.5)
    ys, xs = np.nonzero(labels == best)
    weights = sal[ys, xs]
    fx = float(np.average(xs + 0.5, weights=weights)) / w
    fy = float(np.average(ys + 0.5, weights=weights)) / h
    x0, x1 = float(xs.min()) / w, float(xs.max() + 1) / w
    y0, y1 = float(ys.min()) / h, float(ys.max() + 1) / h
    box = Box(x0, y0, x1 - x0, y1 - y0)
    # never smaller than 8% of the image on a side (a tiny blob is not a composable subject)
    if box.w < 0.08 or box.h < 0.08:
        cx, cy = box.cx, box.cy
        bw, bh = max(box.w, 0.08), max(box.h, 0.08)
        box = Box(min(max(cx - bw / 2, 0.0), 1 - bw), min(max(cy - bh / 2, 0.0), 1 - bh), bw, bh)
    return box, (fx, fy)


# --------------------------------------------------------------------------- geometry


def _crop_h(w: float, image_w: int, image_h: int, out_aspect: float) -> float:
    """Normalised height of a crop of normalised width ``w`` with the output aspect."""
    return w * image_w / (out_aspect * image_h)


def _place(
    w: float, h: float, focus: tuple[float, float], at: tuple[float, float], within: Box
) -> Box:
    """A w x h crop putting ``focus`` at relative position ``at``, slid to stay in ``within``."""
    x = min(max(focus[0] - at[0] * w, within.x), within.x2 - w)
    y = min(max(focus[1] - at[1] * h, within.y), within.y2 - h)
    return Box(x, y, w, h)


def faces_whole(path: CameraPath, faces: list[Box], samples: int = PATH_SAMPLES) -> bool:
    """Every crop along ``path`` holds each face entirely or not at all."""
    if not faces:
        return True
    iw, ih = path.image_size
    rects = path.rects_at(np.linspace(0.0, 1.0, samples)) / np.array([iw, ih, iw, ih])
    for x, y, w, h in rects:
        crop = Box(float(x), float(y), float(w), float(h))
        for f in faces:
            if f.overlaps(crop) and not f.inside(crop, tol=1e-6):
                return False
    return True


def _round_box(b: Box) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` to six decimals, still inside the image."""
    w, h = round(b.w, 6), round(b.h, 6)
    x = min(round(b.x, 6), round(1.0 - w, 6))
    y = min(round(b.y, 6), round(1.0 - h, 6))
    return (max(x, 0.0), max(y, 0.0), w, h)


@dataclass
class _Candidate:
    motion: str
    start: Box
    end: Box
    score: float
    rationale: str


def _fill_score(subject: Box, crop: Box) -> float:
    fill = (subject.w * subject.h) / (crop.w * crop.h)
    return max(0.0, 1.0 - abs(math.log(max(fill, 1e-6) / 0.3)) / 3.0)


def _composition(focus: tuple[float, float], crop: Box) -> tuple[float, str]:
    rx, ry = (focus[0] - crop.x) / crop.w, (focus[1] - crop.y) / crop.h
    name, (px, py) = min(
        POWER_POINTS.items(), key=lambda kv: math.hypot(rx - kv[1][0], ry - kv[1][1])
    )
    return max(0.0, 1.0 - 3.0 * math.hypot(rx - px, ry - py)), name


def suggest_paths(
    rgb: NDArray[np.uint8],
    out_size: tuple[int, int] = (1024, 576),
    n: int = 3,
    easing: str = "ease_in_out",
    analysis: Analysis | None = None,
) -> list[Suggestion]:
    """Up to ``n`` ranked camera paths for a keyframe (best first, different moves first)."""
    if n < 1:
        raise CameraError(f"n must be >= 1, got {n}")
    out_w, out_h = out_size
    if out_w < 1 or out_h < 1:
        raise CameraError(f"size must be positive, got {out_w}x{out_h}")
    a = analysis or analyse(rgb)
    iw, ih = a.width, a.height
    aspect = out_w / out_h
    # the full view: the largest crop of the output aspect, slid toward the focus
    if iw / ih > aspect:
        fw, fh = aspect * ih / iw, 1.0
    else:
        fw, fh = 1.0, _crop_h(1.0, iw, ih, aspect)
    image = Box(0.0, 0.0, 1.0, 1.0)
    full = _place(fw, fh, a.focus, (0.5, 0.5), image)
    what = (
        f"the face{'s' if len(a.faces) > 1 else ''} ({len(a.faces)} detected)"
        if a.faces
        else "the most salient region"
    )
    cands: list[_Candidate] = []

    def keep(c: _Candidate) -> None:
        path = _path_of(c, easing, (iw, ih))
        if path is None:
            return
        must_hold = c.start if c.motion == "zoom_out" else c.end
        if not a.subject.inside(must_hold, tol=1e-6):
            return
        if not faces_whole(path, a.faces):
            return
        cands.append(c)

    # push-ins (and, reversed, pull-outs) toward the subject
    for z in (0.55, 0.7, 0.85, 0.93):
        w = fw * z
        h = _crop_h(w, iw, ih, aspect)
        for at in POWER_POINTS.values():
            end = _place(w, h, a.focus, at, full)
            comp, name = _composition(a.focus, end)
            score = (
                0.35 * comp
                + 0.25 * _fill_score(a.subject, end)
                + 0.2 * a.saliency_in(end)
                + 0.2 * (1.0 - abs(z - 0.7) / 0.3)
            )
            why = f"push-in from the full view to {what}, framed on the {name}; ends {1 / z:.2g}x tighter"
            keep(_Candidate("zoom_in", full, end, score, why))
            why = f"pull-out from {what} on the {name} to the full view ({1 / z:.2g}x wider): a reveal"
            keep(_Candidate("zoom_out", end, full, score * 0.92, why))

    # pans and tilts across the free room, ending with the focus on a third
    for z in (0.7, 0.8):
        w = fw * z
        h = _crop_h(w, iw, ih, aspect)
        for horizontal in (True, False):
            for at in POWER_POINTS.values():
                end = _place(w, h, a.focus, at, image)
                if horizontal:
                    # start on the side away from where the end crop sits
                    sx = 0.0 if end.cx > 0.5 else 1.0 - w
                    start = Box(sx, end.y, w, h)
                    travel = abs(end.x - start.x) / w
                    motion = "pan_right" if end.x > start.x else "pan_left"
                else:
                    sy = 0.0 if end.cy > 0.5 else 1.0 - h
                    start = Box(end.x, sy, w, h)
                    travel = abs(end.y - start.y) / h
                    motion = "tilt_down" if end.y > start.y else "tilt_up"
                if travel < 0.1:
                    continue
                comp, name = _composition(a.focus, end)
                score = (
                    0.35 * comp
                    + 0.25 * _fill_score(a.subject, end)
                    + 0.2 * a.saliency_in(end)
                    + 0.2 * max(0.0, 1.0 - abs(travel - 0.3) / 0.3)
                ) * 0.95
                verb = motion.replace("_", " ")
                why = f"{verb} across the scene, settling on {what} on the {name} ({travel:.0%} of a frame)"
                keep(_Candidate(motion, start, end, score, why))

    comp, name = _composition(a.focus, full)
    static = _Candidate(
        "static",
        full,
        full,
        0.25 * comp + 0.1,
        f"static full view: no camera move (focus near the {name})",
    )
    keep(static)
    if not cands:  # nothing satisfies every rule: the untouched full view is the honest answer
        cands.append(static)
    chosen = _pick(cands, n)
    return [_to_suggestion(c, easing, (iw, ih), out_size) for c in chosen]


def _path_of(c: _Candidate, easing: str, size: tuple[int, int]) -> CameraPath | None:
    try:
        return CameraPath.from_values(
            c.motion,
            _round_box(c.start),
            _round_box(c.end),
            easing,
            size,
        )
    except CameraError as e:
        log.debug("dropping candidate %s: %s", c.motion, e)
        return None


def _pick(cands: list[_Candidate], n: int) -> list[_Candidate]:
    """Best candidate of each kind of move first, then the next best overall."""
    ranked = sorted(cands, key=lambda c: -c.score)
    chosen: list[_Candidate] = []
    kinds: set[str] = set()
    for c in ranked:
        kind = c.motion.split("_")[0] if c.motion.startswith(("pan", "tilt")) else c.motion
        if kind not in kinds:
            chosen.append(c)
            kinds.add(kind)
    for c in ranked:
        if c not in chosen:
            chosen.append(c)
    return sorted(chosen[:n], key=lambda c: -c.score)


def _to_suggestion(
    c: _Candidate, easing: str, image_size: tuple[int, int], out_size: tuple[int, int]
) -> Suggestion:
    camera = camera_from_values(c.motion, _round_box(c.start), _round_box(c.end), easing)
    iw, ih = image_size
    out_aspect = out_size[0] / out_size[1]
    for crop in (camera.start_frame, camera.end_frame):
        got = (crop.w * iw) / (crop.h * ih)
        assert abs(got / out_aspect - 1.0) <= ASPECT_TOLERANCE, (got, out_aspect)
    path = CameraPath(camera, image_size)
    return Suggestion(
        camera=camera.model_dump(mode="json"),
        score=c.score,
        rationale=c.rationale,
        prompt=prompt_phrase(path, out_size),
        motion_bucket_id=motion_bucket_id(path, out_size),
    )
