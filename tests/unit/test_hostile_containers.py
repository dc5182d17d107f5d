"""Containers that lie: budgets walked around by canvas growth, hidden images and frame counts; wrong pictures.

Each test names a defect that was found by building inputs from parts (tests/crafted.py); the fuzz suite
(test_fuzz_containers.py) draws such parts at random for the whole class.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageSequence

from pipeline.errors import ImageError
from pipeline.gif import frame_rects
from pipeline.imaging import Animation, Limits, RenderedImage, render
from pipeline.settings import DEFAULT_RENDITIONS, Settings, parse_renditions
from tests.crafted import (
    COLOURS,
    Frame,
    animated_webp,
    apng,
    avif_declaring,
    gif,
    heif,
    padded_profile,
    png_with_profile,
)
from tests.peak import peak_growth

R = parse_renditions(DEFAULT_RENDITIONS)
# The limits the function has at its default 512 MB (what Lambda would run with).
DEFAULT = Settings.from_env({})
LIMITS = Limits(
    max_work_bytes=DEFAULT.imaging.work_budget_bytes,
    variants=("WEBP", "AVIF"),
    animation_decode_pixels=DEFAULT.imaging.animation_decode_pixels,
)


def webp_of(result_renditions: tuple[RenderedImage, ...]) -> RenderedImage:
    """The largest WebP rendition."""
    return next(r for r in result_renditions if r.format == "WEBP")


def played(data: bytes) -> tuple[int, int | None, list[tuple[int, int, int]]]:
    """(frame count, loop count, centre colour of each frame) of an encoded animation, as a decoder plays it."""
    with Image.open(io.BytesIO(data)) as im:
        colours = []
        for frame in ImageSequence.Iterator(im):
            px = frame.convert("RGB").getpixel((frame.width // 2, frame.height // 2))
            assert isinstance(px, tuple)
            colours.append((px[0], px[1], px[2]))
        return int(getattr(im, "n_frames", 1)), im.info.get("loop"), colours


def near(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 16) -> bool:
    """Colours within tol levels per channel."""
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_a_gif_whose_later_frame_grows_the_canvas_stays_inside_the_budget() -> None:
    # GIVEN a 10x10 screen whose second frame is 12000x12000 (a 100 KB file: the header promises 100 pixels)
    data = gif((10, 10), [Frame(width=10, height=10), Frame(width=12000, height=12000, colour=1)])
    assert len(data) < 400_000
    limits = Limits(max_work_bytes=64 << 20, variants=("WEBP",))
    # WHEN it is rendered
    grew = peak_growth(lambda: render(data, R, limits))
    result = render(data, R, limits)
    # THEN memory stays near the budget (the old code grew the canvas and held about 1.8 GiB), and the picture is
    # what fits: a still of the first frame, saying why
    assert grew < limits.max_work_bytes * 1.5 + (32 << 20), f"peak grew {grew >> 20} MiB"
    assert result.animation is Animation.OVER_BUDGET
    assert (result.source.width, result.source.height) == (10, 10)


def test_gif_frames_partly_outside_the_screen_are_clipped_not_squeezed() -> None:
    # GIVEN a 40x40 screen: a red full frame, then a green 40x40 frame at (20, 20), three quarters outside
    data = gif((40, 40), [Frame(width=40, height=40, colour=0), Frame(x=20, y=20, width=40, height=40, colour=1)])
    # WHEN it is rendered
    result = render(data, R, LIMITS)
    # THEN the animation keeps the screen's size; in the second frame the top-left stays red and only the
    # bottom-right quarter is green (as a browser clips it), where squeezing the grown canvas moved everything
    webp = webp_of(result.renditions)
    assert (webp.width, webp.height) == (40, 40)
    with Image.open(io.BytesIO(webp.data)) as im:
        im.seek(1)
        frame = im.convert("RGB")
        assert near(frame.getpixel((5, 5)), COLOURS[0])  # type: ignore[arg-type]
        assert near(frame.getpixel((35, 35)), COLOURS[1])  # type: ignore[arg-type]
        assert near(frame.getpixel((35, 5)), COLOURS[0])  # type: ignore[arg-type]


@pytest.mark.parametrize("loop", [0, 3])
def test_the_loop_count_is_kept_when_no_resize_is_needed(loop: int) -> None:
    # GIVEN a small animation (no rendition needs a resize) that loops forever, or three times
    data = gif((60, 40), [Frame(width=60, height=40, colour=i) for i in range(3)], loop=loop)
    # WHEN it is rendered
    result = render(data, R, LIMITS)
    # THEN every animated WebP loops as the source does (the old code read the loop after the encoder emptied it):
    # forever, or four plays (a GIF counts repetitions after the first play, WebP counts plays)
    assert result.animation is Animation.KEPT
    for r in result.renditions:
        if r.format == "WEBP":
            assert played(r.data)[1] == (0 if loop == 0 else loop + 1)


def test_an_apng_default_image_is_not_a_frame_of_the_animation() -> None:
    # GIVEN an APNG whose default image (red) is not part of its three-frame animation (green, blue, yellow)
    data = apng((64, 48), 3, default_image=True)
    # WHEN it is rendered
    result = render(data, R, LIMITS)
    # THEN the animation plays the three frames from green, as browsers do, and the record counts three
    webp = webp_of(result.renditions)
    count, _, colours = played(webp.data)
    assert count == 3 == webp.frames
    assert near(colours[0], COLOURS[1]) and near(colours[2], COLOURS[3])


def test_the_recorded_frame_count_is_what_the_webp_holds() -> None:
    # GIVEN a GIF whose frames 2 and 3 repeat frame 1 (the WebP encoder merges frames that do not change)
    frames = [Frame(width=50, height=40, colour=c) for c in (0, 0, 0, 1)]
    result = render(gif((50, 40), frames), R, LIMITS)
    # THEN the rendition's frame count is the one a decoder finds in its bytes
    for r in result.renditions:
        if r.format == "WEBP":
            assert r.frames == played(r.data)[0]


def test_a_multi_image_heic_is_its_primary_image_not_a_slideshow() -> None:
    # GIVEN a HEIC with two images: a 64x48 red one, and the primary, a 96x64 blue one
    data = heif([(64, 48), (96, 64)], primary=1, colours=[0, 2])
    # WHEN it is rendered
    result = render(data, R, LIMITS)
    # THEN it is a still of the primary image in every format: no animation, the primary's size and colour
    assert not result.source.animated and result.animation is Animation.NONE
    assert (result.source.width, result.source.height) == (96, 64)
    for r in result.renditions:
        assert r.frames == 1
        with Image.open(io.BytesIO(r.data)) as im:
            assert getattr(im, "n_frames", 1) == 1
            assert near(im.convert("RGB").getpixel((10, 10)), COLOURS[2])  # type: ignore[arg-type]


def test_a_huge_second_image_in_a_heic_is_never_decoded() -> None:
    # GIVEN a small primary image and a 4000x3000 second image in one HEIC
    data = heif([(64, 48), (4000, 3000)], primary=0)
    # WHEN it is rendered
    grew = peak_growth(lambda: render(data, R, LIMITS))
    # THEN only the primary was decoded (4000x3000 RGB alone would be 48 MiB)
    assert grew < 24 << 20, f"peak grew {grew >> 20} MiB"


def test_an_animation_with_a_profile_costs_one_colour_transform_not_one_per_frame() -> None:
    # GIVEN 1,000 tiny frames with an Adobe-RGB-sized profile (the old code built a transform per frame and size)
    data = animated_webp((4, 4), 1000, icc=padded_profile(4000))
    # WHEN it is rendered
    started = time.monotonic()
    result = render(data, R, LIMITS)
    took = time.monotonic() - started
    # THEN it is animated and quick (6 s before; a bound far above what it takes, far below the old time)
    assert result.animation is Animation.KEPT
    assert took < 3.0, f"{took:.1f} s"


def test_an_animation_past_the_render_deadline_ends_a_still_in_bounded_time() -> None:
    # GIVEN 10,000 tiny frames (about 1.4 s to animate here) and a render deadline of a fifth of a second
    data = animated_webp((4, 4), 10_000)
    limits = Limits(variants=("WEBP",), render_seconds=0.2)
    # WHEN it is rendered
    started = time.monotonic()
    result = render(data, R, limits)
    took = time.monotonic() - started
    # THEN the deadline stopped the frames (stills of the first, saying why), not the clock running on
    assert result.animation is Animation.OVER_BUDGET
    assert took < 1.0, f"{took:.1f} s"


def test_frames_cost_something_even_when_they_are_tiny() -> None:
    # GIVEN 20,000 frames of 4 pixels (80,000 pixels in all: far under the decode budget by pixels alone)
    data = animated_webp((2, 2), 20_000)
    # WHEN it is rendered
    started = time.monotonic()
    result = render(data, R, LIMITS)
    # THEN the per-frame cost puts it over the budget before any frame is decoded
    assert result.animation is Animation.OVER_BUDGET
    assert time.monotonic() - started < 3.0


def test_a_valid_two_megabyte_profile_does_not_sink_a_good_png() -> None:
    # GIVEN a PNG with a valid 2 MB sRGB profile (Pillow refused iCCP chunks over 1 MB as corrupt)
    data = png_with_profile((64, 48), padded_profile(2_000_000))
    # WHEN it is rendered
    result = render(data, R, LIMITS)
    # THEN it is processed, in its colours
    with Image.open(io.BytesIO(result.renditions[0].data)) as im:
        assert near(im.convert("RGB").getpixel((5, 5)), COLOURS[0])  # type: ignore[arg-type]


def test_an_avif_declaring_too_many_pixels_says_so() -> None:
    # GIVEN an AVIF whose header claims 60000x60000 (libavif refuses to parse it at all)
    data = avif_declaring(60000, 60000)
    # WHEN it is rendered
    with pytest.raises(ImageError) as e:
        render(data, R, LIMITS)
    # THEN the reason is its size, not an unsupported format
    assert e.value.code == "too_many_pixels"
    assert "60000x60000" in e.value.reason


SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.mark.parametrize("name", ["phone-12mp.heic", "phone-24mp.avif"])
def test_real_size_phone_photos_are_accepted_at_512_mb_and_stay_inside_the_budget(name: str) -> None:
    # GIVEN a 12 MP HEIC (every iPhone's default) and a 24 MP AVIF, made as phones make them (HEIC in tiles)
    data = (SAMPLES / name).read_bytes()
    # WHEN each is rendered with the limits of a 512 MB function (the old estimate refused both)
    result = render(data, R, LIMITS)
    grew = peak_growth(lambda: render(data, R, LIMITS))
    # THEN every size is made, and what it really held is inside the budget the estimate planned for
    made = [(r.width, r.height) for r in result.renditions if r.format == "JPEG"]
    assert made == [(800, 600), (400, 300), (150, 113)]
    assert grew < LIMITS.max_work_bytes, f"peak grew {grew >> 20} MiB, budget {LIMITS.max_work_bytes >> 20} MiB"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(1, 200), st.integers(1, 200)),
        min_size=1,
        max_size=6,
    )
)
def test_gif_frame_rects_are_the_ones_pillow_decodes(rects: list[tuple[int, int, int, int]]) -> None:
    # GIVEN a GIF with frames anywhere, of any size (the budget reads their rectangles before any seek)
    frames = [Frame(x, y, w, h, i) for i, (x, y, w, h) in enumerate(rects)]
    data = gif((50, 40), frames)
    # THEN the block walk finds each frame's rectangle where Pillow's decoder puts it
    walked = list(frame_rects(data))
    assert walked == [(f.x, f.y, f.x + f.width, f.y + f.height) for f in frames]
    with Image.open(io.BytesIO(data)) as im:
        for index, rect in enumerate(walked):
            im.seek(index)
            assert getattr(im, "dispose_extent", None) == rect
    # AND a cut file ends the walk quietly, never past what the file holds
    for cut in (0, 5, 13, len(data) // 2, len(data) - 1):
        assert len(list(frame_rects(data[:cut]))) <= len(walked)
