"""NVENCEncode: IMAGE frames -> the delivery H.265 MP4 + sidecar, shown in the UI.

The orchestrator reads ``vidgen_outputs`` from ``/history`` (path, sha256,
encoder actually used). ``images`` + ``animated`` make the ComfyUI front end
show a clip; Chromium cannot play the HEVC delivery, so that entry is an H.264
preview in ComfyUI's temp folder (``comfy_vidgen.encode.preview``), never a
delivery.
"""

from __future__ import annotations

import logging
from typing import Any

from ..encode.preview import PREVIEW_SUBFOLDER
from ..encode.settings import ENCODERS
from ..parameters import BIT_DEPTH_CHOICES

log = logging.getLogger(__name__)


class NVENCEncode:
    """Thin adapter over ``comfy_vidgen.encode.delivery.deliver``."""

    CATEGORY = "vidgen/encode"
    FUNCTION = "encode"
    OUTPUT_NODE = True
    DESCRIPTION = (
        "Encodes frames to an H.265 MP4 (hevc_nvenc when a session opens, else libx265, and "
        "says why) with BT.709 tv-range colour tags, the hvc1 tag and faststart, plus a JSON "
        "sidecar. Writes output/vidgen/<manifest id or adhoc>/<job>.mp4. With a manifest connected, "
        "fps, quality and bit depth must equal its output settings (link them from "
        "ManifestLoader) and audio comes from it. Shows a browser-playable H.264 preview "
        "(at most 512 px wide, in ComfyUI's temp folder; not a delivery)."
    )
    RETURN_TYPES = ("STRING", "STRING")
    RETURN_NAMES = ("path", "sha256")
    OUTPUT_TOOLTIPS = ("Absolute path of the written MP4.", "sha256 of the MP4 (hex).")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "Frames [B,H,W,3] in 0..1 (even width/height)."}),
                "fps": ("INT", {"default": 30, "min": 1, "max": 240,
                                "tooltip": "Frame rate (link ManifestLoader.fps)."}),
                "quality": ("INT", {"default": 20, "min": 0, "max": 51,
                                    "tooltip": "CRF (libx265) / CQ (NVENC): lower is better "
                                    "and bigger (link ManifestLoader.quality)."}),
                "bit_depth": (list(BIT_DEPTH_CHOICES), {"default": "10",
                                            "tooltip": "10-bit avoids banding; 8-bit for old "
                                            "players (link ManifestLoader.bit_depth)."}),
                "encoder": (list(ENCODERS), {"default": "auto",
                                             "tooltip": "auto: NVENC if a session opens, else "
                                             "libx265 (recorded). hevc_nvenc: fail if absent."}),
                "filename_prefix": ("STRING", {"default": "vidgen",
                                               "tooltip": "Name start when job_id is empty "
                                               "(a timestamp is appended)."}),
                "job_id": ("STRING", {"default": "",
                                      "tooltip": "File name (the orchestrator's job id); "
                                      "empty: prefix + timestamp."}),
            },
            "optional": {
                "manifest": ("VIDGEN_MANIFEST", {"tooltip": "From ManifestLoader: settings, "
                                                 "id (folder) and provenance for the sidecar."}),
                "audio": ("AUDIO", {"tooltip": "Soundtrack: trimmed/padded to the clip, "
                                    "loudness-normalised, AAC."}),
            },
        }  # fmt: skip

    def encode(
        self,
        images: Any,
        fps: int,
        quality: int,
        bit_depth: str,
        encoder: str,
        filename_prefix: str,
        job_id: str,
        manifest: Any = None,
        audio: Any = None,
    ) -> dict[str, Any]:
        from ..encode.delivery import deliver
        from ..encode.preview import PreviewError, preview_name, write_preview
        from . import _comfy

        d = deliver(
            images,
            _comfy.output_directory(),
            fps=fps,
            quality=quality,
            bit_depth=int(bit_depth),
            encoder=encoder,
            job_id=job_id,
            filename_prefix=filename_prefix,
            manifest=manifest,
            audio=audio,
            input_dir=_comfy.input_directory() if manifest is not None else None,
            on_progress=_comfy.progress_callback(int(images.shape[0])),
        )
        r = d.result
        item = {"filename": d.filename, "subfolder": d.subfolder, "type": "output"}
        extra = {"sha256": r.sha256, "sidecar": d.sidecar_filename, "encoder": r.encoder,
                 "frames": r.frames}  # fmt: skip
        ui: dict[str, Any] = {"images": [], "animated": [], "vidgen_outputs": [{**item, **extra}]}
        sub = PREVIEW_SUBFOLDER
        try:  # the delivery is done; a preview that cannot be made only loses the display
            p = write_preview(images, _comfy.temp_directory() / sub / preview_name(d.filename),
                              fps, on_progress=_comfy.progress_callback(int(images.shape[0])))  # fmt: skip
            ui.update(images=[{"filename": p.filename, "subfolder": sub, "type": "temp"}],
                      animated=[True])  # fmt: skip
        except PreviewError as e:
            log.warning("NVENCEncode: no preview for %s: %s", d.filename, e)
        return {"ui": ui, "result": (r.path, r.sha256)}


NODE_CLASS_MAPPINGS = {"NVENCEncode": NVENCEncode}
NODE_DISPLAY_NAME_MAPPINGS = {"NVENCEncode": "H.265 Encode (NVENC / x265) · vidgen"}
