"""Keyframe decoding: orientation, bit depths, colour models, ICC, formats, bad files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import photo
from PIL import Image, ImageCms

from comfy_vidgen.images import (
    ImageError,
    decode_for_analysis,
    estimate_jpeg_quality,
    load_image,
    load_rgb_array,
    probe_image,
    to_float01,
)


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return photo("coffee")  # 400x600 real photo


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_exif_orientation_is_applied(tmp_path: Path, coffee: np.ndarray) -> None:
    p = tmp_path / "rot.jpg"
    stored = np.rot90(coffee, 1)  # what a camera held upright writes with orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(stored)).save(p, quality=95, exif=exif)
    info = probe_image(p)
    assert (info.width, info.height) == (600, 400)
    rgb = load_rgb_array(p)
    assert rgb.shape == (400, 600, 3)
    assert _mad(rgb, coffee) < 4.0
    dec = decode_for_analysis(p, 256)
    assert (dec.width, dec.height) == (600, 400)
    assert dec.rgb.shape[1] > dec.rgb.shape[0]


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_formats_decode_to_the_same_pixels(tmp_path: Path, coffee: np.ndarray, fmt: str) -> None:
    p = tmp_path / f"c.{fmt.lower()}"
    kw = {"lossless": True} if fmt == "WEBP" else {}
    Image.fromarray(coffee).save(p, fmt, **kw)
    assert _mad(load_rgb_array(p), coffee) < 0.5


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_rgb_and_gray(tmp_path: Path, coffee: np.ndarray, suffix: str) -> None:
    import cv2

    rgb16 = coffee.astype(np.uint16) * 257
    p = tmp_path / f"rgb16{suffix}"
    cv2.imwrite(str(p), rgb16[..., ::-1])
    assert _mad(load_rgb_array(p), coffee) < 0.6
    gray8 = cv2.cvtColor(coffee, cv2.COLOR_RGB2GRAY)
    g = tmp_path / f"g16{suffix}"
    cv2.imwrite(str(g), gray8.astype(np.uint16) * 257)
    out = load_rgb_array(g)
    assert out.shape == (*gray8.shape, 3)
    assert _mad(out[..., 0], gray8) < 0.6


def test_dark_16_bit_gray_is_not_mistaken_for_8_bit(tmp_path: Path) -> None:
    """A 16-bit file whose values are all <= 255 is nearly black, not a normal 8-bit image."""
    p = tmp_path / "dark16.png"
    Image.fromarray(np.full((32, 32), 200, np.uint16)).save(p)
    assert load_rgb_array(p).max() <= 1


def test_palette_grayscale_and_alpha(tmp_path: Path, coffee: np.ndarray) -> None:
    im = Image.fromarray(coffee)
    pal = tmp_path / "p.png"
    im.quantize(256).save(pal)
    assert _mad(load_rgb_array(pal), coffee) < 6.0
    gray = tmp_path / "l.jpg"
    im.convert("L").save(gray, quality=95)
    out = load_rgb_array(gray)
    assert out.shape == coffee.shape and np.array_equal(out[..., 0], out[..., 2])
    rgba = tmp_path / "a.png"
    im.convert("RGBA").save(rgba)
    assert _mad(load_rgb_array(rgba), coffee) < 0.5


def test_cmyk_jpeg(tmp_path: Path, coffee: np.ndarray) -> None:
    p = tmp_path / "cmyk.jpg"
    Image.fromarray(coffee).convert("CMYK").save(p, quality=95)
    assert Image.open(p).mode == "CMYK"
    out = load_rgb_array(p)
    ref = np.asarray(Image.fromarray(coffee).convert("CMYK").convert("RGB"))
    assert _mad(out, ref) < 4.0
    dec = decode_for_analysis(p, 150)  # reduced CMYK decode
    assert dec.reduction == 4 and dec.rgb.shape == (100, 150, 3)


def _p3_like_icc() -> bytes:
    """A minimal ICC v2 RGB display profile: Display-P3 primaries (D50-adapted), gamma 2.2."""
    import struct

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    curv = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    text = b"P3-like test\0"
    desc = (
        b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    )
    desc += b"\0" * (-len(desc) % 4)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.5151, 0.2412, -0.0011)),
        (b"gXYZ", xyz(0.2920, 0.6922, 0.0419)),
        (b"bXYZ", xyz(0.1571, 0.0666, 0.7841)),
        (b"rTRC", curv),
        (b"gTRC", curv),
        (b"bTRC", curv),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"\0" * 4, 0x02100000, b"mntr", b"RGB ", b"XYZ ")
    header += b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
    header += s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def test_embedded_icc_profile_is_converted(tmp_path: Path, coffee: np.ndarray) -> None:
    """Wide-gamut tagged pixels are converted to sRGB; an sRGB tag changes nothing."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = tmp_path / "srgb.png"
    Image.fromarray(coffee).save(tagged, icc_profile=srgb)
    assert _mad(load_rgb_array(tagged), coffee) < 1.0
    for suffix in (".jpg", ".tif"):
        wide = tmp_path / f"p3{suffix}"
        Image.fromarray(coffee).save(wide, icc_profile=_p3_like_icc())
        out = load_rgb_array(wide)
        # P3 red is more saturated than sRGB red: the converted red channel rises
        assert _mad(out, coffee) > 3.0
        assert out[..., 0].astype(float).mean() > coffee[..., 0].astype(float).mean()


