"""Renditions carry pixels and at most an sRGB-compatible colour profile: every metadata carrier is checked.

Two checks per rendition: the secret written into the source appears nowhere in its bytes, and the container
holds only allow-listed parts (JPEG markers, PNG chunks, WebP chunks), so a carrier no test names is caught too.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import pytest
from PIL import Image, PngImagePlugin, TiffImagePlugin

from pipeline.imaging import Limits, render
from pipeline.settings import DEFAULT_RENDITIONS, parse_renditions
from tests.images import encode, marked

R = parse_renditions(DEFAULT_RENDITIONS)
SECRET = b"SECRET-51.5007N-0.1246W-SN123456"
JPEG_ALLOWED = {0xD8, 0xE0, 0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xDA, 0xDD, 0xD9}  # SOI APP0 DQT SOF DHT SOS DRI EOI
PNG_ALLOWED = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"iCCP", b"sRGB", b"gAMA", b"cHRM"}
WEBP_ALLOWED = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ICCP", b"ANIM", b"ANMF"}
# An animation frame (ANMF) holds a 16-byte frame header, then its own image chunks: only these.
WEBP_FRAME_ALLOWED = {b"VP8 ", b"VP8L", b"ALPH"}


def jpeg_parts(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of each JPEG segment up to the image data."""
    assert data[:2] == b"\xff\xd8"
    parts, i = [(0xD8, b"")], 2
    while i < len(data):
        assert data[i] == 0xFF, f"bad marker at {i}"
        marker = data[i + 1]
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        parts.append((marker, data[i + 4 : i + 2 + length]))
        if marker == 0xDA:
            break
        i += 2 + length
    return parts


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, i = [], 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        out.append(data[i + 4 : i + 8])
        i += 12 + length
    return out


