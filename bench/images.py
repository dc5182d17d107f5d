"""Photo-like benchmark images, made deterministically (seeded), in each format the bench measures."""

from __future__ import annotations

import io
import math
import random

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageMath, ImageStat


def photo(w: int, h: int, seed: int) -> Image.Image:
    """Smooth light and colour, soft shapes, some texture and a little sensor noise, like a camera picture."""
    rnd = random.Random(seed)
    small = (max(8, w // 64), max(8, h // 64))
    # low-frequency colour: random coarse pixels, upscaled smoothly (sky, walls, skin)
    base = Image.new("RGB", small)
    base.putdata(
        [(rnd.randrange(40, 220), rnd.randrange(40, 220), rnd.randrange(40, 220)) for _ in range(small[0] * small[1])]
    )
    img = base.resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(40):  # objects with edges
        x, y = rnd.randrange(w), rnd.randrange(h)
        s = rnd.randrange(w // 40, w // 6)
        colour = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
        if rnd.random() < 0.5:
            draw.ellipse((x, y, x + s, y + s), fill=colour)
        else:
            draw.rectangle((x, y, x + s, y + s // 2), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    noise = Image.effect_noise((w, h), 10).convert("RGB")  # fine grain
    return Image.blend(img, noise, 0.06)


def psnr_of(x: Image.Image, y: Image.Image) -> float:
    """PSNR in dB of two images of one size (99 for identical ones)."""
    rms = ImageStat.Stat(ImageChops.difference(x.convert("RGB"), y.convert("RGB"))).rms
    mse = sum(v * v for v in rms) / len(rms)
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


# SSIM's constants for 8-bit values (Wang et al. 2004): K1 = 0.01, K2 = 0.03 of the range.
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
SSIM_WINDOW = 8


def ssim_of(x: Image.Image, y: Image.Image) -> float:
    """Mean SSIM of the luma of two images of one size, over non-overlapping 8x8 windows.

    Written with Pillow alone (no numpy in the bench): each window's means, variances and covariance are box
    averages, which a BOX resize by the window size computes exactly for whole windows.
    """
    a, b = x.convert("L").convert("F"), y.convert("L").convert("F")
    size = (a.width // SSIM_WINDOW, a.height // SSIM_WINDOW)
    box = (0, 0, size[0] * SSIM_WINDOW, size[1] * SSIM_WINDOW)

    def mean(img: Image.Image) -> Image.Image:
        return img.resize(size, Image.Resampling.BOX, box=box)

    def product(p: Image.Image, q: Image.Image) -> Image.Image:
        return ImageMath.lambda_eval(lambda e: e["p"] * e["q"], p=p, q=q)

    mx, my = mean(a), mean(b)
    sxx, syy, sxy = mean(product(a, a)), mean(product(b, b)), mean(product(a, b))
    index = ImageMath.lambda_eval(
        lambda e: (
            ((2 * e["mx"] * e["my"] + _C1) * (2 * (e["sxy"] - e["mx"] * e["my"]) + _C2))
            / (
                (e["mx"] * e["mx"] + e["my"] * e["my"] + _C1)
                * (e["sxx"] - e["mx"] * e["mx"] + e["syy"] - e["my"] * e["my"] + _C2)
            )
        ),
        mx=mx,
        my=my,
        sxx=sxx,
        syy=syy,
        sxy=sxy,
    )
    values = list(index.getdata())  # (ImageStat bins an "F" image's values: average them here)
    return float(sum(values) / len(values))


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode to bytes."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def make_cases() -> dict[str, bytes]:
    """Every benchmark input, by case name."""
    cases: dict[str, bytes] = {}
    p12 = photo(4000, 3000, 1)
    cases["jpeg_12mp"] = encode(p12, "JPEG", quality=90)
    cases["jpeg_24mp"] = encode(photo(6000, 4000, 2), "JPEG", quality=90)
    cases["jpeg_2mp"] = encode(photo(1632, 1224, 3), "JPEG", quality=90)
    cases["jpeg_cmyk"] = encode(photo(3000, 2000, 4).convert("CMYK"), "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    cases["jpeg_exif_rotated"] = encode(
        p12.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=90, exif=exif.tobytes()
    )
    rgba = photo(2000, 1500, 5).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((2000, 1500)))
    cases["png_rgba"] = encode(rgba, "PNG")
    gray = photo(2000, 1500, 6).convert("L").convert("I").point(lambda v: v * 257).convert("I;16")
    cases["png_16bit"] = encode(gray, "PNG")
    cases["webp"] = encode(photo(3000, 2000, 7), "WEBP", quality=85)
    frames = [photo(800, 600, 10 + i).convert("P", palette=Image.Palette.ADAPTIVE) for i in range(8)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    cases["gif_animated"] = buf.getvalue()
    return cases
