"""CameraPathConditioner and VirtualCamera: thin adapters over ``comfy_vidgen.camera``.

The crop/motion/easing inputs are plain widgets (the web canvas editor writes
them; see docs/camera.md); a connected VIDGEN_MANIFEST overrides them.
"""

from __future__ import annotations

from typing import Any

from ..manifest import EASINGS, MOTION_TYPES, Camera, Manifest, parse_manifest

_CONDITIONER_OUTPUT = "camera_embedding"


def _crop_inputs(prefix: str, default: tuple[float, float, float, float]) -> dict[str, Any]:
    names = {"x": "left edge", "y": "top edge", "w": "width", "h": "height"}
    return {
        f"{prefix}_{k}": (
            "FLOAT",
            {
                "default": d,
                "min": 0.0,
                "max": 1.0,
                "step": 0.0001,
                "tooltip": f"{prefix} crop {names[k]}, as a fraction of the keyframe "
                f"{'width' if k in 'xw' else 'height'} (0..1). Ignored when a manifest is connected.",
            },
        )
        for k, d in zip("xywh", default, strict=True)
    }


def _to_numpy_u8(image: Any, index: int = 0) -> Any:
    """IMAGE tensor [B,H,W,C] float 0..1 -> frame ``index`` as uint8 HxWx3."""
    import numpy as np
    import torch

    arr = image[index, ..., :3].detach().cpu().float().clamp(0, 1).mul(255).round()
    return np.ascontiguousarray(arr.to(dtype=torch.uint8).numpy())


def _to_tensor(frames: list[Any]) -> Any:
    import numpy as np
    import torch

    return torch.from_numpy(np.stack(frames).astype(np.float32) / np.float32(255.0))


def _manifest(value: Any) -> Manifest:
    """VIDGEN_MANIFEST as ManifestLoader sends it (a Manifest), or its JSON / dict."""
    if isinstance(value, Manifest):
        return value
    if isinstance(value, str | bytes | dict):
        return parse_manifest(value)
    inner = getattr(value, "manifest", None)
    if isinstance(inner, Manifest):
        return inner
    from ..camera import CameraError

    raise CameraError(f"manifest input must be a VIDGEN_MANIFEST, got {type(value).__name__}")


def _output_used(prompt: Any, unique_id: Any, slot: int) -> bool:
    """Whether any node of the running prompt reads output ``slot`` of node ``unique_id``."""
    if not isinstance(prompt, dict) or unique_id is None:
        return True
    for node in prompt.values():
        for link in (node.get("inputs") or {}).values() if isinstance(node, dict) else ():
            if isinstance(link, list) and len(link) == 2 and str(link[0]) == str(unique_id):
                if link[1] == slot:
                    return True
    return False


