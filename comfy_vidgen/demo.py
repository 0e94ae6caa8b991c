"""The demo: real photographs through every stage that exists, reported as it happens."""

from __future__ import annotations

import sys
from pathlib import Path

from .fsutil import atomic_write_text
from .manifest import build_manifest, dumps_pretty, full_crop, manifest_hash, validate_file

#: scikit-image's bundled real photographs used as keyframes (no download)
DEMO_PHOTOS = {"astronaut": "astronaut", "coffee": "coffee", "chelsea": "chelsea"}
SIZE = (512, 288)


def _say(msg: str) -> None:
    print(msg, file=sys.stdout, flush=True)


def _write_keyframes(folder: Path) -> list[Path]:
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, loader in DEMO_PHOTOS.items():
        p = folder / f"{name}.jpg"
        if not p.exists():
            Image.fromarray(getattr(data, loader)()[..., :3]).save(p, quality=92)
        paths.append(p)
    return paths


def run_demo(out: Path) -> int:
    from .images import probe_image

    shoot = out / "shoot"
    manifests = out / "manifests"
    keyframes = _write_keyframes(shoot)
    _say(f"1. keyframes: {len(keyframes)} real photos written to {shoot}/")
    manifests.mkdir(parents=True, exist_ok=True)
    written = []
    for i, kf in enumerate(keyframes):
        info = probe_image(kf)
        full = full_crop(info.width, info.height, *SIZE)
        end = {k: v for k, v in full.items()}
        end["w"], end["h"] = full["w"] * 0.6, full["h"] * 0.6
        end["x"], end["y"] = full["x"] + full["w"] * 0.2, full["y"] + full["h"] * 0.2
        m = build_manifest(
            keyframe=kf,
            input_root=shoot,
            motion_type="zoom_in",
            start=full,
            end=end,
            workflow="camera_only@1",
            seed=1000 + i,
            size=SIZE,
        )
        path = manifests / f"{m.id}.json"
        atomic_write_text(path, dumps_pretty(m))
        written.append(path)
    _say(f"2. manifests: {len(written)} camera_only@1 zoom-in manifests in {manifests}/")
    ok = 0
    for path in written:
        checked, errors = validate_file(path, shoot)
        if checked is not None and not errors:
            ok += 1
            _say(f"   valid  {path.name}  manifest_hash {manifest_hash(checked)[:16]}...")
        else:
            _say(f"   INVALID {path.name}: {errors}")
    _say(f"3. validation: {ok}/{len(written)} valid, keyframe hashes checked")
    _say(
        "Not run yet: viability, rendering, RIFE retime, H.265 encode and audit are not part "
        "of this build; no video was produced."
    )
    return 0 if ok == len(written) else 1
