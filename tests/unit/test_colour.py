"""Colour: a source tagged with a wide-gamut profile is converted to sRGB, checked against the colour science
(published primaries and transfer functions, adapted with Bradford), not against the library that converts.

Profiles: tests/data/profiles (Adobe RGB and ProPhoto from Debian colord-data, CC0; Display P3 built by the
committed make_display_p3.py). Renditions carry no profile: untagged means sRGB, so reading a rendition's pixels as
they are is reading them through its own profile.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from pipeline.imaging import Limits, render
from pipeline.settings import DEFAULT_RENDITIONS, parse_renditions
from tests.images import encode

PROFILES = Path(__file__).resolve().parents[1] / "data" / "profiles"
R = parse_renditions(DEFAULT_RENDITIONS)
Matrix = list[list[float]]

ADOBE_TO_XYZ_D65: Matrix = [
    [0.5767309, 0.1855540, 0.1881852],
    [0.2973769, 0.6273491, 0.0752741],
    [0.0270343, 0.0706872, 0.9911085],
]
PROPHOTO_TO_XYZ_D50: Matrix = [
    [0.7976749, 0.1351917, 0.0313534],
    [0.2880402, 0.7118741, 0.0000857],
    [0.0, 0.0, 0.8252100],
]
# Display P3's published RGB-to-XYZ (D65): the profile is built from the primaries by a script, checked against this.
P3_TO_XYZ_D65: Matrix = [
    [0.4865709, 0.2656677, 0.1982173],
    [0.2289746, 0.6917385, 0.0792869],
    [0.0, 0.0451134, 1.0439444],
]
BRADFORD_D50_TO_D65: Matrix = [
    [0.9555766, -0.0230393, 0.0631636],
    [-0.0282895, 1.0099416, 0.0210077],
    [0.0122982, -0.0204830, 1.3299098],
]
XYZ_D65_TO_SRGB: Matrix = [
    [3.2404542, -1.5371385, -0.4985314],
    [-0.9692660, 1.8760108, 0.0415560],
    [0.0556434, -0.2040259, 1.0572252],
]
# 8-bit rounding on both sides of the conversion (1), lcms's D50 connection space against these D65 matrices (1),
# JPEG q95 on a flat patch (1 to 2): four levels of 255.
BOUND = 4


def mul(m: Matrix, v: list[float]) -> list[float]:
    return [sum(a * b for a, b in zip(row, v, strict=True)) for row in m]


def adobe_linear(c: float) -> float:
    return float(c ** (563 / 256))


def prophoto_linear(c: float) -> float:
    return c / 16 if c < 1 / 32 else float(c**1.8)


def srgb_linear(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else float(((c + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: float) -> float:
    return 12.92 * v if v <= 0.0031308 else float(1.055 * v ** (1 / 2.4) - 0.055)


def expected_srgb(rgb: tuple[float, ...], space: str) -> tuple[int, int, int]:
    """What a colour in the space is in sRGB, from the published definitions."""
    c = [v / 255 for v in rgb]
    if space == "AdobeRGB1998":
        xyz = mul(ADOBE_TO_XYZ_D65, [adobe_linear(v) for v in c])
    elif space == "DisplayP3":
        xyz = mul(P3_TO_XYZ_D65, [srgb_linear(v) for v in c])
    else:
        xyz = mul(BRADFORD_D50_TO_D65, mul(PROPHOTO_TO_XYZ_D50, [prophoto_linear(v) for v in c]))
    lin = mul(XYZ_D65_TO_SRGB, xyz)
    assert all(-0.001 <= v <= 1.001 for v in lin), f"{rgb} in {space} is outside sRGB: pick another patch"
    r, g, b = (round(255 * srgb_encode(min(max(v, 0.0), 1.0))) for v in lin)
    return r, g, b


PATCHES = [(100, 150, 110), (180, 110, 90), (110, 120, 170), (150, 140, 90)]  # inside sRGB from both spaces


@pytest.mark.parametrize("space", ["AdobeRGB1998", "ProPhotoRGB", "DisplayP3"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_wide_gamut_source_becomes_the_same_colours_in_srgb(space: str, fmt: str) -> None:
    # GIVEN four flat patches tagged with the profile of a wide-gamut space
    src = Image.new("RGB", (600, 400))
    for i, colour in enumerate(PATCHES):
        src.paste(colour, (i * 150, 0, (i + 1) * 150, 400))
    icc = (PROFILES / f"{space}.icc").read_bytes()
    params = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}
    data = encode(src, fmt, icc_profile=icc, **params)
    # The source's own colours, as stored (a JPEG is off by a level or two, which a wide gamut magnifies), in sRGB
    with Image.open(io.BytesIO(data)) as stored:
        held = stored.convert("RGB")
        centres = [held.getpixel((i * 150 + 75, 200)) for i in range(len(PATCHES))]
    want = [expected_srgb(c, space) for c in centres if isinstance(c, tuple)]
    # (the test has teeth: read as if untagged, the patches would be this far off)
    assert max(abs(a - b) for c, w in zip(PATCHES, want, strict=True) for a, b in zip(c, w, strict=True)) > 15
    # WHEN rendered THEN every rendition, in every format, shows each patch's sRGB colour within the bound
    for r in render(data, R, Limits()).renditions:
        with Image.open(io.BytesIO(r.data)) as im:
            assert "icc_profile" not in im.info
            rgb = im.convert("RGB")
            for i, w in enumerate(want):
                got = rgb.getpixel((int((i + 0.5) * r.width / 4), r.height // 2))
                assert isinstance(got, tuple)
                off = max(abs(a - b) for a, b in zip(got, w, strict=True))
                assert off <= BOUND, f"{space} {fmt} -> {r.name} {r.format}: patch {PATCHES[i]} is {got}, want {w}"


def test_the_display_p3_profile_is_what_its_committed_script_builds() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_display_p3", PROFILES / "make_display_p3.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == (PROFILES / "DisplayP3.icc").read_bytes()
