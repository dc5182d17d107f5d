"""Placeholders and identity: the BlurHash looks like the picture, the dominant colour is its colour, the dHash
stays put under re-encoding and resizing and moves for another picture, and nothing about it can fail an image."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from pipeline.domain import hamming, is_flat
from pipeline.imaging import Limits, dhash, identify, placeholder_png, render
from pipeline.settings import DEFAULT_RENDITIONS, parse_renditions
from tests.images import encode, marked

R = parse_renditions(DEFAULT_RENDITIONS)


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture with structure: shapes of several colours on a gradient, different for each seed."""
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(img)
    for i in range(6):
        x, y = (seed * 97 + i * 131) % size[0], (seed * 53 + i * 71) % size[1]
        draw.ellipse((x, y, x + 120, y + 90), fill=((seed * 40 + i * 50) % 256, (i * 90) % 256, (seed * 7) % 256))
    return img


def test_the_placeholder_decodes_to_the_pictures_colours() -> None:
    # GIVEN a picture red on the left half and blue on the right
    img = Image.new("RGB", (400, 300), (220, 20, 20))
    img.paste((20, 20, 220), (200, 0, 400, 300))
    ident = identify(img)
    # THEN its BlurHash decodes to a small picture red on the left and blue on the right
    with Image.open(io.BytesIO(placeholder_png(ident.blurhash))) as ph:
        rgb = ph.convert("RGB")
        w, h = rgb.size
        left, right = rgb.getpixel((w // 6, h // 2)), rgb.getpixel((w - 1 - w // 6, h // 2))
    assert isinstance(left, tuple) and isinstance(right, tuple)
    assert left[0] > 150 > left[2] and right[2] > 150 > right[0], (left, right)
    assert len(ident.blurhash) <= 30  # a few bytes on the item and in the message


def test_the_dominant_colour_is_the_most_common_one_not_the_average() -> None:
    img = Image.new("RGB", (300, 300), (30, 160, 40))  # mostly green...
    img.paste((250, 250, 250), (0, 0, 300, 90))  # ...with a white band: the average would be a pale green
    r, g, b = (int(identify(img).dominant_color[i : i + 2], 16) for i in (1, 3, 5))
    assert g > 130 and r < 70 and b < 70


def test_the_dhash_survives_reencoding_and_resizing_and_tells_pictures_apart() -> None:
    a, b = scene(1), scene(2)
    again = Image.open(io.BytesIO(encode(a.resize((320, 240)), "JPEG", quality=60))).convert("RGB")
    assert hamming(dhash(a), dhash(again)) <= 4
    assert hamming(dhash(a), dhash(b)) > 10
    assert not is_flat(dhash(a)) and is_flat(dhash(Image.new("RGB", (64, 64), (90, 90, 90))))


def test_render_gives_the_identity_of_the_upright_picture() -> None:
    # GIVEN the same picture as a JPEG and as a PNG THEN both renders give the same hash and a placeholder
    jpeg, png = encode(marked(800, 600), "JPEG"), encode(marked(800, 600), "PNG")
    a, b = render(jpeg, R, Limits(variants=())).identity, render(png, R, Limits(variants=())).identity
    assert hamming(a.phash, b.phash) <= 2 and a.blurhash and b.dominant_color.startswith("#")


MODES = st.sampled_from(["RGB", "RGBA", "L", "LA", "P", "1", "I;16"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mode=MODES, w=st.integers(1, 90), h=st.integers(1, 90), seed=st.integers(0, 2**16), alpha=st.integers(0, 255))
def test_identity_never_fails_an_image(mode: str, w: int, h: int, seed: int, alpha: int) -> None:
    """Any picture the core can render has an identity (the first placeholder library failed every transparent one)."""
    base = scene(seed, (max(w, 2), max(h, 2))).resize((w, h))
    if "A" in mode:
        base = base.convert("RGBA")
        base.putalpha(alpha)
    img = base.convert(mode)
    ident = identify(img.convert("RGBA") if mode in ("P", "1", "I;16") else img)
    assert len(ident.phash) == 16 and ident.dominant_color.startswith("#") and ident.blurhash
    assert placeholder_png(ident.blurhash)[:8] == b"\x89PNG\r\n\x1a\n"


def test_similar_lists_the_close_ones_closest_first_and_flat_pictures_only_exactly() -> None:
    from pipeline.domain import ImageRecord, Kind, Status, Version
    from pipeline.ops.similar import similar

    def rec(key: str, phash: str) -> ImageRecord:
        return ImageRecord(key, "in", Status.PROCESSED, Version(Kind.CREATED, "", "e", ""), phash=phash)

    target = rec("uploads/a", "f0f0f0f0f0f0f0f0")
    others = [
        rec("uploads/b", "f0f0f0f0f0f0f0f1"),
        rec("uploads/c", "0f0f0f0f0f0f0f0f"),
        rec("uploads/d", "f0f0f0f0f0f0f0ff"),
    ]
    assert similar(target, [target, *others], 12) == [(1, "uploads/b"), (4, "uploads/d")]
    flat = rec("uploads/blank", "0000000000000000")
    assert similar(flat, [rec("uploads/blank2", "0000000000000000"), rec("uploads/x", "0000000000000001")], 12) == [
        (0, "uploads/blank2")
    ]
