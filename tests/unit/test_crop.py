"""A rendition with `:crop` fills its box exactly and keeps the subject, wherever in the picture it is."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from pipeline.imaging import Limits, crop_box, render
from pipeline.settings import DEFAULT_RENDITIONS, parse_renditions
from tests.images import STORE_FOR_ORIENTATION, encode

CROPPED = parse_renditions("large:800x600,medium:400x300,thumb:150x150:crop")
STILL = Limits(variants=())


def scene(w: int, h: int, centre: tuple[int, int], radius: int, mode: str = "RGB") -> Image.Image:
    """A flat grey-blue picture with one textured red disc (the subject) at centre."""
    background = (120, 140, 160, 255 if mode == "RGB" else 0)
    img = Image.new("RGBA", (w, h), background)
    grain = Image.effect_noise((2 * radius, 2 * radius), 80)
    disc = Image.merge(
        "RGB", (grain.point(lambda v: 150 + v // 3), grain.point(lambda v: v // 4), grain.point(lambda v: v // 5))
    )
    mask = Image.new("L", disc.size)
    ImageDraw.Draw(mask).ellipse((0, 0, 2 * radius - 1, 2 * radius - 1), fill=255)
    img.paste(disc.convert("RGBA"), (centre[0] - radius, centre[1] - radius), mask)
    return img.convert(mode)


def red_share(img: Image.Image) -> float:
    """The share of the picture that is the subject's red."""
    rgb = img.convert("RGB")
    r, g = rgb.getchannel("R").tobytes(), rgb.getchannel("G").tobytes()
    return sum(1 for a, b in zip(r, g, strict=True) if a > 140 and b < 90) / len(r)


def thumb_of(data: bytes) -> Image.Image:
    """The thumbnail's fallback, decoded."""
    thumb = next(r for r in render(data, CROPPED, STILL).renditions if r.name == "thumb")
    return Image.open(io.BytesIO(thumb.data))


@pytest.mark.parametrize(
    ("size", "centre", "radius"),
    [
        ((1200, 600), (1020, 300), 160),  # landscape, subject at the right edge
        ((1200, 600), (170, 420), 150),  # landscape, subject low on the left
        ((600, 1200), (300, 180), 150),  # portrait, subject at the top
        ((4032, 3024), (3500, 1500), 420),  # a phone photo, subject near the right
    ],
)
def test_the_square_thumbnail_keeps_an_off_centre_subject(
    size: tuple[int, int], centre: tuple[int, int], radius: int
) -> None:
    # GIVEN a picture whose subject is far from the centre
    data = encode(scene(*size, centre, radius), "JPEG", quality=90)
    # WHEN its thumbnail is cropped to a square
    thumb = thumb_of(data)
    # THEN it is exactly 150x150 and shows the whole subject, where a centre crop shows part of it or none
    assert thumb.size == (150, 150)
    w, h = size
    side = min(w, h)
    centred = scene(*size, centre, radius).crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
    whole = math.pi * radius**2 / side**2
    assert red_share(thumb) > 0.8 * whole
    assert red_share(thumb) > 1.5 * red_share(centred)


def test_a_flat_picture_is_cropped_in_the_middle() -> None:
    img = Image.new("RGB", (300, 150), (90, 90, 90))
    assert crop_box(img, 150, 150) == (75, 0, 225, 150)
    assert crop_box(img.rotate(90, expand=True), 150, 150) == (0, 75, 150, 225)


def test_transparency_counts_for_nothing() -> None:
    # GIVEN a cut-out: the subject opaque on the left, the rest transparent (but for its colour, busy)
    img = scene(900, 300, (150, 150), 120, mode="RGBA")
    noise = Image.effect_noise((600, 300), 90).convert("RGBA")
    noise.putalpha(0)
    img.paste(noise, (300, 0))
    thumb = thumb_of(encode(img, "PNG"))
    assert thumb.mode == "RGBA" and thumb.size == (150, 150)
    # THEN the window is on the subject, not on the invisible noise
    assert red_share(thumb) > 0.3


def test_the_crop_is_made_on_the_upright_picture() -> None:
    # GIVEN a camera JPEG stored sideways (orientation 6) whose upright picture has its subject at the right
    shown = scene(1200, 600, (1020, 300), 160)
    stored = shown
    for t in STORE_FOR_ORIENTATION[6]:
        stored = stored.transpose(t)
    exif = Image.Exif()
    exif[0x0112] = 6
    thumb = thumb_of(encode(stored, "JPEG", quality=90, exif=exif.tobytes()))
    assert thumb.size == (150, 150) and red_share(thumb) > 0.05


def test_the_other_sizes_are_untouched_by_a_crop() -> None:
    data = encode(scene(1200, 600, (1020, 300), 160), "JPEG", quality=90)
    plain = {(r.name, r.format): r.data for r in render(data, parse_renditions(DEFAULT_RENDITIONS), STILL).renditions}
    cropped = {(r.name, r.format): r.data for r in render(data, CROPPED, STILL).renditions}
    assert {k: v for k, v in cropped.items() if k[0] != "thumb"} == {k: v for k, v in plain.items() if k[0] != "thumb"}


def test_an_animation_is_cropped_frame_by_frame_by_the_same_window() -> None:
    # GIVEN an animated GIF whose subject sits at the right in every frame (and blinks)
    frames = [scene(600, 300, (500, 150), 80).convert("P", palette=Image.Palette.ADAPTIVE) for _ in range(3)]
    frames[1] = Image.new("RGB", (600, 300), (120, 140, 160)).convert("P")
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = render(data, CROPPED, Limits())
    [webp] = [r for r in result.renditions if r.name == "thumb" and r.format == "WEBP"]
    assert (webp.width, webp.height, webp.frames) == (150, 150, 3)
    with Image.open(io.BytesIO(webp.data)) as anim:
        assert anim.size == (150, 150)
        assert red_share(anim.convert("RGB")) > 0.2  # the first frame: the subject's window


def test_crop_is_the_only_option_of_a_rendition() -> None:
    assert parse_renditions("thumb:150x150:crop")[0].crop
    assert not parse_renditions("thumb:150x150")[0].crop
    with pytest.raises(ValueError, match="'zoom' is not an option"):
        parse_renditions("thumb:150x150:zoom")


@settings(max_examples=60, deadline=None)
@given(
    w=st.integers(1, 2400),
    h=st.integers(1, 2400),
    box_w=st.integers(1, 400),
    box_h=st.integers(1, 400),
    x=st.floats(0, 1),
    y=st.floats(0, 1),
)
def test_a_cropped_rendition_fills_its_box_or_keeps_its_aspect_never_upscaled(
    w: int, h: int, box_w: int, box_h: int, x: float, y: float
) -> None:
    # For any source and any box: the box exactly when the source covers it; otherwise the largest window of the
    # box's aspect inside the source (within a pixel's rounding), never more pixels than the source has.
    img = scene(max(w, 8), max(h, 8), (int(x * (max(w, 8) - 1)), int(y * (max(h, 8) - 1))), 4).resize((w, h))
    renditions = parse_renditions(f"large:800x600,box:{box_w}x{box_h}:crop")
    [out] = [r for r in render(encode(img, "PNG"), renditions, STILL).renditions if r.name == "box"]
    with Image.open(io.BytesIO(out.data)) as im:
        assert im.size == (out.width, out.height)
    if w >= box_w and h >= box_h:
        assert (out.width, out.height) == (box_w, box_h)
    else:
        assert out.width <= w and out.height <= h
        assert out.width == w or out.height == h
        assert abs(out.width * box_h - out.height * box_w) <= max(box_w, box_h)
