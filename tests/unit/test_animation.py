"""Animated GIF and WebP sources: animated WebP renditions within the frames x pixels budget, stills past it."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageSequence

from pipeline import imaging
from pipeline.errors import ImageError
from pipeline.imaging import FRAME_COST_PIXELS, Animation, Limits, RenderedImage, render
from pipeline.settings import DEFAULT_RENDITIONS, parse_renditions
from tests.images import encode

R = parse_renditions(DEFAULT_RENDITIONS)
COLOURS = ((220, 30, 30), (30, 200, 40), (40, 60, 220), (240, 220, 30))


def animation(
    fmt: str, size: tuple[int, int] = (1000, 500), frames: int = 4, alpha: bool = False, **kw: object
) -> bytes:
    """Frames of one flat colour each (a transparent border when alpha), 70 ms apart, looping twice."""
    imgs = []
    for i in range(frames):
        img = Image.new("RGBA", size, (*COLOURS[i % len(COLOURS)], 255))
        if alpha:
            img.paste((0, 0, 0, 0), (0, 0, size[0], size[1] // 10))
        imgs.append(img if fmt == "WEBP" or alpha else img.convert("RGB"))
    if fmt == "GIF":
        imgs = [i.convert("P", palette=Image.Palette.ADAPTIVE) for i in imgs]
    params: dict[str, object] = {"duration": 70, "loop": 2, **kw}
    if fmt == "WEBP":
        params["lossless"] = True
    return encode(imgs[0], fmt, save_all=True, append_images=imgs[1:], **params)


def frames_of(r: RenderedImage) -> list[tuple[tuple[int, int, int], int]]:
    """(colour at the centre, duration) of each frame of a rendition."""
    out = []
    with Image.open(io.BytesIO(r.data)) as im:
        assert (im.width, im.height) == (r.width, r.height)
        for frame in ImageSequence.Iterator(im):
            px = frame.convert("RGB").getpixel((r.width // 2, r.height // 2))
            assert isinstance(px, tuple)
            out.append(((px[0], px[1], px[2]), int(frame.info.get("duration", 0))))
    return out


def close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 12) -> bool:
    """Colours within tol levels per channel (lossy WebP moves flat colours by a few levels)."""
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_an_animation_becomes_animated_webp_with_a_still_fallback(fmt: str) -> None:
    # GIVEN a four-frame animation, 1000x500
    result = render(animation(fmt), R, Limits())
    assert result.source.animated and result.animation is Animation.KEPT
    # THEN every size has an animated WebP: every frame, in order, with its duration
    webps = [r for r in result.renditions if r.format == "WEBP"]
    assert [(r.name, r.width, r.height, r.frames) for r in webps] == [
        ("large", 800, 400, 4),
        ("medium", 400, 200, 4),
        ("thumb", 150, 75, 4),
    ]
    for r in webps:
        got = frames_of(r)
        assert all(close(c, want) for (c, _), want in zip(got, COLOURS, strict=True)), got
        assert [ms for _, ms in got] == [70] * 4
        with Image.open(io.BytesIO(r.data)) as im:
            # WebP counts plays; a GIF's loop 2 is two repetitions after the first play (as Chromium plays it)
            assert im.info.get("loop") == (3 if fmt == "GIF" else 2)
    # AND the fallback is a still of the first frame every browser shows, and no AVIF (a browser picks AVIF
    # before WebP, and its still would hide the animation)
    fallback = [r for r in result.renditions if r.format not in ("WEBP",)]
    assert {r.format for r in fallback} == {"PNG" if fmt == "GIF" else "JPEG"}
    assert all(r.frames == 1 and close(frames_of(r)[0][0], COLOURS[0]) for r in fallback)


def test_an_animated_webp_with_alpha_falls_back_to_png_and_keeps_its_transparency() -> None:
    # (at 300x150: libwebp's animation encoder drops the alpha flag of larger frames like these, a test-data quirk)
    result = render(animation("WEBP", size=(300, 150), alpha=True), R, Limits())
    large = {r.format: r for r in result.renditions if r.name == "large"}
    assert set(large) == {"PNG", "WEBP"} and large["WEBP"].frames == 4
    for r in large.values():
        with Image.open(io.BytesIO(r.data)) as im:
            assert im.convert("RGBA").getpixel((r.width // 2, 2)) == (0, 0, 0, 0)


def test_past_the_decode_budget_the_renditions_are_stills_and_say_so() -> None:
    # GIVEN 4 frames of 0.5 MP: 2 MP to decode, against a budget of 1.5 MP
    result = render(animation("GIF"), R, Limits(animation_decode_pixels=1_500_000))
    # THEN every rendition is a still of the first frame, in every format, and the result says why
    assert result.animation is Animation.OVER_BUDGET
    assert {r.format for r in result.renditions} == {"PNG", "WEBP", "AVIF"}
    assert all(r.frames == 1 and close(frames_of(r)[0][0], COLOURS[0]) for r in result.renditions)
    # AND just inside the budget (each frame's pixels and its fixed cost) it animates
    inside = Limits(animation_decode_pixels=4 * (500_000 + FRAME_COST_PIXELS))
    assert render(animation("GIF"), R, inside).animation is Animation.KEPT


def test_past_the_memory_budget_the_renditions_are_stills() -> None:
    # GIVEN 40 frames: held at every size they need 40 x 4 x (800x400 + 400x200 + 150x75) bytes, about 66 MB
    data = animation("GIF", frames=40)
    assert render(data, R, Limits(max_work_bytes=60 << 20)).animation is Animation.OVER_BUDGET
    assert render(data, R, Limits(max_work_bytes=70 << 20)).animation is Animation.KEPT


def test_without_webp_in_the_formats_an_animation_is_a_still_and_says_why() -> None:
    result = render(animation("GIF"), R, Limits(variants=("AVIF",)))
    assert result.animation is Animation.NO_FORMAT
    assert {(r.format, r.frames) for r in result.renditions} == {("PNG", 1), ("AVIF", 1)}


def test_frames_shorter_than_browsers_allow_play_at_their_speed() -> None:
    # GIF frames of 0 and 10 ms play at 100 ms in every browser: the WebP must not race through them
    data = animation("GIF", duration=[0, 10, 20, 500])
    webp = next(r for r in render(data, R, Limits()).renditions if r.format == "WEBP")
    assert [ms for _, ms in frames_of(webp)] == [100, 100, 20, 500]


def test_a_still_source_says_nothing_about_animation() -> None:
    result = render(encode(Image.new("RGB", (300, 200), COLOURS[0]), "GIF"), R, Limits())
    assert result.animation is Animation.NONE and all(r.frames == 1 for r in result.renditions)


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=100_000))
def test_an_animation_cut_anywhere_is_a_clean_outcome(cut: int) -> None:
    # GIVEN an animation cut short at any byte
    data = animation("GIF", size=(200, 100), frames=6)
    data = data[: cut % len(data)]
    # THEN it is refused as an ImageError, or rendered: animated with no more frames than it had, or as stills
    # that say the animation was damaged
    try:
        result = render(data, R, Limits())
    except ImageError:
        return
    frames = {r.frames for r in result.renditions}
    assert result.animation in (Animation.NONE, Animation.KEPT, Animation.DAMAGED)
    assert frames == {1} or (result.animation is Animation.KEPT and max(frames) <= 6)


def test_an_animation_is_encoded_at_webps_quality_at_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the encoder's calls watched: the quality each animated WebP is asked for, by its size
    asked: dict[tuple[int, int], list[object]] = {}
    save = Image.Image.save

    def watched(self: Image.Image, fp: object, format: str | None = None, **params: object) -> None:
        if params.get("save_all") and format == "WEBP":
            asked.setdefault(self.size, []).append(params.get("quality"))
        save(self, fp, format, **params)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "save", watched)
    # WHEN an animated GIF is rendered
    result = render(animation("GIF", size=(1000, 500)), R, Limits())
    assert result.animation is Animation.KEPT
    # THEN each size's animation is written at WebP's quality, the thumbnail's too: at a still thumbnail's lower one
    # the animation encoder fell short of sharp's quality (SSIM 0.971 against 0.977, bench/peers.py's GIF)
    assert asked[(800, 400)][0] == imaging.WEBP_QUALITY
    assert asked[(150, 75)][0] == imaging.WEBP_QUALITY > imaging.WEBP_QUALITY_SMALL


def test_an_animation_is_no_bigger_than_a_small_source() -> None:
    # GIVEN a small GIF of busy pixel-art frames, which GIF's LZW holds in few bytes and lossy WebP does not
    frames = []
    for i in range(6):
        img = Image.effect_noise((300, 300), 90 + 10 * i).point(lambda v: 255 if v > 128 else 0).convert("RGB")
        frames.append(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=2))
    source = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = render(source, R, Limits())
    assert result.animation is Animation.KEPT
    # THEN no animated rendition is bigger than the whole source
    webps = [r for r in result.renditions if r.format == "WEBP"]
    assert webps and all(r.frames == 6 for r in webps)
    assert [(r.name, len(r.data)) for r in webps if len(r.data) > len(source)] == []
