"""Reading and writing frame sequences for ``vidgen interpolate`` (no ComfyUI, no torch)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..errors import VidgenError
from ..fsutil import temp_dir_beside

log = logging.getLogger(__name__)

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov")


class FramesError(VidgenError):
    """An input sequence or output location that cannot be used."""


def read_frames(
    path: str | os.PathLike[str], damaged_ok: bool = False
) -> tuple[NDArray[np.uint8], Fraction | None]:
    """[N, H, W, 3] uint8 RGB from a directory of images (name order) or a video file.

    Returns the video's frame rate too (None for a directory). ``damaged_ok`` keeps
    the frames of a video that decode and skips damaged packets.
    """
    p = Path(path)
    if p.is_dir():
        return _read_dir(p), None
    if not p.is_file():
        raise FramesError(f"input {p} does not exist")
    return _read_video(p, damaged_ok)


def _read_dir(d: Path) -> NDArray[np.uint8]:
    from ..images import ImageError, load_rgb_array

    files = sorted(f for f in d.iterdir() if f.suffix.lower() in FRAME_EXTENSIONS)
    if not files:
        raise FramesError(f"{d}: no image files ({', '.join(FRAME_EXTENSIONS)})")
    frames = []
    for f in files:
        try:
            frames.append(load_rgb_array(f))
        except ImageError as e:
            raise FramesError(str(e)) from None
        if frames[-1].shape != frames[0].shape:
            raise FramesError(
                f"{f}: size {frames[-1].shape[1]}x{frames[-1].shape[0]} differs from "
                f"{files[0].name} ({frames[0].shape[1]}x{frames[0].shape[0]}); all frames "
                "must have one size"
            )
    return np.stack(frames)


def _decode_rgb(p: Path, damaged_ok: bool = False) -> list[NDArray[np.uint8]]:
    frames: list[NDArray[np.uint8]] = []
    try:
        from ..encode import iter_rgb  # the encoder's colour-correct decode
    except ImportError:  # pragma: no cover - the encoder area is always present in releases
        import av

        with av.open(str(p)) as c:
            for vf in c.decode(video=0):
                frames.append(np.asarray(vf.to_ndarray(format="rgb24"), dtype=np.uint8))
        return frames
    for f in iter_rgb(p, damaged_ok=damaged_ok):
        frames.append(np.asarray(f, dtype=np.uint8))
    return frames


def _read_video(p: Path, damaged_ok: bool = False) -> tuple[NDArray[np.uint8], Fraction | None]:
    import av

    try:
        with av.open(str(p)) as c:
            s = c.streams.video[0]
            r = s.average_rate or s.guessed_rate
        frames = _decode_rgb(p, damaged_ok)
    except (av.FFmpegError, IndexError, VidgenError) as e:
        raise FramesError(f"{p}: not a readable video ({e})") from None
    if not frames:
        raise FramesError(f"{p}: the video has no frames")
    return np.stack(frames), (Fraction(r) if r else None)


def write_png_dir(
    frames: NDArray[np.uint8],
    out_dir: str | os.PathLike[str],
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """``frame_000000.png``... into ``out_dir``, atomically (temp dir, then rename)."""
    from PIL import Image

    final = Path(out_dir)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise FramesError(f"output {final} exists and is not an empty directory")
    tmp = temp_dir_beside(final)
    try:
        names = []
        for i, frame in enumerate(frames):
            name = tmp / f"frame_{i:06d}.png"
            Image.fromarray(frame).save(name, compress_level=1)
            names.append(final / name.name)
            if on_progress is not None:
                on_progress(i + 1, len(frames))
        if final.exists():
            final.rmdir()
        os.replace(tmp, final)
        return names
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
