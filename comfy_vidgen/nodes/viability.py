"""ViabilityScore: the same check as ``vidgen viability``, inside a graph."""

from __future__ import annotations

import json
from typing import Any

from ..paths import PRESETS_DIR

PRESET_PREFIX = "viability-"


def profile_names() -> list[str]:
    """Profiles shipped in ``comfy_vidgen/presets`` (``viability-<name>.toml``), default first."""
    files = PRESETS_DIR.iterdir()
    names = sorted(
        f.name[len(PRESET_PREFIX) : -len(".toml")]
        for f in files
        if f.name.startswith(PRESET_PREFIX) and f.name.endswith(".toml")
    )
    return sorted(names, key=lambda n: n != "default")


class ViabilityScore:
    """IMAGE in; score, pass/fail and a JSON report out (the CLI's function)."""

    CATEGORY = "vidgen/viability"
    FUNCTION = "score"
    DESCRIPTION = (
        "Scores a keyframe for image-to-video before GPU time is spent: sharpness, noise, "
        "clipped highlights/shadows, exposure, JPEG blocking, texture and whether the camera "
        "path's smallest crop has enough pixels for the output. Same function and profile as "
        "`vidgen viability`."
    )
    RETURN_TYPES = ("FLOAT", "BOOLEAN", "STRING")
    RETURN_NAMES = ("score", "passed", "report")
    OUTPUT_TOOLTIPS = (
        "0..1, the product of one factor per check (the lowest score for a batch).",
        "True when every image passes the profile.",
        "JSON: score, passed, reasons, metrics (a list when the batch has several images).",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The keyframe(s), [B,H,W,3] in 0..1."}),
                "profile": (
                    profile_names(),
                    {"tooltip": "Thresholds preset from comfy_vidgen/presets/viability-*.toml."},
                ),
            },
            "optional": {
                "manifest": (
                    "VIDGEN_MANIFEST",
                    {
                        "tooltip": "When connected, the effective resolution is judged on the "
                        "camera path's smallest crop and the manifest's output size."
                    },
                ),
            },
        }

    def score(self, image: Any, profile: str, manifest: Any = None) -> tuple[float, bool, str]:
        from ..viability import load_profile, video_viability_score
        from ._comfy import progress_callback

        prof = load_profile(_preset_path(profile))
        camera = getattr(manifest, "manifest", manifest)
        frames = image.detach().cpu().numpy() if hasattr(image, "detach") else image
        on_progress = progress_callback(len(frames))
        reports = []
        for i, frame in enumerate(frames, 1):
            reports.append(video_viability_score(frame, prof, camera=camera))
            on_progress(i, len(frames))
        dicts = [r.as_dict() for r in reports]
        text = json.dumps(dicts[0] if len(dicts) == 1 else dicts, allow_nan=False)
        return (min(r.score for r in reports), all(r.passed for r in reports), text)


def _preset_path(name: str) -> Any:
    from ..viability import ProfileError

    if name not in profile_names():
        raise ProfileError(
            f"unknown viability profile {name!r}; known: {', '.join(profile_names())}"
        )
    return PRESETS_DIR / f"{PRESET_PREFIX}{name}.toml"


NODE_CLASS_MAPPINGS = {"ViabilityScore": ViabilityScore}
NODE_DISPLAY_NAME_MAPPINGS = {"ViabilityScore": "Viability Score (vidgen)"}
