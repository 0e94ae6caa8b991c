"""Camera paths, the virtual-camera renderer, model conditioning, suggestions, previews.

One concept per module: ``path`` (crops + easing -> per-frame rectangles),
``render`` (exact anti-aliased rendering, also as a post-pass over frames),
``conditioning`` (start/end crops, SVD motion bucket, Wan camera embedding,
prompt phrase), ``suggest`` (ranked paths from saliency, faces, composition)
and ``preview`` (contact sheet, low-res video, frame writers). No ComfyUI or
torch import here: the nodes convert tensors.
"""

from __future__ import annotations

from .path import EASING_FUNCTIONS, CameraError, CameraPath, Rect, ease, frame_times
from .render import Pyramid, render_frames, render_path, render_rect

__all__ = [
    "EASING_FUNCTIONS",
    "CameraError",
    "CameraPath",
    "Pyramid",
    "Rect",
    "ease",
    "frame_times",
    "render_frames",
    "render_path",
    "render_rect",
]
