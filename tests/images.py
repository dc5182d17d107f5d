"""Small images made in memory for tests."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageDraw, ImageFilter


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode an image to bytes."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def marked(w: int, h: int) -> Image.Image:
    """White with a red block top-left and a blue block bottom-right."""
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w // 4, h // 4), fill=(255, 0, 0))
    d.rectangle((w - w // 4, h - h // 4, w, h), fill=(0, 0, 255))
    return img


# For each EXIF orientation, the transform that turns the picture as shown into the pixels as stored.
STORE_FOR_ORIENTATION = {
    1: [],
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_90],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_270],
}


def oriented_jpeg(
    orientation: int, shown_w: int = 400, shown_h: int = 300, exif_extra: dict[int, object] | None = None
) -> bytes:
    """A JPEG whose pixels, once EXIF orientation is applied, show `marked(shown_w, shown_h)`."""
    img = marked(shown_w, shown_h)
    for t in STORE_FOR_ORIENTATION[orientation]:
        img = img.transpose(t)
    exif = Image.Exif()
    exif[0x0112] = orientation
    for k, v in (exif_extra or {}).items():
        exif[k] = v
    return encode(img, "JPEG", quality=92, exif=exif.tobytes())


def red_top_left(data: bytes) -> bool:
    """Whether an encoded image shows red at top-left and blue at bottom-right."""
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
        w, h = rgb.size
        r, g, b = rgb.getpixel((w // 16, h // 16))  # type: ignore[misc]
        br, _, bb = rgb.getpixel((w - 1 - w // 16, h - 1 - h // 16))  # type: ignore[misc]
        return r > 180 and g < 90 and b < 90 and bb > 180 and br < 90


def jpeg_claiming(w: int, h: int) -> bytes:
    """A tiny, valid JPEG whose frame header claims w x h pixels (a decompression bomb by its header)."""
    data = bytearray(encode(Image.new("RGB", (8, 8)), "JPEG"))
    i = data.index(b"\xff\xc0")  # SOF0: marker, length(2), precision(1), height(2), width(2)
    data[i + 5 : i + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def png_claiming(w: int, h: int) -> bytes:
    """A tiny PNG whose IHDR claims w x h pixels, with a valid CRC (as an attacker would write it)."""
    data = bytearray(encode(Image.new("L", (8, 8)), "PNG"))
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def compass(w: int, h: int) -> Image.Image:
    """White with red top-left, green top-right and blue bottom-left: any flip or turn moves a colour."""
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w // 4, h // 4), fill=(255, 0, 0))
    d.rectangle((w - w // 4, 0, w, h // 4), fill=(0, 255, 0))
    d.rectangle((0, h - h // 4, w // 4, h), fill=(0, 0, 255))
    return img


def stored_for(orientation: int, img: Image.Image) -> Image.Image:
    """The pixels a camera stores for a picture shown as `img` under this EXIF orientation."""
    for t in STORE_FOR_ORIENTATION[orientation]:
        img = img.transpose(t)
    return img


def upright(data: bytes) -> bool:
    """Whether an encoded image shows compass(): red top-left, green top-right, blue bottom-left."""
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
        w, h = rgb.size

        def near(x: int, y: int, want: tuple[int, int, int]) -> bool:
            got = rgb.getpixel((x, y))
            assert isinstance(got, tuple)
            return all(abs(int(a) - b) < 70 for a, b in zip(got, want, strict=True))

        return (
            near(w // 16, h // 16, (255, 0, 0))
            and near(w - 1 - w // 16, h // 16, (0, 255, 0))
            and near(w // 16, h - 1 - h // 16, (0, 0, 255))
            and near(w - 1 - w // 16, h - 1 - h // 16, (255, 255, 255))
        )


def raw_exif(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """An EXIF block written by hand, so a tag can carry any type: (tag, TIFF type, count, payload)."""
    n = len(entries)
    data_off = 8 + 2 + n * 12 + 4
    table, body = b"", b""
    for tag, typ, count, payload in entries:
        if len(payload) <= 4:
            table += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\x00")
        else:
            table += struct.pack("<HHII", tag, typ, count, data_off + len(body))
            body += payload
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + struct.pack("<H", n) + table + b"\x00\x00\x00\x00" + body


def tiff_entries(data: bytes) -> list[int]:
    """Offsets of the 12-byte entries of a little-endian TIFF's first IFD."""
    assert data[:4] == b"II*\x00"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (n,) = struct.unpack_from("<H", data, ifd)
    return [ifd + 2 + 12 * i for i in range(n)]


def photo_like(w: int, h: int, seed: int = 0) -> Image.Image:
    """Smooth colour with edges and a little grain: compresses as a camera picture does (not as flat test art)."""
    rnd = random.Random(seed)
    base = Image.new("RGB", (8, 6))
    base.putdata([(rnd.randrange(30, 225), rnd.randrange(30, 225), rnd.randrange(30, 225)) for _ in range(48)])
    img = base.resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y, s = rnd.randrange(w), rnd.randrange(h), rnd.randrange(max(2, w // 20), max(3, w // 4))
        draw.ellipse((x, y, x + s, y + s), fill=(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    noise = Image.effect_noise((w, h), 12).convert("RGB")
    return Image.blend(img.filter(ImageFilter.GaussianBlur(1)), noise, 0.05)
