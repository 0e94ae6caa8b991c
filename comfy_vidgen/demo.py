"""The demo's control-machine half: real photos -> viability -> suggested paths -> manifests.

``vidgen demo`` (comfy_vidgen/commands/demo.py) then runs the manifests through the
orchestrator's local engine. Every step reports what it actually did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .fsutil import atomic_write_text
from .manifest import build_manifest, dumps_pretty
from .workflow_specs import DEFAULT_WORKFLOW

log = logging.getLogger(__name__)

#: scikit-image's bundled real photographs used as keyframes (no download)
DEMO_PHOTOS = ("astronaut", "coffee", "chelsea")
SIZE = (384, 216)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Prepared:
    shoot: Path
    manifests: list[Path]
    rejected: list[tuple[Path, str]]


def write_keyframes(folder: Path) -> list[Path]:
    """Three real photos plus one ruined copy (blurred, shrunk) for the pre-filter to catch."""
    import numpy as np
    from PIL import Image, ImageFilter
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in DEMO_PHOTOS:
        p = folder / f"{name}.jpg"
        if not p.exists():
            Image.fromarray(np.ascontiguousarray(getattr(data, name)()[..., :3])).save(
                p, quality=92
            )
        paths.append(p)
    bad = folder / "chelsea-out-of-focus.jpg"
    if not bad.exists():
        img = Image.open(paths[-1]).filter(ImageFilter.GaussianBlur(6)).resize((240, 160))
        img.save(bad, quality=60)
    paths.append(bad)
    return paths


def prepare(out: Path, say: Say) -> Prepared:
    from .camera.suggest import suggest_paths
    from .images import load_rgb_array
    from .viability import video_viability_score

    shoot = out / "shoot"
    keyframes = write_keyframes(shoot)
    say(f"1. keyframes    {len(keyframes)} photos in {shoot}/ (scikit-image's bundled photographs)")
    passed: list[Path] = []
    rejected: list[tuple[Path, str]] = []
    for kf in keyframes:
        rep = video_viability_score(kf, output_size=SIZE)
        if rep.passed:
            passed.append(kf)
            say(f"2. viability    PASS   {rep.score:.2f}  {kf.name}")
        else:
            rejected.append((kf, "; ".join(rep.reasons)))
            say(f"2. viability    REJECT {rep.score:.2f}  {kf.name}: {'; '.join(rep.reasons)}")
    mdir = out / "manifests"
    manifests: list[Path] = []
    for i, kf in enumerate(passed):
        best = suggest_paths(load_rgb_array(kf), SIZE, n=1)[0]
        cam = best.camera
        m = build_manifest(
            keyframe=kf,
            input_root=shoot,
            motion_type=cam["motion_type"],
            start=cam["start_frame"],
            end=cam["end_frame"],
            easing=cam.get("easing", "ease_in_out"),
            workflow=DEFAULT_WORKFLOW,
            seed=1000 + i,
            size=SIZE,
        )
        path = mdir / f"{m.id}.json"
        atomic_write_text(path, dumps_pretty(m))
        manifests.append(path)
        say(f"3. camera path  {kf.name}: {cam['motion_type']} ({best.rationale})")
    say(
        f"4. manifests    {len(manifests)} {DEFAULT_WORKFLOW} manifests in {mdir}/ (validated, keyframes hashed)"
    )
    return Prepared(shoot, manifests, rejected)