class CameraPathConditioner:
    """One camera path -> every model family's conditioning."""

    CATEGORY = "vidgen/camera"
    FUNCTION = "condition"
    DESCRIPTION = (
        "Turns a camera path (start crop, end crop, motion type, easing; from the widgets or a "
        "connected manifest) into conditioning: start/end crops at model resolution "
        "(first/last-frame models), an SVD motion_bucket_id from the path speed, a Wan camera "
        "embedding (Plücker rays, same tensor format as ComfyUI's WanCameraEmbedding) and a "
        "short prompt phrase."
    )
    RETURN_TYPES = ("IMAGE", "IMAGE", "VIDGEN_CAMERA_PATH", "INT", "WAN_CAMERA_EMBEDDING", "STRING")
    RETURN_NAMES = (
        "start_image",
        "end_image",
        "camera_path",
        "motion_bucket_id",
        _CONDITIONER_OUTPUT,
        "prompt_phrase",
    )
    OUTPUT_TOOLTIPS = (
        "Start crop rendered at width x height.",
        "End crop rendered at width x height.",
        "The camera path, for VirtualCamera.",
        "SVD motion_bucket_id derived from the path speed (docs/camera.md).",
        "Wan camera embedding [1, 24, (length+3)/4, height, width] (needs length = 4k+1).",
        "A short description of the move, e.g. 'slow zoom in toward the upper left'.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        full = (0.0, 0.0, 1.0, 1.0)
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The keyframe (first image of the batch is used)."}),
                "width": (
                    "INT",
                    {
                        "default": 1024,
                        "min": 16,
                        "max": 4096,
                        "step": 8,
                        "tooltip": "Model resolution width for the crops and the embedding.",
                    },
                ),
                "height": (
                    "INT",
                    {
                        "default": 576,
                        "min": 16,
                        "max": 4096,
                        "step": 8,
                        "tooltip": "Model resolution height for the crops and the embedding.",
                    },
                ),
                "length": (
                    "INT",
                    {
                        "default": 81,
                        "min": 1,
                        "max": 1024,
                        "tooltip": "Frames the video model generates (Wan: 4k+1).",
                    },
                ),
                "motion_type": (
                    list(MOTION_TYPES),
                    {
                        "default": "zoom_in",
                        "tooltip": "Camera move; must agree with the crops (e.g. zoom_in: end smaller). Ignored when a manifest is connected.",
                    },
                ),
                "easing": (
                    list(EASINGS),
                    {
                        "default": "ease_in_out",
                        "tooltip": "Speed profile over the clip. Ignored when a manifest is connected.",
                    },
                ),
                **_crop_inputs("start", full),
                **_crop_inputs("end", (0.25, 0.25, 0.5, 0.5)),
            },
            "optional": {
                "manifest": (
                    "VIDGEN_MANIFEST",
                    {
                        "tooltip": "When connected (the @1 graphs), its camera block is used instead of the motion, easing and crop widgets."
                    },
                ),
                "camera": (
                    "VIDGEN_CAMERA",
                    {
                        "tooltip": "The manifest's camera block, linked from ManifestLoader.camera (the @2 graphs); the widgets then show it in the editor. Unlinked: the widgets are the path."
                    },
                ),
            },
            "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID"},
        }

    def condition(
        self,
        image: Any,
        width: int,
        height: int,
        length: int,
        motion_type: str,
        easing: str,
        start_x: float,
        start_y: float,
        start_w: float,
        start_h: float,
        end_x: float,
        end_y: float,
        end_w: float,
        end_h: float,
        manifest: Any = None,
        camera: Any = None,
        prompt: Any = None,
        unique_id: Any = None,
    ) -> tuple[Any, ...]:
        import torch

        from ..camera import CameraPath
        from ..camera.conditioning import conditioning, wan_camera_embedding

        keyframe = _to_numpy_u8(image)
        size = (keyframe.shape[1], keyframe.shape[0])
        if camera is not None:
            if not isinstance(camera, Camera):
                from ..camera import CameraError

                raise CameraError(f"camera must be a VIDGEN_CAMERA, got {type(camera).__name__}")
            path = CameraPath(camera, size)
        elif manifest is not None:
            path = CameraPath(_manifest(manifest).camera, size)
        else:
            path = CameraPath.from_values(
                motion_type,
                (start_x, start_y, start_w, start_h),
                (end_x, end_y, end_w, end_h),
                easing,
                size,
            )
        cond = conditioning(keyframe, path, (width, height))
        embedding = None
        if _output_used(prompt, unique_id, self.RETURN_NAMES.index("camera_embedding")):
            embedding = torch.from_numpy(wan_camera_embedding(path, length, width, height))
        return (
            _to_tensor([cond.start_image]),
            _to_tensor([cond.end_image]),
            path,
            cond.motion_bucket_id,
            embedding,
            cond.prompt,
        )


class VirtualCamera:
    """Render (or impose) the exact camera path."""

    CATEGORY = "vidgen/camera"
    FUNCTION = "render"
    DESCRIPTION = (
        "Renders the exact camera path over a single keyframe (camera-only model), or, given a "
        "batch of frames that show the whole keyframe (e.g. generated with a still camera), "
        "imposes the path on them as a post-pass. Sub-pixel exact, anti-aliased."
    )
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("Rendered frames [N, height, width, 3].",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "images": (
                    "IMAGE",
                    {
                        "tooltip": "One keyframe (renders `frames` frames) or a batch of frames (post-pass: one output per input frame)."
                    },
                ),
                "camera_path": ("VIDGEN_CAMERA_PATH", {"tooltip": "From CameraPathConditioner."}),
                "width": (
                    "INT",
                    {
                        "default": 1024,
                        "min": 16,
                        "max": 4096,
                        "step": 8,
                        "tooltip": "Output width.",
                    },
                ),
                "height": (
                    "INT",
                    {
                        "default": 576,
                        "min": 16,
                        "max": 4096,
                        "step": 8,
                        "tooltip": "Output height.",
                    },
                ),
                "frames": (
                    "INT",
                    {
                        "default": 25,
                        "min": 1,
                        "max": 10000,
                        "tooltip": "Frames to render from a single keyframe; ignored for a batch (post-pass).",
                    },
                ),
            }
        }

    def render(
        self, images: Any, camera_path: Any, width: int, height: int, frames: int
    ) -> tuple[Any]:
        from ..camera import render_frames, render_path
        from ._comfy import progress_callback

        batch = int(images.shape[0])
        n = frames if batch == 1 else batch
        on_progress = progress_callback(n)
        if batch == 1:
            out = list(
                render_path(_to_numpy_u8(images), camera_path, n, (width, height), on_progress)
            )
        else:
            src = (_to_numpy_u8(images, i) for i in range(batch))
            out = list(render_frames(src, camera_path, (width, height), n, on_progress))
        return (_to_tensor(out),)


NODE_CLASS_MAPPINGS = {
    "CameraPathConditioner": CameraPathConditioner,
    "VirtualCamera": VirtualCamera,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "CameraPathConditioner": "Camera Path Conditioner (vidgen)",
    "VirtualCamera": "Virtual Camera (vidgen)",
}
