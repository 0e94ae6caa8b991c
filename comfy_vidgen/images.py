"""Keyframe decoding as photographers' files need it.

One place decides how a file becomes pixels: the pixel-count guard (checked from
the header, before any decode), EXIF orientation, embedded ICC profiles converted
to sRGB, CMYK / palette / 16-bit / grayscale sources, and reduced-resolution JPEG
decoding when only a small analysis size is needed. Viability, the manifest's
keyframe check and the ComfyUI loader all go through it, so they see the same image.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import VidgenError

log = logging.getLogger(__name__)

#: Refuse anything larger before decoding (decompression bombs). 200 MP covers
#: every current camera back (the largest are ~150 MP).
MAX_PIXELS = 200_000_000

# Pillow's own bomb check would fire at ~179 MP with a DecompressionBombError;
# we enforce our documented limit from the header instead.
Image.MAX_IMAGE_PIXELS = None

_ORIENTATION_TAG = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}


class ImageError(VidgenError):
    """The file cannot be used as a keyframe (unreadable, truncated, too large...)."""


@dataclass(frozen=True)
class ImageInfo:
    """Header facts, with width/height as displayed (after EXIF orientation)."""

    width: int
    height: int
    format: str
    mode: str
    orientation: int


def _open(path: str | os.PathLike[str], max_pixels: int) -> Image.Image:
    p = Path(path)
    try:
        if p.stat().st_size == 0:
            raise ImageError(f"{p}: empty file (0 bytes)")
        img = Image.open(p)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{p}: is a directory, not an image") from None
    except UnidentifiedImageError:
        raise ImageError(f"{p}: not a recognised image format") from None
    except (OSError, ValueError) as e:
        raise ImageError(f"{p}: cannot read image header ({e})") from None
    w, h = img.size
    if w <= 0 or h <= 0:
        img.close()
        raise ImageError(f"{p}: invalid image size {w}x{h}")
    if w * h > max_pixels:
        img.close()
        raise ImageError(
            f"{p}: {w}x{h} = {w * h / 1e6:.0f} MP exceeds the {max_pixels / 1e6:.0f} MP limit "
            "(refused before decoding)"
        )
    return img


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # malformed EXIF must not make the image unusable
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def probe_image(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> ImageInfo:
    """Read only the header: size as displayed, format, mode. Refuses bombs."""
    with _open(path, max_pixels) as img:
        o = _orientation(img)
        w, h = img.size
        if o in _SWAPS_AXES:
            w, h = h, w
        return ImageInfo(width=w, height=h, format=str(img.format), mode=img.mode, orientation=o)


def _to_srgb(img: Image.Image) -> Image.Image:
    """Convert to 8-bit RGB in sRGB, honouring an embedded ICC profile."""
    icc = img.info.get("icc_profile")
    if img.mode.startswith("I;16"):
        # a 16-bit file: full scale is 65535 whatever the content
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr / 257.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "I":
        # 32-bit ints: 16-bit data from some TIFF/PNG readers, else 8-bit data widened
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
        img = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    if icc and img.mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            base = img.convert("RGB") if img.mode in ("RGBA", "LA") else img
            if base.mode == "L":
                base = base.convert("RGB")
                # a gray profile cannot transform RGB pixels; gray is already neutral
                return base
            converted = ImageCms.profileToProfile(base, src, dst, outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError) as e:
            log.warning("ignoring unusable ICC profile (%s); assuming sRGB", e)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


def load_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = MAX_PIXELS,
    min_size: int | None = None,
) -> Image.Image:
    """Decode to an upright sRGB ``RGB`` PIL image.

    ``min_size``: the caller only needs the shorter side to be at least this many
    pixels, so JPEGs may be decoded at 1/2, 1/4 or 1/8 scale (DCT-domain, much
    faster). ``None`` decodes at full resolution.
    """
    img = _open(path, max_pixels)
    try:
        if min_size is not None and img.format == "JPEG":
            w, h = img.size
            scale = min(w, h) / max(min_size, 1)
            if scale >= 2:
                # draft() picks the largest 1/2^k scale that stays >= the request
                img.draft("RGB", (max(1, w // int(scale)), max(1, h // int(scale))))
        o = _orientation(img)
        img.load()
        if o != 1:
            img = ImageOps.exif_transpose(img) or img
        out = _to_srgb(img)
        # the source is closed below; never hand back the object we close
        return out.copy() if out is img else out
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"{path}: cannot decode image ({e})") from None
    finally:
        img.close()


def load_rgb_array(path: str | os.PathLike[str], **kwargs: int | None) -> NDArray[np.uint8]:
    """``load_image`` as an ``HxWx3`` uint8 array."""
    return np.asarray(load_image(path, **kwargs))  # type: ignore[arg-type]


def to_float01(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """uint8 HxWx3 -> float32 0..1, the layout of ComfyUI IMAGE tensors."""
    return rgb.astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- analysis decode

#: IJG (libjpeg) standard luminance quantisation table, natural order; the base
#: that ``quality`` scales in every libjpeg-derived encoder.
_IJG_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


def _ijg_table(quality: int) -> NDArray[np.int64]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    t = (np.asarray(_IJG_LUMA, np.int64) * scale + 50) // 100
    return np.clip(t, 1, 255)


def estimate_jpeg_quality(luma_table: Sequence[int]) -> float:
    """The IJG quality (1..100) whose table is closest to a file's luminance quant table.

    Read from the header, so it costs nothing and does not depend on decode scale.
    Tables from non-IJG encoders (cameras) map to the nearest equivalent quality.
    Compared as sorted values, so zigzag or natural order does not matter.
    """
    if len(luma_table) != 64:
        raise ValueError(f"a JPEG quantisation table has 64 entries, got {len(luma_table)}")
    actual = np.sort(np.asarray(luma_table, np.int64))
    errors = np.abs(_sorted_ijg_tables() - actual).sum(axis=1)
    return float(1 + int(np.argmin(errors)))


@functools.cache
def _sorted_ijg_tables() -> NDArray[np.int64]:
    """Row q-1: the sorted IJG table of quality q (built once: 1.7 ms per file otherwise)."""
    return np.stack([np.sort(_ijg_table(q)) for q in range(1, 101)])


@dataclass(frozen=True)
class DecodedImage:
    """Pixels for analysis plus the facts about the file they came from."""

    #: HxWx3, channels in ``order``
    pixels: NDArray[np.uint8]
    #: size of the full image as displayed (after EXIF orientation)
    width: int
    height: int
    #: 1, 2, 4 or 8: the JPEG DCT-domain reduction used (1 = full decode)
    reduction: int
    format: str
    #: estimated from the quantisation tables for JPEG files, else None
    jpeg_quality: float | None
    #: "RGB", or "BGR" where OpenCV decoded the file (swapping costs ~1.5 ms on
    #: 1500x1000 pixels, and an analysis that only needs luma need not pay it)
    order: str = "RGB"

    @property
    def rgb(self) -> NDArray[np.uint8]:
        if self.order == "RGB":
            return self.pixels
        return np.ascontiguousarray(self.pixels[..., ::-1])


#: a complete JPEG ends with its EOI marker, at most this many bytes before the
#: end of the file (some writers pad); see ``_decode_plain_jpeg``
_EOI_TAIL = 1024


def _decode_plain_jpeg(path: str | os.PathLike[str], reduction: int) -> NDArray[np.uint8] | None:
    """BGR pixels of a JPEG decoded by OpenCV at 1/``reduction`` scale, or None to use PIL.

    The same libjpeg-turbo decode as PIL's draft mode (the pixels are identical:
    tested for 4:2:0, 4:2:2, 4:4:4, progressive, q10..q100 at every reduction), but
    straight into an array: PIL decodes in 64 KB steps from Python and then copies
    the image out with ``tobytes``, 2-3 ms of a 55 ms 24 MP decode. For plain files
    only (the caller checks mode, ICC profile and orientation). libjpeg only warns
    on a truncated file and OpenCV returns the grey-filled image, where PIL raises;
    a file whose tail has no EOI marker goes to PIL for its error.
    """
    import cv2

    flags = {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8,
    }
    data = Path(path).read_bytes()
    if data.rfind(b"\xff\xd9", max(0, len(data) - _EOI_TAIL)) < 0:
        return None
    out = cv2.imdecode(
        np.frombuffer(data, np.uint8), flags[reduction] | cv2.IMREAD_IGNORE_ORIENTATION
    )
    if out is None or out.ndim != 3 or out.shape[2] != 3:
        return None
    return np.asarray(out, dtype=np.uint8)


def decode_for_analysis(
    path: str | os.PathLike[str],
    long_side: int,
    *,
    reduced: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> DecodedImage:
    """Decode upright sRGB pixels whose long side is still >= ``long_side``.

    With ``reduced`` a JPEG is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain
    (libjpeg "draft"), the largest reduction that keeps the long side >= the
    analysis size, so a 24 MP file costs a fraction of a full decode. A plain
    YCbCr JPEG (no ICC profile, upright) is decoded by OpenCV, in BGR order
    (``DecodedImage.order``; ``.rgb`` gives RGB).
    """
    img = _open(path, max_pixels)
    try:
        w, h = img.size
        fmt = str(img.format or "unknown")
        quality: float | None = None
        if img.format == "JPEG":
            tables = getattr(img, "quantization", None) or {}
            if 0 in tables:
                try:
                    quality = estimate_jpeg_quality(list(tables[0]))
                except ValueError:
                    quality = None
        reduction = 1
        o = _orientation(img)
        if reduced and img.format == "JPEG":
            k = 8
            while k > 1 and max(w, h) // k < long_side:
                k //= 2
            reduction = k
        plain = img.format == "JPEG" and img.mode == "RGB" and o == 1
        if plain and not img.info.get("icc_profile"):
            bgr = _decode_plain_jpeg(path, reduction)
            if bgr is not None:
                return DecodedImage(bgr, w, h, reduction, fmt, quality, "BGR")
        if reduction > 1:
            size = (-(-w // reduction), -(-h // reduction))
            img.draft(img.mode if img.mode == "CMYK" else "RGB", size)
            reduction = max(1, round(w / img.size[0]))
        img.load()
        if o != 1:
            img = ImageOps.exif_transpose(img) or img
        rgb = np.asarray(_to_srgb(img), dtype=np.uint8)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"{path}: cannot decode image ({e})") from None
    finally:
        img.close()
    dw, dh = (h, w) if o in _SWAPS_AXES else (w, h)
    return DecodedImage(rgb, dw, dh, reduction, fmt, quality)