def test_reduced_jpeg_decode_picks_the_largest_safe_reduction(
    tmp_path: Path, coffee: np.ndarray
) -> None:
    import cv2

    big = cv2.resize(coffee, (2400, 1600), interpolation=cv2.INTER_CUBIC)
    p = tmp_path / "big.jpg"
    Image.fromarray(big).save(p, quality=92)
    for long_side, red in ((2400, 1), (1200, 2), (600, 4), (300, 8), (100, 8)):
        d = decode_for_analysis(p, long_side)
        assert d.reduction == red
        assert max(d.rgb.shape[:2]) >= min(long_side, 300)
        assert (d.width, d.height) == (2400, 1600)
    assert decode_for_analysis(p, 300, reduced=False).reduction == 1
    assert load_image(p, min_size=400).size[1] >= 400


def test_jpeg_quality_estimate_from_tables(coffee: np.ndarray) -> None:
    for q in (4, 10, 50, 75, 92):
        buf = io.BytesIO()
        Image.fromarray(coffee).save(buf, "JPEG", quality=q)
        assert estimate_jpeg_quality(Image.open(buf).quantization[0]) == q
    with pytest.raises(ValueError):
        estimate_jpeg_quality([1, 2, 3])


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"hello, not an image\n", "not a recognised image format")],
)
def test_bad_files_raise_image_error(tmp_path: Path, content: bytes, message: str) -> None:
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        decode_for_analysis(p, 512)


def test_truncated_and_bomb(tmp_path: Path, coffee: np.ndarray) -> None:
    full = tmp_path / "full.jpg"
    Image.fromarray(coffee).save(full, quality=95)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[:4000])
    with pytest.raises(ImageError, match="cannot decode"):
        decode_for_analysis(cut, 512)
    bomb = tmp_path / "bomb.png"
    Image.new("L", (20000, 20000)).save(bomb, optimize=False, compress_level=1)
    with pytest.raises(ImageError, match="exceeds"):
        decode_for_analysis(bomb, 512, max_pixels=100_000_000)
    with pytest.raises(ImageError, match="no such file"):
        probe_image(tmp_path / "missing.jpg")


def test_to_float01_range(coffee: np.ndarray) -> None:
    f = to_float01(coffee)
    assert f.dtype == np.float32 and 0.0 <= f.min() and f.max() <= 1.0


def test_plain_jpegs_decode_through_opencv_to_the_same_pixels(
    tmp_path: Path, coffee: np.ndarray
) -> None:
    """The OpenCV path gives PIL's draft pixels exactly, at every reduction; others use PIL."""
    import cv2

    big = cv2.resize(coffee, (2400, 1601), interpolation=cv2.INTER_CUBIC)  # 1601: not divisible
    for i, opts in enumerate(
        ({"quality": 92}, {"quality": 95, "subsampling": 0}, {"quality": 80, "progressive": True})
    ):
        p = tmp_path / f"plain{i}.jpg"
        Image.fromarray(big).save(p, **opts)
        for long_side, red in ((2400, 1), (1000, 2), (500, 4), (200, 8)):
            d = decode_for_analysis(p, long_side)
            assert (d.order, d.reduction) == ("BGR", red)
            with Image.open(p) as im:
                im.draft("RGB", (2400 // red, 1601 // red))
                assert np.array_equal(d.rgb, np.asarray(im.convert("RGB"))), (opts, red)
    rot = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(big).save(rot, quality=92, exif=exif)
    assert decode_for_analysis(rot, 500).order == "RGB"  # not plain: PIL applies the rotation
