"""Containers built from parts, the way a hostile user would build them: screens and frames that disagree,
offsets past the edge, counts that lie, default images, many images in one HEIF, ICC profiles of any size.

Each builder takes the parts as plain values, so the fuzz suite can draw them at random and the tests can name
them. Frames are encoded by Pillow (a real encoder) and only the container around them is assembled here.
"""

from __future__ import annotations

import io
import itertools
import struct
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageCms

from tests.images import encode

COLOURS = ((220, 30, 30), (30, 200, 40), (40, 60, 220), (240, 220, 30), (200, 40, 200), (20, 200, 200))


@dataclass(frozen=True)
class Frame:
    """One frame: where it stands on the screen, its size and flat colour, how long it shows, how it is disposed."""

    x: int = 0
    y: int = 0
    width: int = 16
    height: int = 16
    colour: int = 0  # index into COLOURS
    duration_ms: int = 100
    disposal: int = 0


def _gif_image_block(frame: Frame) -> bytes:
    """The image descriptor and LZW data of one frame, with a local colour table, placed at (x, y)."""
    img = Image.new("RGB", (frame.width, frame.height), COLOURS[frame.colour % len(COLOURS)]).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=4
    )
    data = encode(img, "GIF", optimize=False)
    flags = data[10]
    gct = b""
    pos = 13
    if flags & 0x80:
        gct = data[pos : pos + 3 * (2 << (flags & 7))]
        pos += len(gct)
    while data[pos : pos + 1] == b"!":  # skip extensions: label, then sub-blocks to a zero length
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    assert data[pos : pos + 1] == b",", "Pillow wrote no image descriptor where expected"
    descriptor = bytearray(data[pos : pos + 10])
    struct.pack_into("<HH", descriptor, 1, frame.x, frame.y)
    descriptor[9] = (descriptor[9] & 0x40) | (0x80 | (flags & 7) if gct else 0)  # the global table, made local
    rest = data[pos + 10 : -1]  # LZW minimum code size and sub-blocks, without the trailer
    return bytes(descriptor) + gct + rest


def gif(screen: tuple[int, int], frames: list[Frame], loop: int | None = 0) -> bytes:
    """A GIF89a with this logical screen and these frames (any size, anywhere); loop None: no NETSCAPE block."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", screen[0], screen[1], 0, 0, 0))
    if loop is not None:
        out += b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00"
    for f in frames:
        gce = struct.pack("<BBBBHBB", 0x21, 0xF9, 4, (f.disposal & 7) << 2, f.duration_ms // 10, 0, 0)
        out += gce + _gif_image_block(f)
    return bytes(out + b";")


def apng(size: tuple[int, int], frames: int, *, default_image: bool, loop: int = 0) -> bytes:
    """An APNG of flat frames; with default_image the first image is the IDAT only, not part of the animation."""
    imgs = [Image.new("RGB", size, COLOURS[i % len(COLOURS)]) for i in range(frames + int(default_image))]
    return encode(
        imgs[0], "PNG", save_all=True, append_images=imgs[1:], default_image=default_image, loop=loop, duration=80
    )


def animated_webp(size: tuple[int, int], frames: int, *, icc: bytes | None = None, loop: int = 0) -> bytes:
    """An animated WebP whose frames each differ (none merged), optionally with an ICC profile."""
    imgs = [Image.new("RGB", size, COLOURS[i % len(COLOURS)]) for i in range(frames)]
    for i, img in enumerate(imgs):
        img.putpixel((0, 0), (i % 251, i // 251 % 251, 7))  # every frame differs from the one before
    params: dict[str, object] = {"save_all": True, "append_images": imgs[1:], "duration": 40, "loop": loop}
    if icc:
        params["icc_profile"] = icc
    return encode(imgs[0], "WEBP", lossless=True, **params)


def heif(images: list[tuple[int, int]], primary: int = 0, colours: list[int] | None = None) -> bytes:
    """A HEIC holding several top-level images of these sizes; `primary` is the one a viewer shows."""
    f = pillow_heif.HeifFile()  # type: ignore[no-untyped-call]
    for i, size in enumerate(images):
        colour = COLOURS[(colours[i] if colours else i) % len(COLOURS)]
        f.add_from_pillow(Image.new("RGB", size, colour))
    buf = io.BytesIO()
    f.save(buf, primary_index=primary, quality=40)
    return buf.getvalue()


def srgb_profile() -> bytes:
    """lcms' own sRGB profile, as bytes (a few hundred bytes)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def padded_profile(total: int) -> bytes:
    """A valid sRGB ICC profile grown to `total` bytes with a private tag (what big printer profiles look like)."""
    base = bytearray(srgb_profile())
    count = struct.unpack_from(">I", base, 128)[0]
    pad = max(0, total - len(base) - 12)
    # One more tag entry (12 bytes) shifts every tag's offset; the private tag's data goes at the end.
    entries = bytearray()
    for i in range(count):
        sig, off, size = struct.unpack_from(">4sII", base, 132 + 12 * i)
        entries += struct.pack(">4sII", sig, off + 12, size)
    body = base[132 + 12 * count :]
    data_at = 132 + 12 * (count + 1) + len(body)
    entries += struct.pack(">4sII", b"zzzz", data_at, pad)
    out = base[:128] + struct.pack(">I", count + 1) + entries + body + b"\x00" * pad
    struct.pack_into(">I", out, 0, len(out))
    return bytes(out)


