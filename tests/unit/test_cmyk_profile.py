"""CMYK without a profile (issue 23's decision): Pillow's own conversion by default; an operator's CMYK profile
(CMYK_PROFILE: a file or s3://bucket/key) when one is named. No profile ships with us."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from pipeline import wiring
from pipeline.aws import make_clients
from pipeline.errors import ConfigurationError, TransientError
from pipeline.imaging import Limits, cmyk_profile_error, render
from pipeline.process import Processor
from pipeline.settings import DEFAULT_RENDITIONS, Settings, parse_renditions
from tests.crafted import cmyk_profile, srgb_profile
from tests.images import encode

R = parse_renditions(DEFAULT_RENDITIONS)
INK = (0, 200, 200, 0)  # a red, in ink
SRGB = ImageCms.createProfile("sRGB")


def _large_colour(data: bytes, limits: Limits) -> tuple[int, int, int]:
    large = render(data, R, limits).renditions[0]
    with Image.open(io.BytesIO(large.data)) as im:
        return im.convert("RGB").getpixel((10, 10))  # type: ignore[return-value]


def _near(a: tuple[int, ...], b: tuple[int, ...], by: int = 4) -> bool:
    return all(abs(x - y) <= by for x, y in zip(a, b, strict=True))


def _must_not_be_asked() -> bytes | None:
    raise AssertionError("the operator's profile was read for a source that does not need it")


def test_a_cmyk_jpeg_without_a_profile_uses_the_operators() -> None:
    # GIVEN a CMYK JPEG with no profile, and an operator's CMYK profile
    source = encode(Image.new("CMYK", (900, 600), INK), "JPEG", quality=95)
    profile = cmyk_profile()
    want = ImageCms.profileToProfile(
        Image.new("CMYK", (1, 1), INK), ImageCms.ImageCmsProfile(io.BytesIO(profile)), SRGB, outputMode="RGB"
    )
    assert want is not None
    # THEN its renditions are that profile's colour, not Pillow's own conversion
    got = _large_colour(source, Limits(variants=(), cmyk_profile=lambda: profile))
    assert _near(got, want.getpixel((0, 0))), (got, want.getpixel((0, 0)))  # type: ignore[arg-type]
    naive = _large_colour(source, Limits(variants=()))
    assert not _near(got, naive, by=20), (got, naive)


def test_a_cmyk_jpeg_with_its_own_profile_keeps_it_and_an_rgb_one_never_asks() -> None:
    own = cmyk_profile(warmth=0.5)
    tagged = encode(Image.new("CMYK", (300, 200), INK), "JPEG", quality=95, icc_profile=own)
    rgb = encode(Image.new("RGB", (300, 200), (200, 30, 30)), "JPEG")
    for data in (tagged, rgb):
        render(data, R, Limits(variants=(), cmyk_profile=_must_not_be_asked))


def test_what_is_not_a_cmyk_profile_says_so() -> None:
    assert cmyk_profile_error(cmyk_profile()) == ""
    assert "RGB" in cmyk_profile_error(srgb_profile())
    assert cmyk_profile_error(b"not a profile").startswith("not an ICC profile")


def _loader(where: str) -> wiring.ProfileLoader:
    settings = Settings.from_env({"CMYK_PROFILE": where, "AWS_REGION": "us-east-1"})
    return wiring.cmyk_profile(settings, make_clients(settings))


def test_the_setting_names_a_file_read_once(tmp_path: Path) -> None:
    path = tmp_path / "press.icc"
    path.write_bytes(cmyk_profile())
    load = _loader(str(path))
    assert load() == cmyk_profile()
    path.unlink()
    assert load() == cmyk_profile()  # read once, at first need
    assert _loader("")() is None


@pytest.mark.parametrize("bad", ["missing", "rgb"])
def test_a_setting_that_does_not_work_is_a_configuration_error_retried_to_the_dlq(tmp_path: Path, bad: str) -> None:
    # A wrong CMYK_PROFILE is not the image's fault: retried (TransientError), then the DLQ and its alarm
    path = tmp_path / "press.icc"
    if bad == "rgb":
        path.write_bytes(srgb_profile())
    with pytest.raises(ConfigurationError) as e:
        _loader(str(path))()
    assert isinstance(e.value, TransientError) and e.value.code == "configuration"
    assert str(e.value).startswith(f"CMYK_PROFILE={path}") and "redrive" in str(e.value)


def test_a_profile_that_does_not_work_retries_the_cmyk_image_and_leaves_the_others_alone() -> None:
    from tests.fakes import FakePublisher, FakeStore, memory_records
    from tests.unit.test_process import IN, SETTINGS, Clock, obj, ref

    def broken() -> bytes | None:
        raise ConfigurationError("CMYK_PROFILE=/opt/press.icc cannot be read (gone): fix it, then redrive the DLQ")

    with memory_records(SETTINGS) as records:
        store = FakeStore()
        p = Processor(SETTINGS, store, records, FakePublisher(), Clock(), cmyk_profile=broken)
        obj(store, "uploads/a/cmyk.jpg", encode(Image.new("CMYK", (300, 200), INK), "JPEG"))
        obj(store, "uploads/a/rgb.jpg", encode(Image.new("RGB", (300, 200), (200, 30, 30)), "JPEG"))
        # WHEN the CMYK one is processed THEN it is handed back for a retry (not failed for good), naming the setting
        with pytest.raises(TransientError) as e:
            p.process(ref("uploads/a/cmyk.jpg"), receive_count=3)
        assert e.value.code == "configuration" and "CMYK_PROFILE" in str(e.value)
        record = records.get("uploads/a/cmyk.jpg")
        assert record is None or record.status.value != "failed"
        # AND an RGB image never asks for the profile
        p.process(ref("uploads/a/rgb.jpg"), receive_count=1)
        assert (records.get("uploads/a/rgb.jpg") or pytest.fail("no record")).status.value == "processed"
        assert store.objects.keys() - {(IN, "uploads/a/cmyk.jpg"), (IN, "uploads/a/rgb.jpg")}
