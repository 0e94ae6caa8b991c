"""One camera path, translated into each video model family's conditioning.

- first/last-frame models: the start and end crops rendered at model resolution
  (the same renderer as the frames, so they equal frames 0 and n-1 exactly);
- SVD: ``motion_bucket_id`` from the path's apparent speed (curve below);
- Wan camera control: Plücker rays in the tensor layout of ComfyUI's own
  ``WanCameraEmbedding`` node, computed from per-frame poses of *this* path;
- text models: a short phrase such as "slow push-in toward the upper left".

The pose model (see docs/camera.md): the keyframe is a plane at ``depth`` in
front of the frame-0 camera. A move of the crop centre turns the camera
(pan/tilt = rotation about its optical centre, parallax-free like the 2D crop);
a change of crop size moves the camera along its viewing ray (``zoom_as =
"translate"``, as ComfyUI's own Zoom presets do) or changes its focal length
(``zoom_as = "focal"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from .path import CameraError, CameraPath, FloatArray

#: the pose aspect ComfyUI's node assumes when it adapts fx/fy (1280x720)
POSE_ASPECT = 1280 / 720
#: default distance of the photographed plane, in the units of ComfyUI's presets
#: (its "Zoom In" preset at speed 1 travels ~3 units over the clip)
DEFAULT_DEPTH = 3.0

#: SVD motion bucket curve: bucket = B0 + (B1 - B0) * (1 - exp(-D / D0))
BUCKET_STILL = 32.0
BUCKET_MAX = 255.0
BUCKET_D0 = 0.5


# --------------------------------------------------------------------------- speed


def _grid(n: int = 9) -> tuple[FloatArray, FloatArray]:
    g = (np.arange(n) + 0.5) / n
    u, v = np.meshgrid(g, g)
    return u.ravel(), v.ravel()


def path_travel(path: CameraPath, out_size: tuple[int, int], samples: int = 49) -> float:
    """Total apparent motion D over the clip, in output-frame widths.

    For consecutive frames (``samples`` of them), the displacement of image
    content seen at each point of a 9x9 grid of the output frame is measured in
    the next frame; D is the sum over frame pairs of its mean magnitude. A pan
    over one crop width gives D = 1; a 2x push-in about the centre gives ~0.38.
    """
    out_w, out_h = out_size
    rects = path.rects(max(2, samples))
    u, v = _grid()
    total = 0.0
    for a, b in zip(rects[:-1], rects[1:], strict=True):
        # a point at (u, v) of frame a is at image (xa + u wa, ya + v ha)
        px, py = a[0] + u * a[2], a[1] + v * a[3]
        du = (px - b[0]) / b[2] - u
        dv = ((py - b[1]) / b[3] - v) * (out_h / out_w)
        total += float(np.mean(np.hypot(du, dv)))
    return total


def motion_bucket_id(path: CameraPath, out_size: tuple[int, int]) -> int:
    """SVD ``motion_bucket_id`` (1..255) for this path; see ``BUCKET_*``."""
    d = path_travel(path, out_size)
    b = BUCKET_STILL + (BUCKET_MAX - BUCKET_STILL) * (1.0 - math.exp(-d / BUCKET_D0))
    return int(min(255, max(1, round(b))))


# --------------------------------------------------------------------------- prompt

_REGIONS = {
    (-1, -1): "upper left",
    (0, -1): "top",
    (1, -1): "upper right",
    (-1, 0): "left",
    (1, 0): "right",
    (-1, 1): "lower left",
    (0, 1): "bottom",
    (1, 1): "lower right",
}


def prompt_phrase(path: CameraPath, out_size: tuple[int, int] = (1024, 576)) -> str:
    """A short camera phrase for text-conditioned models."""
    if path.motion_type == "static":
        return "static locked-off shot"
    d = path_travel(path, out_size)
    speed = "slow" if d < 0.25 else "steady" if d < 0.6 else "fast"
    s, e = path.start, path.end
    scale = e.w / s.w
    # where the end crop's centre lies, seen in the start frame (-0.5..0.5)
    ox = (e.cx - s.cx) / s.w
    oy = (e.cy - s.cy) / s.h
    if abs(math.log(scale)) > 0.01:
        inward = scale < 1
        kind = path.motion_type.split("_")[0]
        if kind in ("zoom", "dolly"):
            verb = f"{kind} {'in' if inward else 'out'}"
        else:
            verb = "push-in" if inward else "pull-out"
        # the zoom anchor tells where the camera pushes toward (or pulls away from)
        anchor = path.anchor()
        if anchor is not None:
            ax = (anchor[0] - s.x) / s.w - 0.5
            ay = (anchor[1] - s.y) / s.h - 0.5
        else:
            ax, ay = ox, oy
        key = (
            int(np.sign(ax)) if abs(ax) > 1 / 6 else 0,
            int(np.sign(ay)) if abs(ay) > 1 / 6 else 0,
        )
        where = _REGIONS.get(key)
        prep = "toward" if inward else "away from"
        return f"{speed} {verb} {prep} the {where}" if where else f"{speed} {verb}"
    if abs(ox) >= abs(oy) * 2:
        return f"{speed} pan to the {'right' if ox > 0 else 'left'}"
    if abs(oy) >= abs(ox) * 2:
        return f"{speed} tilt {'down' if oy > 0 else 'up'}"
    key = (int(np.sign(ox)), int(np.sign(oy)))
    return f"{speed} diagonal pan toward the {_REGIONS[key]}"


# --------------------------------------------------------------------------- poses


@dataclass(frozen=True)
class CameraPoses:
    """Per-frame pinhole cameras: ``intrinsics`` (n, 4) = fx, fy, cx, cy in pixels of a
    ``width`` x ``height`` frame (OpenCV axes: x right, y down, z forward) and
    camera-to-world ``c2w`` (n, 4, 4), relative to frame 0 (frame 0 = identity)."""

    intrinsics: FloatArray
    c2w: FloatArray
    width: int
    height: int


def wan_intrinsics(
    width: int, height: int, fx: float = 0.5, fy: float = 0.5, cx: float = 0.5, cy: float = 0.5
) -> FloatArray:
    """Pixel intrinsics from normalised ones, adapted to the frame aspect the way
    ComfyUI's ``WanCameraEmbedding`` does (poses assumed made for 16:9)."""
    if width / height < POSE_ASPECT:
        fx = (height * POSE_ASPECT) * fx / width
    else:
        fy = (width / POSE_ASPECT) * fy / height
    return np.array([fx * width, fy * height, cx * width, cy * height], dtype=np.float64)


