"""Hostile and unlucky bytes: the imaging core raises nothing but ImageError, and renditions are upright and bare."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, TiffImagePlugin

from pipeline.errors import ImageError
from pipeline.imaging import Limits, render
from pipeline.settings import DEFAULT_RENDITIONS, Settings, parse_renditions
from tests.images import compass, encode, raw_exif, stored_for, tiff_entries, upright

R = parse_renditions(DEFAULT_RENDITIONS)
TIFF_TYPES = (1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 16)


def only_image_error(data: bytes, limits: Limits | None = None) -> str:
    """Render; 'ok' or the ImageError code. Any other exception fails the test."""
    try:
        render(data, R, limits or Limits())
    except ImageError as e:
        assert str(e)
        return e.code
    return "ok"


def animated_gif(frames: int = 4) -> bytes:
    imgs = [Image.effect_noise((120, 90), 60 + 10 * i).convert("P") for i in range(frames)]
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=100)
    return buf.getvalue()


def test_gif_cut_anywhere_is_an_image_error() -> None:
    # GIVEN an animated GIF cut at every length (is_animated raised IndexError and struct.error here)
    data = animated_gif()
    # Every 7 bytes through the header and the first frame, then every 61, and every byte around each frame's
    # start (its graphic control extension): 6,000 cuts every 7 bytes took two minutes and found nothing more.
    starts = [i for i in range(len(data)) if data.startswith(b"\x21\xf9\x04", i)]
    cuts = {*range(10, 2000, 7), *range(2000, len(data), 61), *(s + d for s in starts for d in range(-4, 16))}
    # (WebP only: the animation path is what a cut reaches; AVIF stills would only add encoding time)
    webp_only = Limits(variants=("WEBP",))
    codes = {only_image_error(data[:cut], webp_only) for cut in sorted(cuts) if 10 <= cut < len(data)}
    # THEN each cut ends as a clean outcome, and most of them as corrupt
    assert codes <= {"ok", "corrupt", "unsupported_format"} and "corrupt" in codes


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_mistyped_exif_tag_beside_orientation_still_renders_upright(fmt: str) -> None:
    # GIVEN orientation 6 and XResolution stored as ASCII (exif_transpose raised TypeError on it)
    exif = raw_exif([(0x0112, 3, 1, struct.pack("<H", 6)), (0x011A, 2, 8, b"abcdefg\x00")])
    data = encode(stored_for(6, compass(400, 300)), fmt, exif=exif)
    # WHEN rendered THEN it is upright with the shown aspect
    large = render(data, R, Limits()).renditions[0]
    assert (large.width, large.height) == (400, 300) and upright(large.data)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
@pytest.mark.parametrize("typ", TIFF_TYPES)
def test_every_exif_tag_with_every_wrong_type_is_harmless(fmt: str, typ: int) -> None:
    exif = raw_exif(
        [
            (0x0112, typ, 1, b"\x06\x00\x00\x00"),
            (0x011A, typ, 3, b"\x01\x00\x00\x00\x02\x00\x00\x00"),
            (0x8769, typ, 1, b"\x08\x00\x00\x00"),  # an EXIF sub-IFD pointer that points at the header
        ]
    )
    assert only_image_error(encode(compass(64, 48), fmt, exif=exif)) in ("ok", "corrupt")


def test_tiff_with_every_tag_retyped_is_only_ever_an_image_error() -> None:
    # GIVEN a valid TIFF, and for each tag of its IFD each TIFF type written over the tag's own
    base = encode(compass(64, 48), "TIFF", compression="tiff_lzw")
    codes = set()
    for entry in tiff_entries(base):
        for typ in TIFF_TYPES:
            data = bytearray(base)
            struct.pack_into("<H", data, entry + 2, typ)
            codes.add(only_image_error(bytes(data)))
    assert "corrupt" in codes  # and no other exception escaped


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_every_orientation_comes_out_upright_in_every_format(fmt: str, orientation: int) -> None:
    # GIVEN a 400x300 picture stored as a camera would for this orientation
    stored = stored_for(orientation, compass(400, 300))
    if fmt == "TIFF":
        tags = TiffImagePlugin.ImageFileDirectory_v2()
        tags[0x0112] = orientation
        data = encode(stored, "TIFF", tiffinfo=tags)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = encode(stored, fmt, exif=exif.tobytes())
    # WHEN rendered THEN every rendition shows it upright, 4:3 landscape
    result = render(data, R, Limits())
    assert result.source.orientation == orientation and (result.source.width, result.source.height) == (400, 300)
    for r in result.renditions:
        assert r.width > r.height and upright(r.data), (r.name, r.width, r.height)


def test_float_tiff_is_scaled_by_its_own_range() -> None:
    # GIVEN a float image whose values run 0-255 (it came out nearly white) and one of 0-1
    for scale in (1.0, 1 / 255):
        ramp = Image.linear_gradient("L").convert("F").point(lambda v, s=scale: v * s)
        large = render(encode(ramp, "TIFF"), R, Limits()).renditions[0]
        with Image.open(io.BytesIO(large.data)) as im:
            gray = im.convert("L")
            top, bottom = gray.getpixel((128, 2)), gray.getpixel((128, 253))
        assert isinstance(top, int) and isinstance(bottom, int)
        assert top < 20 and bottom > 235, (scale, top, bottom)


def test_16bit_source_over_the_memory_budget_is_refused_from_its_header() -> None:
    # GIVEN a tiny file that decodes to 7000x7000 16-bit pixels (it peaked at ~510 MB RSS)
    big = Image.new("I;16", (7000, 7000), 1000)
    data = encode(big, "PNG")
    assert len(data) < 200_000
    # WHEN the budget is that of a 128 MB function THEN it is refused before decoding, with a clear code
    small = Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"})
    with pytest.raises(ImageError) as e:
        render(data, R, Limits(max_work_bytes=small.imaging.work_budget_bytes))
    assert e.value.code == "too_much_memory" and "MiB" in str(e.value)


def test_default_budget_follows_the_function_memory() -> None:
    assert Settings.from_env({}).imaging.memory_mb == 512
    big = Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"})
    assert big.imaging.work_budget_bytes > 2 * Settings.from_env({}).imaging.work_budget_bytes