def png_with_profile(size: tuple[int, int], icc: bytes) -> bytes:
    """A PNG carrying this ICC profile in its iCCP chunk."""
    return encode(Image.new("RGB", size, COLOURS[0]), "PNG", icc_profile=icc)


def avif_declaring(width: int, height: int) -> bytes:
    """A small AVIF whose image spatial extents (ispe) claim another size."""
    data = bytearray(encode(Image.new("RGB", (64, 48), COLOURS[2]), "AVIF"))
    at = data.find(b"ispe")
    struct.pack_into(">II", data, at + 8, width, height)
    return bytes(data)


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def cmyk_profile(warmth: float = 0.0) -> bytes:
    """A small CMYK output profile (ICC v2, A2B0 a lut8 over a 2-point grid from ink to Lab); warmth adds red.

    Not a printing profile: enough for lcms to convert with, and unlike Pillow's own CMYK conversion.
    """

    def lab(c: int, m: int, y: int, k: int) -> tuple[float, float, float]:
        red = min(1.0, (1 - c) * (1 - k) * (1 + warmth))
        lin = [u**2.2 for u in (red, (1 - m) * (1 - k), (1 - y) * (1 - k))]
        xyz = [sum(w * v for w, v in zip(row, lin, strict=True)) for row in _SRGB_TO_XYZ_D50]

        def f(t: float) -> float:
            return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

        fx, fy, fz = (f(v / white) for v, white in zip(xyz, (0.9642, 1.0, 0.8249), strict=True))
        return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)

    clut = bytearray()
    for c, m, y, k in itertools.product((0, 1), repeat=4):
        big_l, a, b = lab(c, m, y, k)
        clut += bytes(max(0, min(255, round(v))) for v in (big_l * 255 / 100, a + 128, b + 128))
    ramp = bytes(range(256))
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    a2b0 = b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + identity + ramp * 4 + bytes(clut) + ramp * 3
    text = b"imgpipe test CMYK\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(8 + 2 + 1 + 67)
    wtpt = b"XYZ " + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    tags = [(b"desc", desc), (b"wtpt", wtpt), (b"A2B0", a2b0)]
    start = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        data += bytes(-(start + len(data)) % 4)  # each tag on a 4-byte boundary
        table += sig + struct.pack(">II", start + len(data), len(body))
        data += body
    body = struct.pack(">I", len(tags)) + table + data
    header = bytearray(128)
    struct.pack_into(">I", header, 0, 128 + len(body))
    struct.pack_into(">I", header, 8, 0x02100000)
    header[12:24] = b"prtrCMYKLab "
    header[36:40] = b"acsp"
    header[68:80] = _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    return bytes(header) + body


# sRGB's primaries adapted to D50 (the ICC connection space's white)
_SRGB_TO_XYZ_D50 = ((0.4361, 0.3851, 0.1431), (0.2225, 0.7169, 0.0606), (0.0139, 0.0971, 0.7141))