def _look_at(d: FloatArray) -> FloatArray:
    """Rotation turning +z onto unit ``d`` by yaw (about y) then pitch (about x), no roll."""
    yaw = math.atan2(float(d[0]), float(d[2]))
    pitch = -math.asin(float(np.clip(d[1], -1.0, 1.0)))
    cy_, sy_ = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    ry = np.array([[cy_, 0.0, sy_], [0.0, 1.0, 0.0], [-sy_, 0.0, cy_]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rot: FloatArray = ry @ rx
    return rot


def path_poses(
    path: CameraPath,
    n: int,
    width: int,
    height: int,
    *,
    fx: float = 0.5,
    fy: float = 0.5,
    cx: float = 0.5,
    cy: float = 0.5,
    depth: float = DEFAULT_DEPTH,
    zoom_as: Literal["translate", "focal"] = "translate",
) -> CameraPoses:
    """Per-frame camera poses that reproduce ``path`` on a ``width`` x ``height`` frame."""
    if width < 1 or height < 1:
        raise CameraError(f"width and height must be >= 1, got {width}x{height}")
    if not depth > 0:
        raise CameraError(f"depth must be > 0, got {depth}")
    if zoom_as not in ("translate", "focal"):
        raise CameraError(f"zoom_as must be 'translate' or 'focal', got {zoom_as!r}")
    k = wan_intrinsics(width, height, fx, fy, cx, cy)
    rects = path.rects(n)
    x0, y0, w0, h0 = rects[0]
    # image point under the principal point of frame 0, and image px -> world units on the plane
    px0, py0 = x0 + cx * w0, y0 + cy * h0
    kx = depth / k[0] * (width / w0)
    ky = depth / k[1] * (height / h0)
    intr = np.tile(k, (n, 1))
    c2w = np.tile(np.eye(4), (n, 1, 1))
    for i, (x, y, w, h) in enumerate(rects):
        p = np.array([(x + cx * w - px0) * kx, (y + cy * h - py0) * ky, depth])
        dist = float(np.linalg.norm(p))
        c2w[i, :3, :3] = _look_at(p / dist)
        s = math.sqrt((w / w0) * (h / h0))
        if zoom_as == "translate":
            c2w[i, :3, 3] = (1.0 - s) * p
        else:
            intr[i, :2] = k[:2] / s
    # relative to frame 0, as ComfyUI does (a no-op here: frame 0 is the identity)
    inv0 = np.linalg.inv(c2w[0])
    c2w = inv0[None] @ c2w
    return CameraPoses(intrinsics=intr, c2w=c2w, width=width, height=height)


# --------------------------------------------------------------------------- Plücker rays


def plucker_rays(poses: CameraPoses, frame: int) -> NDArray[np.float32]:
    """Rays of one frame, ``(6, H, W)`` float32: moment ``o x d`` (3) then direction ``d`` (3).

    Pixel ``(i, j)`` is sampled at its centre ``(i + 0.5, j + 0.5)``; ``d`` is unit length.
    """
    w, h = poses.width, poses.height
    fx, fy, cx, cy = poses.intrinsics[frame]
    xs = ((np.arange(w, dtype=np.float64) + 0.5) - cx) / fx
    ys = ((np.arange(h, dtype=np.float64) + 0.5) - cy) / fy
    dirs = np.empty((3, h, w), dtype=np.float64)
    dirs[0] = xs[None, :]
    dirs[1] = ys[:, None]
    dirs[2] = 1.0
    dirs /= np.sqrt(np.sum(dirs * dirs, axis=0, keepdims=True))
    rot = poses.c2w[frame, :3, :3]
    d = np.tensordot(rot, dirs, axes=(1, 0))
    o = poses.c2w[frame, :3, 3]
    out = np.empty((6, h, w), dtype=np.float32)
    out[0] = o[1] * d[2] - o[2] * d[1]
    out[1] = o[2] * d[0] - o[0] * d[2]
    out[2] = o[0] * d[1] - o[1] * d[0]
    out[3:] = d
    return out


def pack_wan(poses: CameraPoses) -> NDArray[np.float32]:
    """Plücker rays packed like ComfyUI's ``WanCameraEmbedding`` output.

    Shape ``(1, 24, (n + 3) // 4, H, W)`` float32 for ``n = 4k + 1`` frames: the
    first frame is repeated to make ``n + 3`` frames, which are grouped by 4
    (one group per latent frame); channel ``c * 4 + s`` holds ray component
    ``c`` (moment xyz, direction xyz) of frame ``s`` of the group.
    """
    n = len(poses.c2w)
    if n < 1 or (n - 1) % 4:
        raise CameraError(
            f"the Wan camera embedding needs 4k+1 frames (5, 9, ..., 81), got length {n}"
        )
    groups = (n + 3) // 4
    out = np.empty((1, 24, groups, poses.height, poses.width), dtype=np.float32)
    cache: dict[int, NDArray[np.float32]] = {}
    for k in range(n + 3):
        frame = max(0, k - 3)
        rays = cache.get(frame)
        if rays is None:
            rays = cache[frame] = plucker_rays(poses, frame)
            cache.pop(frame - 1, None)
        g, s = divmod(k, 4)
        out[0, s::4, g] = rays
    return out


def wan_camera_embedding(
    path: CameraPath,
    length: int,
    width: int,
    height: int,
    *,
    depth: float = DEFAULT_DEPTH,
    zoom_as: Literal["translate", "focal"] = "translate",
    fx: float = 0.5,
    fy: float = 0.5,
    cx: float = 0.5,
    cy: float = 0.5,
) -> NDArray[np.float32]:
    """``WAN_CAMERA_EMBEDDING`` for ``path``: ``(1, 24, (length + 3) // 4, height, width)``."""
    if length < 1 or (length - 1) % 4:
        raise CameraError(
            f"length must be 4k+1 frames for the Wan camera embedding (5, 9, ..., 81), got {length}"
        )
    poses = path_poses(
        path, length, width, height, fx=fx, fy=fy, cx=cx, cy=cy, depth=depth, zoom_as=zoom_as
    )
    return pack_wan(poses)


# --------------------------------------------------------------------------- bundle


@dataclass(frozen=True)
class Conditioning:
    """Everything one path gives the model families (images are uint8 HxWx3)."""

    start_image: NDArray[np.uint8]
    end_image: NDArray[np.uint8]
    motion_bucket_id: int
    prompt: str


def conditioning(
    keyframe: NDArray[np.uint8], path: CameraPath, model_size: tuple[int, int]
) -> Conditioning:
    """Start/end crops at ``model_size`` (width, height), SVD bucket and prompt phrase."""
    from .render import render_path

    frames = list(render_path(keyframe, path, 2, model_size))
    return Conditioning(
        start_image=frames[0],
        end_image=frames[1],
        motion_bucket_id=motion_bucket_id(path, model_size),
        prompt=prompt_phrase(path, model_size),
    )
