"""Formats per size (RENDITIONS `thumb:150x150:webp`): each size is written in the formats it names, and no other."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pipeline.domain import Outcome
from pipeline.e2e import _formats_expected
from pipeline.events import VariantsJob
from pipeline.imaging import Limits, render
from pipeline.process import Processor
from pipeline.settings import Rendition, Settings, parse_renditions, resolve_formats
from tests.fakes import FakeJobQueue, FakePublisher, FakeStore, memory_records
from tests.images import encode, marked
from tests.unit.test_process import Clock, got, put, ref

# The cost table's choice (docs/performance.md): the fallback at the large size only, WebP everywhere, AVIF large.
CHEAP = "large:800x600:fallback+webp+avif,medium:400x300:webp,thumb:150x150:crop:webp"


def sizes_and_formats(renditions: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """Each size's formats, in the order written."""
    out: dict[str, list[str]] = {}
    for name, fmt in renditions:
        out.setdefault(name, []).append(fmt)
    return out


def test_a_size_names_its_own_formats_and_options_in_any_order() -> None:
    [thumb] = parse_renditions("thumb:150x150:webp")
    assert (thumb.fallback, thumb.variants, thumb.crop) == (False, ("WEBP",), False)
    [a] = parse_renditions("thumb:150x150:crop:fallback+avif")
    [b] = parse_renditions("thumb : 150x150 : avif+fallback : crop")
    assert a == b and (a.fallback, a.variants, a.crop) == (True, ("AVIF",), True)
    # A size that names none gets FORMATS (None until the settings resolve it)
    [plain] = parse_renditions("thumb:150x150")
    assert (plain.fallback, plain.variants) == (True, None)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("thumb:150x150:gif", "'gif' is not an option"),
        ("thumb:150x150:webp+gif", "'gif' is not an option"),
        ("thumb:150x150:webp:avif", "formats once each"),
        ("thumb:150x150:crop:crop", "formats once each"),
        ("thumb:150x150:+", "is not an option"),
        ("thumb:150x150,webp", "expected name:WIDTHxHEIGHT"),
    ],
)
def test_a_bad_size_option_is_refused_in_one_line_that_says_what_is_allowed(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as e:
        parse_renditions(spec)
    assert "\n" not in str(e.value)


def test_the_settings_give_formats_to_the_sizes_that_name_none_and_make_every_format_any_size_names() -> None:
    s = Settings.from_env({"RENDITIONS": "large:800x600,thumb:150x150:fallback+avif", "FORMATS": "fallback,webp"})
    large, thumb = s.imaging.renditions
    assert (large.fallback, large.variants) == (True, ("WEBP",))
    assert (thumb.fallback, thumb.variants) == (True, ("AVIF",))
    # AVIF is made (for the thumbnail), and deferred by default like any AVIF
    assert s.imaging.variants == ("WEBP", "AVIF") and s.imaging.deferred == ("AVIF",)
    # Without per-size formats nothing changes: FORMATS for every size
    default = Settings.from_env({})
    assert all(r.variants is None and r.fallback for r in default.imaging.renditions)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        # Every size without a fallback shows the largest's: it must have one
        ("large:800x600:webp,thumb:150x150", "the largest size, large, must keep the fallback"),
        # AVIF alone would leave the size empty until the deferred job, and an animation (no AVIF) with nothing
        ("large:800x600,thumb:150x150:avif", "thumb needs fallback or webp"),
    ],
)
def test_sizes_that_could_come_out_empty_are_refused(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Settings.from_env({"RENDITIONS": spec})


def test_a_photo_is_written_in_each_sizes_formats() -> None:
    s = Settings.from_env({"RENDITIONS": CHEAP, "DEFER_FORMATS": ""})
    data = encode(marked(1600, 1200), "JPEG", quality=90)
    out = render(data, s.imaging.renditions, Limits(variants=s.imaging.variants)).renditions
    assert sizes_and_formats([(r.name, r.format) for r in out]) == {
        "large": ["JPEG", "WEBP", "AVIF"],
        "medium": ["WEBP"],
        "thumb": ["WEBP"],
    }
    thumb = next(r for r in out if r.name == "thumb")
    assert (thumb.width, thumb.height) == (150, 150)  # the options combine: cropped, WebP only


def test_a_still_webp_keeps_webp_as_the_fallback_of_a_size_that_asks_only_for_the_fallback() -> None:
    renditions, variants = resolve_formats(parse_renditions("large:800x600,thumb:150x150:fallback"), ("WEBP", "AVIF"))
    out = render(encode(marked(1000, 750), "WEBP", quality=90), renditions, Limits(variants=variants)).renditions
    assert sizes_and_formats([(r.name, r.format) for r in out]) == {"large": ["WEBP", "AVIF"], "thumb": ["WEBP"]}


def test_an_animation_at_a_webp_only_size_is_that_animated_webp() -> None:
    frames = [Image.new("RGB", (320, 240), c) for c in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    renditions, variants = resolve_formats(parse_renditions(CHEAP), ("WEBP", "AVIF"))
    out = render(buf.getvalue(), renditions, Limits(variants=variants)).renditions
    # No AVIF for an animation; the thumbnail is the animation alone
    assert sizes_and_formats([(r.name, r.format) for r in out]) == {
        "large": ["PNG", "WEBP"],
        "medium": ["WEBP"],
        "thumb": ["WEBP"],
    }
    assert all(r.frames == 3 for r in out if r.format == "WEBP")


def test_the_deferred_avif_comes_to_the_sizes_that_ask_for_it_and_the_record_completes() -> None:
    s = Settings.from_env({"NAME_PREFIX": "unit", "ENVIRONMENT": "test", "RENDITIONS": CHEAP})
    assert s.imaging.deferred == ("AVIF",)
    store, jobs = FakeStore(), FakeJobQueue()
    with memory_records(s) as records:
        p = Processor(s, store, records, FakePublisher(), Clock(), variants_queue=jobs)
        key = "uploads/a/x.jpg"
        put(store, key)
        assert p.process(ref(key)) is Outcome.PROCESSED
        item = got(records, key)
        in_line = sizes_and_formats([(r.name, r.format) for r in item.renditions])
        assert in_line == {"large": ["JPEG", "WEBP"], "medium": ["WEBP"], "thumb": ["WEBP"]}
        assert item.pending_formats(s.imaging.deferred) == ("AVIF",)
        job = VariantsJob.from_body(jobs.sent[-1][0])
        assert job is not None and p.add_variants(job) is Outcome.PROCESSED
        item = got(records, key)
        # THEN only the large size got an AVIF, and nothing more is awaited
        assert [(r.name, r.format) for r in item.renditions if r.format == "AVIF"] == [("large", "AVIF")]
        assert item.complete(s.imaging.deferred) and not item.pending_formats(s.imaging.deferred)
        # AND no AVIF was written for the other sizes
        assert not [k for (_, k) in store.objects if k.endswith(".avif") and not k.startswith("large")]


def test_no_size_asking_for_avif_means_no_avif_is_awaited() -> None:
    # Every size naming its formats without AVIF once left FORMATS' AVIF in the settings: deferred, a job sent for
    # it, and the record waiting for ever for an AVIF no size is written in.
    s = Settings.from_env(
        {"NAME_PREFIX": "unit", "RENDITIONS": "large:800x600:fallback+webp,medium:400x300:webp,thumb:150x150:webp"}
    )
    assert s.imaging.variants == ("WEBP",) and s.imaging.deferred == ()
    store, jobs = FakeStore(), FakeJobQueue()
    with memory_records(s) as records:
        p = Processor(s, store, records, FakePublisher(), Clock(), variants_queue=jobs)
        put(store, "uploads/a/x.jpg")
        assert p.process(ref("uploads/a/x.jpg")) is Outcome.PROCESSED
        item = got(records, "uploads/a/x.jpg")
        assert not jobs.sent and item.complete(s.imaging.deferred) and len(item.renditions) == 4


def test_the_e2e_check_expects_each_sizes_own_formats() -> None:
    renditions, variants = resolve_formats(parse_renditions(CHEAP), ("WEBP", "AVIF"))
    by_name = {r.name: r for r in renditions}
    photo = {"format": "JPEG"}
    assert _formats_expected(by_name["large"], photo, variants) == ["JPEG", "WEBP", "AVIF"]
    assert _formats_expected(by_name["thumb"], photo, variants) == ["WEBP"]
    assert _formats_expected(by_name["thumb"], {"format": "PNG", "frames": 3}, variants) == ["WEBP"]
    assert _formats_expected(Rendition("x", 1, 1), photo, variants) == ["JPEG", "WEBP", "AVIF"]


WORDS = st.lists(st.sampled_from(["fallback", "webp", "avif"]), min_size=1, max_size=3, unique=True)


@settings(max_examples=150, deadline=None)
@given(
    own=st.lists(st.one_of(st.none(), WORDS), min_size=1, max_size=3),
    crop=st.lists(st.booleans(), min_size=3, max_size=3),
    formats=st.sampled_from(["fallback", "fallback,webp", "fallback,avif", "fallback,webp,avif"]),
    source=st.sampled_from(["JPEG", "PNG", "WEBP"]),
)
def test_any_accepted_setting_writes_every_size_in_exactly_its_formats(
    own: list[list[str] | None], crop: list[bool], formats: str, source: str
) -> None:
    # The class: whatever RENDITIONS and FORMATS say, an accepted setting writes each size in its formats (the
    # e2e check's expectation too), the largest with its fallback first, and never a size with nothing.
    sizes = [("large", 80, 60), ("medium", 40, 30), ("thumb", 15, 15)][: len(own)]
    spec = ",".join(
        f"{n}:{w}x{h}" + (":crop" if c else "") + (f":{'+'.join(o)}" if o else "")
        for (n, w, h), o, c in zip(sizes, own, crop, strict=False)
    )
    try:
        s = Settings.from_env({"RENDITIONS": spec, "FORMATS": formats, "DEFER_FORMATS": ""})
    except ValueError as e:
        assert "RENDITIONS" in str(e)
        return
    # AND the settings make exactly the formats some size is written in: a format no size gets would be awaited
    # (deferred) for ever
    made = {v for r in s.imaging.renditions for v in r.formats("JPEG", s.imaging.variants) if v != "JPEG"}
    assert set(s.imaging.variants) == made
    img = marked(160, 120) if source != "PNG" else marked(160, 120).convert("RGBA")
    out = render(encode(img, source), s.imaging.renditions, Limits(variants=s.imaging.variants)).renditions
    fallback = out[0].format
    written = sizes_and_formats([(r.name, r.format) for r in out])
    for r in s.imaging.renditions:
        assert written[r.name] == _formats_expected(r, {"format": fallback}, s.imaging.variants)
    assert list(written) == [r.name for r in s.imaging.renditions] and out[0].name == "large"
