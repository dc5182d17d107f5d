"""Write the bad-input corpus to tests/data/corpus/ with expected.json (deterministic; run to regenerate).

Files that would be large (the one over the byte limit, the 900-byte key) are made by the test itself.
"""

from __future__ import annotations

import io
import json
import struct
import sys
from pathlib import Path
from typing import Any

import pillow_heif
from PIL import Image, ImageDraw, TiffImagePlugin

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests import crafted
from tests.images import STORE_FOR_ORIENTATION, jpeg_claiming, marked, png_claiming, raw_exif, stored_for
from tests.images import encode as enc

OUT = Path(__file__).resolve().parent / "corpus"
STD = {"large": [800, 600], "medium": [400, 300], "thumb": [150, 113]}


def oriented(o: int) -> bytes:
    img = marked(400, 300)
    for t in STORE_FOR_ORIENTATION[o]:
        img = img.transpose(t)
    exif = Image.Exif()
    exif[0x0112] = o
    return enc(img, "JPEG", quality=92, exif=exif.tobytes())


def main() -> None:
    OUT.mkdir(exist_ok=True)
    expected: dict[str, dict[str, object]] = {}

    def add(name: str, data: bytes, expect: dict[str, object]) -> None:
        (OUT / name).write_bytes(data)
        expected[name] = expect

    def fail(code: str) -> dict[str, object]:
        return {"expect": "failed", "code": code}

    def ok(fmt: str, sizes: dict[str, list[int]], **extra: object) -> dict[str, object]:
        return {"expect": "processed", "format": fmt, "sizes": sizes, **extra}

    jpeg = enc(marked(1600, 1200), "JPEG")
    png = enc(marked(1000, 750), "PNG")
    add("empty.jpg", b"", fail("empty"))
    add("text.jpg", b"plain text, named like a JPEG\n", fail("unsupported_format"))
    add("page.png", b"<!doctype html><html><body>not a PNG</body></html>\n", fail("unsupported_format"))
    add("truncated.jpg", jpeg[: len(jpeg) // 2], fail("corrupt"))
    add("truncated.png", png[: len(png) // 2], fail("corrupt"))
    add("bomb-65000.jpg", jpeg_claiming(65000, 65000), fail("too_many_pixels"))
    add("bomb-100000.png", png_claiming(100000, 100000), fail("too_many_pixels"))
    add(
        "drawing.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="800" height="600"><rect width="9" height="9"/></svg>',
        fail("unsupported_format"),
    )
    # HEIC: Pillow has no decoder for it here, so it must fail cleanly, not crash.
    add("photo.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, fail("unsupported_format"))
    add(
        "scan.tiff", enc(marked(1200, 900), "TIFF", compression="tiff_lzw"), ok("JPEG", STD, key_suffix="scan.tiff.jpg")
    )
    add(
        "paint.bmp",
        enc(marked(300, 200), "BMP"),
        ok("JPEG", {"large": [300, 200], "medium": [300, 200], "thumb": [150, 100]}),
    )
    add(
        "one-pixel.png",
        enc(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"),
        ok("PNG", {"large": [1, 1], "medium": [1, 1], "thumb": [1, 1]}),
    )
    add(
        "wide.png",
        enc(Image.new("RGB", (10000, 10), (0, 128, 0)), "PNG"),
        ok("PNG", {"large": [800, 1], "medium": [400, 1], "thumb": [150, 1]}),
    )
    gray = Image.linear_gradient("L").resize((512, 256)).convert("I").point(lambda v: v * 257).convert("I;16")
    add(
        "gray16.png",
        enc(gray, "PNG"),
        ok("PNG", {"large": [512, 256], "medium": [400, 200], "thumb": [150, 75]}, gray=True),
    )
    add(
        "cmyk.jpg",
        enc(marked(900, 600).convert("CMYK"), "JPEG"),
        ok("JPEG", {"large": [800, 533], "medium": [400, 267], "thumb": [150, 100]}),
    )
    pal = Image.new("P", (300, 300), 0)
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    ImageDraw.Draw(pal).rectangle((100, 100, 200, 200), fill=1)
    add(
        "palette-alpha.png",
        enc(pal, "PNG", transparency=0),
        ok("PNG", {"large": [300, 300], "medium": [300, 300], "thumb": [150, 150]}, alpha=True),
    )
    frames = [Image.new("RGB", (300, 200), c).convert("P") for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    sizes = {"large": [300, 200], "medium": [300, 200], "thumb": [150, 100]}
    add("animated.gif", buf.getvalue(), ok("PNG", sizes, frames=3))  # its WebP renditions: the 3 frames
    for o in range(1, 9):
        add(
            f"orientation-{o}.jpg",
            oriented(o),
            ok("JPEG", {"large": [400, 300], "medium": [400, 300], "thumb": [150, 113]}, red_top_left=True),
        )
    add(
        "UPPER.JPG",
        enc(marked(320, 240), "JPEG"),
        ok("JPEG", {"large": [320, 240], "medium": [320, 240], "thumb": [150, 113]}, key_suffix="UPPER.JPG.jpg"),
    )
    add(
        "noextension",
        enc(marked(320, 240), "JPEG"),
        ok("JPEG", {"large": [320, 240], "medium": [320, 240], "thumb": [150, 113]}, key_suffix="noextension.jpg"),
    )
    # Hostile inputs (the imaging core raised other exceptions on these, or got them wrong).
    noisy = [Image.effect_noise((120, 90), 60 + 10 * i).convert("P") for i in range(4)]
    buf = io.BytesIO()
    noisy[0].save(buf, format="GIF", save_all=True, append_images=noisy[1:], duration=100)
    add("gif-cut-in-second-frame.gif", buf.getvalue()[:16040], fail("corrupt"))
    bad_exif = raw_exif([(0x0112, 3, 1, struct.pack("<H", 6)), (0x011A, 2, 8, b"abcdefg\x00")])
    shown = {"large": [400, 300], "medium": [400, 300], "thumb": [150, 113]}
    for fmt, ext in (("JPEG", "jpg"), ("WEBP", "webp")):
        add(f"mistyped-exif.{ext}", enc(stored_for(6, marked(400, 300)), fmt, exif=bad_exif), ok(fmt, shown))
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[0x0112] = 6
    add("orientation-6.tiff", enc(stored_for(6, marked(400, 300)), "TIFF", tiffinfo=tags), ok("JPEG", shown))
    ramp = Image.linear_gradient("L").convert("F")
    add("float.tiff", enc(ramp, "TIFF"), ok("JPEG", {"large": [256, 256], "medium": [256, 256], "thumb": [150, 150]}))
    add("huge-16bit.png", enc(Image.new("I;16", (7000, 7000), 1000), "PNG"), fail("too_much_memory"))
    add(
        "commented.jpg",
        enc(marked(320, 240), "JPEG", comment=b"SECRET serial 123"),
        ok("JPEG", {"large": [320, 240], "medium": [320, 240], "thumb": [150, 113]}),
    )
    small = ok("JPEG", {"large": [320, 240], "medium": [320, 240], "thumb": [150, 113]})
    for name in ("with space.jpg", "plus+sign.jpg", "per%cent 100%.jpg", "ünïcödé 写真 ☃.jpg"):
        add(name, enc(marked(320, 240), "JPEG"), small)
    _containers(add, ok, fail)
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def _containers(add: Any, ok: Any, fail: Any) -> None:
    """Containers that lie (tests/crafted.py), and a real-size phone photo: each through the whole stack."""
    sizes = {"large": [40, 40], "medium": [40, 40], "thumb": [40, 40]}
    # A 10x10 screen whose second frame is 12000x12000: over the work budget, so stills of the first frame.
    grown = crafted.gif((10, 10), [crafted.Frame(width=10, height=10), crafted.Frame(width=12000, height=12000)])
    add("gif-canvas-grows.gif", grown, ok("PNG", {"large": [10, 10], "medium": [10, 10], "thumb": [10, 10]}))
    clipped = [crafted.Frame(width=40, height=40), crafted.Frame(x=20, y=20, width=40, height=40, colour=1)]
    add("gif-frame-off-screen.gif", crafted.gif((40, 40), clipped), ok("PNG", sizes, frames=2))
    add("apng-default-image.png", crafted.apng((40, 40), 3, default_image=True), ok("PNG", sizes, frames=3))
    hidden = crafted.heif([(64, 48), (4000, 3000)], primary=0)
    add("heic-hidden-second-image.heic", hidden, ok("JPEG", {"large": [64, 48], "medium": [64, 48], "thumb": [64, 48]}))
    profile = crafted.png_with_profile((64, 48), crafted.padded_profile(2_000_000))
    add("png-2mb-profile.png", profile, ok("PNG", {"large": [64, 48], "medium": [64, 48], "thumb": [64, 48]}))
    # 2,000 frames with a profile: 12.5 s when a colour transform was built per frame and size; now well under 1 s.
    frames_icc = crafted.animated_webp((4, 4), 2000, icc=crafted.padded_profile(4000))
    tiny = {"large": [4, 4], "medium": [4, 4], "thumb": [4, 4]}
    add("webp-2000-frames-profile.webp", frames_icc, ok("JPEG", tiny, frames=2000))
    add("avif-claims-60000.avif", crafted.avif_declaring(60000, 60000), fail("too_many_pixels"))
    photo = {"large": [800, 600], "medium": [400, 300], "thumb": [150, 113]}
    add("phone-12mp.heic", phone("HEIF", 4032, 3024), ok("JPEG", photo))


def phone(fmt: str, width: int, height: int) -> bytes:
    """A real-size phone photo, deterministic: smooth light and soft detail, in tiles as phones write HEIC."""
    pillow_heif.register_heif_opener()  # (saving HEIF through Pillow needs it)
    pillow_heif.options.GRID_TILE_SIZE = 512
    light = Image.linear_gradient("L").resize((width, height))
    detail = Image.radial_gradient("L").resize((width // 8, height // 8)).resize((width, height))
    img = Image.merge("RGB", (light, detail, light.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    return enc(img, fmt, quality=50) if fmt == "HEIF" else enc(img, fmt, quality=50, speed=8)


def samples() -> None:
    """The real-size samples of `make e2e` (samples/phone-*): a 12 MP HEIC and a 24 MP AVIF, as phones make them."""
    root = Path(__file__).resolve().parents[2] / "samples"
    (root / "phone-12mp.heic").write_bytes(phone("HEIF", 4032, 3024))
    (root / "phone-24mp.avif").write_bytes(phone("AVIF", 5712, 4284))


if __name__ == "__main__":
    samples() if sys.argv[1:] == ["--samples"] else main()
