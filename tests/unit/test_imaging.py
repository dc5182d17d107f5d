"""The imaging core: sizes, orientation, formats, limits and metadata, on real pixels."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from pipeline.errors import ImageError
from pipeline.imaging import Limits, fit, inspect, output_format, render
from pipeline.settings import DEFAULT_RENDITIONS, parse_renditions
from tests.images import encode, jpeg_claiming, marked, oriented_jpeg, png_claiming, red_top_left

R = parse_renditions(DEFAULT_RENDITIONS)


def sizes(data: bytes, renditions: Any = R, limits: Limits | None = None) -> dict[str, tuple[int, int]]:
    result = render(data, renditions, limits or Limits())
    out = {}
    for r in result.renditions:
        with Image.open(io.BytesIO(r.data)) as im:
            assert im.size == (r.width, r.height), "recorded size must be the real pixel size"
            out[r.name] = im.size
    return out


@pytest.mark.parametrize(
    ("src", "box", "want"),
    [
        ((1600, 1200), (800, 600), (800, 600)),
        ((1200, 1600), (800, 600), (450, 600)),
        ((640, 480), (800, 600), (640, 480)),  # never upscaled
        ((10000, 10), (800, 600), (800, 1)),  # never zero
        ((1, 1), (150, 150), (1, 1)),
        ((1000, 500), (150, 150), (150, 75)),
    ],
)
def test_fit_keeps_aspect_and_never_upscales(src: tuple[int, int], box: tuple[int, int], want: tuple[int, int]) -> None:
    assert fit(*src, *box) == want


def test_jpeg_renditions_have_exact_sizes_and_jpeg_type() -> None:
    # GIVEN a 1600x1200 JPEG WHEN rendered THEN each rendition fits its box exactly, as JPEG
    data = encode(marked(1600, 1200), "JPEG")
    result = render(data, R, Limits(variants=()))
    assert [(r.name, r.width, r.height, r.content_type) for r in result.renditions] == [
        ("large", 800, 600, "image/jpeg"),
        ("medium", 400, 300, "image/jpeg"),
        ("thumb", 150, 113, "image/jpeg"),
    ]
    assert result.source.width == 1600 and result.source.format == "JPEG"
    assert all(red_top_left(r.data) for r in result.renditions)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(orientation: int) -> None:
    # GIVEN a JPEG stored in any of the 8 EXIF orientations of a 400x300 picture
    data = oriented_jpeg(orientation, 400, 300)
    result = render(data, R, Limits())
    # THEN the source is reported as shown, and every rendition shows red top-left, landscape
    assert (result.source.width, result.source.height, result.source.orientation) == (400, 300, orientation)
    for r in result.renditions:
        assert r.width >= r.height
        assert red_top_left(r.data), f"orientation {orientation}: {r.name} not upright"


def test_large_oriented_jpeg_uses_reduced_decode_and_stays_upright() -> None:
    data = oriented_jpeg(6, 3000, 4000)
    assert sizes(data) == {"large": (450, 600), "medium": (225, 300), "thumb": (112, 150)}
    assert all(red_top_left(r.data) for r in render(data, R, Limits()).renditions)


def test_renditions_carry_no_exif_gps_or_serial() -> None:
    # GIVEN a photo with GPS and a camera serial number in its EXIF
    gps_ifd = 0x8825
    exif_extra = {0x010F: "ACME", 0xA431: "SERIAL-12345"}
    img = marked(800, 600)
    exif = Image.Exif()
    for k, v in exif_extra.items():
        exif[k] = v
    exif.get_ifd(gps_ifd).update({1: "N", 2: (52.0, 22.0, 1.0), 3: "E", 4: (4.0, 53.0, 2.0)})
    data = encode(img, "JPEG", exif=exif.tobytes())
    assert b"SERIAL-12345" in data
    # WHEN rendered THEN no rendition has EXIF at all
    for r in render(data, R, Limits()).renditions:
        with Image.open(io.BytesIO(r.data)) as im:
            assert not im.getexif()
            assert gps_ifd not in im.getexif()
        assert b"SERIAL-12345" not in r.data


def test_png_with_alpha_stays_png_with_alpha() -> None:
    img = Image.new("RGBA", (500, 500), (255, 0, 0, 0))
    result = render(encode(img, "PNG"), R, Limits())
    assert [r.format for r in result.renditions[:3]] == ["PNG", "WEBP", "AVIF"]  # the fallback first
    for r in result.renditions:  # and every variant keeps the transparency
        with Image.open(io.BytesIO(r.data)) as im:
            # (a flat image is a palette PNG now, its transparency in the palette)
            assert im.has_transparency_data and im.convert("RGBA").getpixel((10, 10))[3] == 0, r.format  # type: ignore[index]


def test_palette_png_with_transparency_keeps_it() -> None:
    img = Image.new("P", (300, 300), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.info["transparency"] = 0
    data = encode(img, "PNG", transparency=0)
    r = render(data, R, Limits()).renditions[-1]
    with Image.open(io.BytesIO(r.data)) as im:
        assert im.has_transparency_data and im.convert("RGBA").getpixel((1, 1))[3] == 0  # type: ignore[index]


def test_cmyk_jpeg_becomes_rgb_jpeg_with_right_colours() -> None:
    img = Image.new("RGB", (900, 600), (200, 30, 30)).convert("CMYK")
    result = render(encode(img, "JPEG"), R, Limits())
    with Image.open(io.BytesIO(result.renditions[0].data)) as im:
        assert im.mode == "RGB" and im.size == (800, 533)
        r, g, b = im.getpixel((100, 100))  # type: ignore[misc]
        assert r > 150 and g < 80 and b < 80


def test_16bit_png_is_scaled_not_clipped_to_white() -> None:
    gray = Image.linear_gradient("L").resize((512, 256)).convert("I").point(lambda v: v * 257).convert("I;16")
    result = render(encode(gray, "PNG"), R, Limits())
    with Image.open(io.BytesIO(result.renditions[0].data)) as im:
        values = list(im.convert("L").tobytes())
    mean = sum(values) / len(values)
    assert 90 < mean < 170, f"mean {mean}: 16-bit values were clipped"


def test_animated_gif_gives_first_frame_as_png() -> None:
    frames = [Image.new("RGB", (300, 200), c).convert("P") for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    result = render(buf.getvalue(), R, Limits())
    assert result.source.animated and result.source.format == "GIF"
    r = result.renditions[0]
    assert (r.format, r.content_type, r.width, r.height) == ("PNG", "image/png", 300, 200)
    with Image.open(io.BytesIO(r.data)) as im:
        assert im.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("fmt", "mode", "want"),
    [("WEBP", "RGB", "WEBP"), ("TIFF", "RGB", "JPEG"), ("TIFF", "RGBA", "PNG"), ("BMP", "RGB", "JPEG")],
)
def test_output_format_follows_the_bytes(fmt: str, mode: str, want: str) -> None:
    img = Image.new(mode, (640, 480), (10, 200, 10, 255)[: len(mode)])
    result = render(encode(img, fmt), R, Limits())
    assert {r.format for r in result.renditions} == {want, "WEBP", "AVIF"}
    for r in result.renditions:
        with Image.open(io.BytesIO(r.data)) as im:
            assert im.format == r.format  # the bytes are what the rendition says
    assert result.renditions[0].format == want  # the fallback comes first


def test_very_wide_image() -> None:
    assert sizes(encode(Image.new("RGB", (10000, 10)), "PNG")) == {
        "large": (800, 1),
        "medium": (400, 1),
        "thumb": (150, 1),
    }


def test_one_pixel_image_is_not_upscaled() -> None:
    assert sizes(encode(Image.new("RGB", (1, 1)), "PNG")) == {"large": (1, 1), "medium": (1, 1), "thumb": (1, 1)}


@pytest.mark.parametrize(("w", "h"), [(65000, 65000), (9000, 9000)])
def test_pixel_limit_is_checked_from_the_header(w: int, h: int) -> None:
    # A header claiming more pixels than allowed is refused before any decode (the body is only 8x8).
    with pytest.raises(ImageError) as e:
        render(jpeg_claiming(w, h), R, Limits(max_pixels=50_000_000))
    assert e.value.code == "too_many_pixels"


def test_png_bomb_header_is_refused() -> None:
    with pytest.raises(ImageError) as e:
        inspect(png_claiming(100000, 100000), Limits())
    assert e.value.code == "too_many_pixels"


def test_byte_limit() -> None:
    with pytest.raises(ImageError) as e:
        render(encode(Image.new("RGB", (100, 100)), "PNG"), R, Limits(max_bytes=100))
    assert e.value.code == "too_large"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"hello, I am text with a .jpg name", "unsupported_format"),
        (b"<html><body>not a png</body></html>", "unsupported_format"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "unsupported_format"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "unsupported_format"),
    ],
)
def test_bad_input_fails_with_a_reason(data: bytes, code: str) -> None:
    with pytest.raises(ImageError) as e:
        render(data, R, Limits())
    assert e.value.code == code and str(e.value)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_fail_as_corrupt(fmt: str) -> None:
    data = encode(marked(800, 600), fmt)
    with pytest.raises(ImageError) as e:
        render(data[: len(data) // 2], R, Limits())
    assert e.value.code == "corrupt"


def test_output_format_of_unknown_alpha_source() -> None:
    _, info = inspect(encode(Image.new("RGBA", (10, 10)), "TIFF"), Limits())
    assert output_format(info) == "PNG"


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA"])
def test_every_size_is_written_in_its_fallback_then_webp_then_avif_with_the_same_pixels(mode: str) -> None:
    # GIVEN a source marked red in its top-left corner, in any mode a rendition can have
    src = marked(1600, 1200).convert(mode)
    data = encode(src, "PNG" if "A" in mode else "JPEG")
    result = render(data, R, Limits())
    fallback = "PNG" if "A" in mode else "JPEG"
    # THEN each size comes as the fallback, WebP and AVIF, each of the recorded size, type and (for colour) mark
    assert [(r.name, r.format) for r in result.renditions] == [
        (name, fmt) for name in ("large", "medium", "thumb") for fmt in (fallback, "WEBP", "AVIF")
    ]
    for r in result.renditions:
        with Image.open(io.BytesIO(r.data)) as im:
            assert (im.format, im.size) == (r.format, (r.width, r.height))
            assert r.content_type == Image.MIME[r.format] or r.content_type == "image/avif"
        if mode.startswith("RGB"):
            assert red_top_left(r.data), (r.name, r.format)
    assert all(r.extension == {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "AVIF": ".avif"}[r.format]
               for r in result.renditions)  # fmt: skip


def test_formats_setting_chooses_the_variants_and_keeps_the_fallback() -> None:
    from pipeline.settings import parse_formats

    assert parse_formats("fallback,webp,avif") == ("WEBP", "AVIF")
    assert parse_formats(" fallback , AVIF ") == ("AVIF",)
    assert parse_formats("fallback") == ()
    with pytest.raises(ValueError, match="must include fallback"):
        parse_formats("webp,avif")
    with pytest.raises(ValueError, match="unknown jxl"):
        parse_formats("fallback,jxl")
    only_avif = render(encode(marked(400, 300), "JPEG"), R, Limits(variants=("AVIF",)))
    assert [r.format for r in only_avif.renditions] == ["JPEG", "AVIF"] * 3


UPRIGHT_FOR = {1: None, 3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
@pytest.mark.parametrize("orientation", sorted(UPRIGHT_FOR))
def test_heic_and_avif_uploads_are_rendered_upright_like_jpeg(fmt: str, orientation: int) -> None:
    # GIVEN an iPhone-style HEIC (or an AVIF) stored turned, with the orientation that shows it upright
    upright = marked(1600, 1200)
    turn = UPRIGHT_FOR[orientation]
    stored = upright.transpose(turn) if turn else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, fmt, exif=exif.tobytes(), quality=80)
    result = render(data, R, Limits())
    # THEN it is accepted by its bytes, its size is the upright one, and every rendition is upright
    assert result.source.format == fmt and (result.source.width, result.source.height) == (1600, 1200)
    assert [r.format for r in result.renditions[:3]] == ["JPEG", "WEBP", "AVIF"]  # JPEG is the fallback
    assert all(red_top_left(r.data) for r in result.renditions), fmt
    assert [(r.width, r.height) for r in result.renditions if r.format == "JPEG"] == [
        (800, 600),
        (400, 300),
        (150, 113),
    ]


def test_a_transparent_heic_keeps_its_alpha_in_a_png_fallback() -> None:
    img = Image.new("RGBA", (400, 300), (255, 0, 0, 0))
    img.paste((0, 0, 255, 255), (100, 100, 300, 200))
    result = render(encode(img, "HEIF", quality=90), R, Limits(variants=()))
    first = result.renditions[0]
    assert first.format == "PNG"
    with Image.open(io.BytesIO(first.data)) as im:
        assert im.mode == "RGBA" and im.getpixel((5, 5))[3] < 10 and im.getpixel((200, 150))[3] > 245  # type: ignore[index]


def test_heic_and_avif_limits_hold_before_decoding() -> None:
    data = encode(Image.new("RGB", (3000, 2000), (9, 9, 9)), "HEIF", quality=50)
    with pytest.raises(ImageError) as e:
        render(data, R, Limits(max_pixels=5_000_000))
    assert e.value.code == "too_many_pixels"
    with pytest.raises(ImageError) as e:
        render(encode(Image.new("RGB", (3000, 2000), (9, 9, 9)), "AVIF"), R, Limits(max_work_bytes=10 << 20))
    assert e.value.code == "too_much_memory"