def webp_chunks(data: bytes) -> list[bytes]:
    """The fourcc of each top-level chunk; each animation frame's own chunks are checked against the allow-list."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return _riff_chunks(data, 12)


def _riff_chunks(data: bytes, i: int) -> list[bytes]:
    out = []
    while i < len(data):
        fourcc, (length,) = data[i : i + 4], struct.unpack("<I", data[i + 4 : i + 8])
        out.append(fourcc)
        if fourcc == b"ANMF":
            inner = _riff_chunks(data[i + 8 + 16 : i + 8 + length], 0)
            assert set(inner) <= WEBP_FRAME_ALLOWED, inner
        i += 8 + length + (length & 1)
    return out


def assert_bare(data: bytes) -> None:
    """No secret, and nothing but allow-listed container parts."""
    assert SECRET not in data
    if data[:2] == b"\xff\xd8":
        for marker, payload in jpeg_parts(data):
            icc = marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00")
            assert marker in JPEG_ALLOWED or icc, f"JPEG segment 0x{marker:02X} {payload[:12]!r}"
    elif data[:4] == b"\x89PNG":
        assert set(png_chunks(data)) <= PNG_ALLOWED, png_chunks(data)
    elif data[4:8] == b"ftyp":
        assert_bare_avif(data)
    else:
        assert set(webp_chunks(data)) <= WEBP_ALLOWED, webp_chunks(data)


def assert_bare_avif(data: bytes) -> None:
    """An AVIF (HEIF boxes) whose header names no Exif or XMP item and no ICC profile (`colr` of type prof/rICC)."""
    assert data[8:12] in (b"avif", b"avis"), data[:16]
    head = data[: data.index(b"mdat")]  # every box before the coded image: where items and properties are named
    for carrier in (b"Exif", b"mime", b"prof", b"rICC"):
        assert carrier not in head, f"AVIF header names {carrier!r}"


def with_app13(jpeg: bytes) -> bytes:
    """A Photoshop IPTC (APP13) segment inserted after SOI."""
    payload = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00" + struct.pack(">I", len(SECRET)) + SECRET
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def exif_with_secret() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = SECRET.decode()  # ImageDescription
    exif[0xA431] = SECRET.decode()  # BodySerialNumber
    return exif.tobytes()


def png_text() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET.decode())
    info.add_text("Location", SECRET.decode(), zip=True)
    info.add_itxt("XML:com.adobe.xmp", SECRET.decode(), lang="en")
    return info


def tiff_tags() -> TiffImagePlugin.ImageFileDirectory_v2:
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[270] = SECRET.decode()  # ImageDescription
    tags[315] = SECRET.decode()  # Artist
    tags[33432] = SECRET.decode()  # Copyright
    return tags


def gif_with_comment() -> bytes:
    buf = io.BytesIO()
    marked(320, 240).convert("P").save(buf, format="GIF", comment=SECRET)
    return buf.getvalue()


XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + SECRET + b"</x:xmpmeta>"
SOURCES: dict[str, Callable[[], bytes]] = {
    "jpeg COM": lambda: encode(marked(640, 480), "JPEG", comment=SECRET),
    "jpeg EXIF": lambda: encode(marked(640, 480), "JPEG", exif=exif_with_secret()),
    "jpeg XMP": lambda: encode(marked(640, 480), "JPEG", xmp=XMP),
    "jpeg IPTC": lambda: with_app13(encode(marked(640, 480), "JPEG")),
    "png tEXt zTXt iTXt": lambda: encode(marked(640, 480), "PNG", pnginfo=png_text()),
    "png eXIf": lambda: encode(marked(640, 480), "PNG", exif=exif_with_secret()),
    "webp EXIF": lambda: encode(marked(640, 480), "WEBP", exif=exif_with_secret()),
    "webp XMP": lambda: encode(marked(640, 480), "WEBP", xmp=XMP),
    "tiff tags": lambda: encode(marked(640, 480), "TIFF", tiffinfo=tiff_tags()),
    "gif comment": gif_with_comment,
    "animated gif comment": lambda: animation("GIF", comment=SECRET),
    "animated webp EXIF": lambda: animation("WEBP", exif=exif_with_secret()),
    "animated webp XMP": lambda: animation("WEBP", xmp=XMP),
}


def animation(fmt: str, **params: object) -> bytes:
    """Three frames whose renditions stay animated, saved with the given metadata."""
    frames = [marked(320, 240).rotate(90 * i) for i in range(3)]
    if fmt == "GIF":
        frames = [f.convert("P") for f in frames]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=80, **params)


@pytest.mark.parametrize("carrier", list(SOURCES))
def test_no_metadata_carrier_reaches_a_rendition(carrier: str) -> None:
    # GIVEN a source whose metadata carries a secret (a location, a serial number)
    data = SOURCES[carrier]()
    assert SECRET in data or carrier.startswith("png zTXt"), "the source must really carry the secret"
    # WHEN rendered THEN no rendition carries it, nor any container part outside the allow-list
    result = render(data, R, Limits())
    assert any(r.frames > 1 for r in result.renditions) == carrier.startswith("animated")
    for r in result.renditions:
        assert_bare(r.data)


def srgb_icc() -> bytes:
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_profile_never_reaches_a_rendition_and_srgb_pixels_stay(fmt: str) -> None:
    # GIVEN an sRGB-tagged source whose profile also carries a secret (trailing bytes a reader ignores)
    icc = srgb_icc() + SECRET
    data = encode(Image.new("RGB", (640, 480), (200, 40, 90)), fmt, icc_profile=icc)
    with Image.open(io.BytesIO(data)) as source:
        assert SECRET in source.info["icc_profile"]  # (PNG compresses its iCCP chunk: look at the profile)
    for r in render(data, R, Limits()).renditions:
        # THEN the rendition has no profile (sRGB is what untagged means), no secret, and the same colour
        assert_bare(r.data)
        with Image.open(io.BytesIO(r.data)) as im:
            assert "icc_profile" not in im.info
            got = im.convert("RGB").getpixel((r.width // 2, r.height // 2))
        assert isinstance(got, tuple) and all(abs(a - b) <= 6 for a, b in zip(got, (200, 40, 90), strict=True))


def test_a_broken_profile_is_ignored_not_fatal() -> None:
    data = encode(marked(640, 480), "JPEG", icc_profile=b"not an ICC profile at all" * 8)
    result = render(data, R, Limits())
    assert [(r.width, r.height) for r in result.renditions if r.format == "JPEG"] == [
        (640, 480),
        (400, 300),
        (150, 113),
    ]
    for r in result.renditions:
        assert_bare(r.data)
