"""Regenerate samples/ deterministically (the files are committed; run this only to change them)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pillow_heif
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "samples"
sys.path.insert(0, str(ROOT))
from tests.images import jpeg_claiming, marked  # noqa: E402


def photo(w: int, h: int, seed: int) -> Image.Image:
    """A photo-like RGB image: smooth gradients, shapes and a little noise."""
    rnd = random.Random(seed)
    img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    r = Image.linear_gradient("L").rotate(90).resize((w, h))
    img = Image.merge("RGB", (img.getchannel(0), r, Image.new("L", (w, h), 96)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rnd.randrange(w), rnd.randrange(h)
        s = rnd.randrange(max(2, w // 10), max(3, w // 4))
        draw.ellipse((x, y, x + s, y + s), fill=(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    noise = Image.effect_noise((w, h), 12).convert("RGB")
    return Image.blend(img, noise, 0.08)


pillow_heif.register_heif_opener()  # HEIF writing, for iphone.heic


def save(img: Image.Image, rel: str, fmt: str, **params: object) -> None:
    path = OUT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt, **params)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    save(photo(1600, 1200, 1), "photo.jpg", "JPEG", quality=85)
    alpha = photo(640, 480, 2).convert("RGBA")
    alpha.putalpha(Image.linear_gradient("L").resize((640, 480)))
    save(alpha, "alpha.png", "PNG")
    save(photo(1000, 500, 3), "photo.webp", "WEBP", quality=80)
    frames = [photo(300, 200, 10 + i).convert("P", palette=Image.Palette.ADAPTIVE) for i in range(3)]
    frames[0].save(OUT / "animated.gif", save_all=True, append_images=frames[1:], duration=200, loop=0)
    save(photo(900, 600, 4).convert("CMYK"), "cmyk.jpg", "JPEG", quality=85)
    shown = marked(800, 1200)  # what a viewer shows: portrait, red top-left
    stored = shown.transpose(Image.Transpose.ROTATE_90)  # what the camera stored: landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    save(stored, "rotated-6.jpg", "JPEG", quality=90, exif=exif.tobytes())
    save(stored, "iphone.heic", "HEIF", quality=80, exif=exif.tobytes())  # an iPhone photo: HEIC, turned
    save(photo(1200, 900, 13), "photo.avif", "AVIF", quality=70)
    gray = Image.linear_gradient("L").resize((512, 256)).convert("I")
    gray16 = gray.point(lambda v: v * 257).convert("I;16")
    save(gray16, "gray16.png", "PNG")
    save(photo(320, 240, 5), "names/with space.jpg", "JPEG", quality=85)
    save(photo(320, 240, 6), "names/plus+sign.jpg", "JPEG", quality=85)
    save(photo(320, 240, 7), "names/ünïcödé 写真.jpg", "JPEG", quality=85)
    save(photo(400, 400, 8), "folders/a/same.jpg", "JPEG", quality=85)
    save(photo(300, 600, 9), "folders/b/same.jpg", "JPEG", quality=85)
    save(photo(200, 100, 11), "png-named.jpg", "PNG")  # the bytes say PNG, the name says JPEG
    gps = Image.Exif()
    gps[0x010F], gps[0x0110], gps[0xA431] = "ACME", "Pocket 9", "SERIAL-0042"
    gps.get_ifd(0x8825).update({1: "N", 2: (52.0, 22.0, 1.0), 3: "E", 4: (4.0, 53.0, 2.0)})
    save(photo(640, 480, 12), "gps.jpg", "JPEG", quality=85, exif=gps.tobytes())  # renditions must drop all of it
    bad = OUT / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "text.jpg").write_text("this is not an image, whatever its name says\n")
    good = (OUT / "photo.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (bad / "bomb.jpg").write_bytes(jpeg_claiming(65000, 65000))


if __name__ == "__main__":
    main()
