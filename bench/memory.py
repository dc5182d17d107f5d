"""Peak memory of the imaging core, each source in a fresh process that has loaded the Lambda handler.

    python bench/memory.py --calibrate    bytes per source pixel by mode (the table in pipeline/imaging.py)
    python bench/memory.py                the worst accepted input of each format against 60% of the memory size

The worst accepted input of a format is the largest costliest-mode image that the byte, pixel and memory
limits still let through: what a hostile user would send to kill the function.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (name, Pillow format, mode, save parameters) for calibration, at CAL_SIDE x CAL_SIDE pixels.
CAL_SIDE = 2000
CALIBRATION = [
    ("L png", "PNG", "L", {}),
    ("P png", "PNG", "P", {}),
    ("P gif", "GIF", "P", {}),
    ("I;16 png", "PNG", "I;16", {}),
    ("I tiff", "TIFF", "I", {}),
    ("F tiff", "TIFF", "F", {}),
    ("LA png", "PNG", "LA", {}),
    ("RGB png", "PNG", "RGB", {}),
    ("RGB tiff", "TIFF", "RGB", {}),
    ("RGB bmp", "BMP", "RGB", {}),
    ("RGB webp", "WEBP", "RGB", {"lossless": True}),
    ("RGBA png", "PNG", "RGBA", {}),
    ("RGBA webp", "WEBP", "RGBA", {"lossless": True}),
    ("CMYK tiff", "TIFF", "CMYK", {}),
    ("1 png", "PNG", "1", {}),
]


def source(fmt: str, mode: str, w: int, h: int, params: dict[str, object], *, noisy: bool = True) -> bytes:
    """An image in one mode and format: noisy for calibration, a smooth gradient (a small file) for worst cases."""
    base = Image.effect_noise((w, h), 64).convert("L") if noisy else Image.linear_gradient("L").resize((w, h))
    if mode in ("I;16", "I", "F"):
        img = base.convert("I").point(lambda v: v * 257) if mode != "F" else base.convert("F")
        if mode == "I;16":
            img = img.convert("I;16")
    elif mode == "P":
        img = Image.merge("RGB", (base, base.rotate(90), base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        img = img.convert("P")
    else:
        img = base.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def _status(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(path: str) -> None:
    """Render one file after loading the handler; print the baseline and peak RSS in bytes."""
    import time

    import pipeline.handler  # noqa: F401 - the Lambda's own imports make the baseline
    from pipeline.imaging import Limits, render
    from pipeline.settings import Settings

    # Count Pillow's encoder calls by format (stills and animations alike): what the byte rules' retries cost.
    encodes: dict[str, int] = {}
    save = Image.Image.save

    def counted(img: Image.Image, fp: Any, format: str | None = None, **params: Any) -> None:
        encodes[str(format)] = encodes.get(str(format), 0) + 1
        save(img, fp, format, **params)

    Image.Image.save = counted  # type: ignore[method-assign,assignment]

    settings = Settings.from_env({})
    data = Path(path).read_bytes()
    # Reset the high-water mark (Linux): the imports' own transient peak must not hide the render's.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status("VmRSS")
    limits = Limits(
        max_bytes=1 << 30,
        max_pixels=1 << 31,
        max_work_bytes=1 << 40,
        variants=settings.imaging.variants,
        animation_decode_pixels=settings.imaging.animation_decode_pixels,
    )
    outcome = "ok"
    started = time.perf_counter()
    try:
        render(data, settings.imaging.renditions, limits)
    except Exception as e:  # report, do not die: the parent tabulates
        outcome = f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - started
    peak = _status("VmHWM")
    print(json.dumps({"baseline": before, "peak": peak, "outcome": outcome, "seconds": seconds, "encodes": encodes}))


def measure(data: bytes) -> dict[str, object]:
    """Run child() on these bytes in a fresh interpreter."""
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(
            [sys.executable, __file__, "--child", f.name], check=True, capture_output=True, text=True, timeout=300
        )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# Phone photos at the sizes phones shoot (12 and 24 MP, and 48 MP high-resolution modes): HEIF and AVIF decoders
# hold their own frames, so their cost is measured on real-size photos, HEIC in 512 px tiles as iPhones write it.
PHONE_SIZES = {"12 MP": (4032, 3024), "24 MP": (5712, 4284), "48 MP": (8064, 6048)}


def calibrate() -> None:
    """Print measured peak bytes per source pixel for each mode, then for HEIF and AVIF at phone sizes."""
    pixels = CAL_SIDE * CAL_SIDE
    for name, fmt, mode, params in CALIBRATION:
        m = measure(source(fmt, mode, CAL_SIDE, CAL_SIDE, params))
        per_pixel = (int(str(m["peak"])) - int(str(m["baseline"]))) / pixels
        print(f"{name:12} {per_pixel:6.2f} bytes/pixel  {m['outcome']}")
    import pillow_heif
    from images import photo

    pillow_heif.register_heif_opener()
    pillow_heif.options.GRID_TILE_SIZE = 512
    for label, (w, h) in PHONE_SIZES.items():
        img = photo(w, h, seed=7)
        for fmt, params in (("HEIF", {"quality": 60}), ("AVIF", {"quality": 60, "speed": 8})):
            buf = io.BytesIO()
            img.save(buf, format=fmt, **params)
            m = measure(buf.getvalue())
            per_pixel = (int(str(m["peak"])) - int(str(m["baseline"]))) / (w * h)
            print(f"{fmt} {label:6} {per_pixel:6.2f} bytes/pixel  {m['outcome']}")


def worst_cases() -> int:
    """The worst accepted input of each format, against 60% of the function's memory; 1 if any is over."""
    from pipeline.imaging import _WORK_BYTES_PER_PIXEL, _WORK_BYTES_PER_PIXEL_BY_FORMAT, Limits
    from pipeline.settings import Settings

    settings = Settings.from_env({})
    limits = Limits(
        settings.imaging.max_bytes,
        settings.imaging.max_pixels,
        settings.imaging.jpeg_quality,
        settings.imaging.work_budget_bytes,
        settings.imaging.variants,
        settings.imaging.animation_decode_pixels,
    )
    budget = settings.imaging.memory_mb * 1024 * 1024 * 0.6
    costliest = {
        "PNG": ["I;16", "RGBA", "LA", "P", "RGB"],
        "GIF": ["P"],
        "TIFF": ["CMYK", "F", "I", "RGBA", "RGB"],
        "BMP": ["RGB"],
        "WEBP": ["RGBA", "RGB"],
        "JPEG": ["RGB", "CMYK", "L"],
        "HEIF": ["RGB"],
        "AVIF": ["RGB"],
    }
    failed = 0
    print(
        f"memory size {settings.imaging.memory_mb} MiB, 60% = {budget / 2**20:.0f} MiB, "
        f"work budget {limits.max_work_bytes >> 20} MiB"
    )
    for fmt, modes in costliest.items():
        for mode in modes:
            per_pixel = (
                4 if fmt == "JPEG" else max(_WORK_BYTES_PER_PIXEL[mode], _WORK_BYTES_PER_PIXEL_BY_FORMAT.get(fmt, 0))
            )
            pixels = min(limits.max_pixels, limits.max_work_bytes // per_pixel)
            if fmt == "WEBP":
                pixels = min(pixels, 16383 * 16383)
            if fmt == "HEIF":
                import pillow_heif

                pillow_heif.register_heif_opener()  # (the handler registers it too; saving needs it here)
            side = int(pixels**0.5)
            params: dict[str, object] = {"WEBP": {"lossless": True}, "TIFF": {"compression": "tiff_deflate"}}.get(
                fmt, {}
            )
            data = source(fmt, mode, side, side, params, noisy=False)
            if len(data) > limits.max_bytes:
                print(f"{fmt:5} {mode:5} {side}x{side}: {len(data)} bytes, refused by size before any decode")
                continue
            m = measure(data)
            peak = int(str(m["peak"]))
            over = peak > budget
            failed += over
            print(
                f"{fmt:5} {mode:5} {side}x{side}: peak RSS {peak / 2**20:6.0f} MiB "
                f"{'OVER' if over else 'ok'}  {m['outcome']}"
            )
    failed += _worst_animation(budget)
    _worst_byte_budget()
    return 1 if failed else 0


def _worst_byte_budget() -> None:
    """What the rule "no rendition bigger than its source" costs at worst: the encodes it retries, and their time."""
    from images import photo  # bench/images.py, beside this file

    # A transparent photo a pixel over the large size, at zlib's strongest level: the PNG ladder's worst case.
    png = io.BytesIO()
    photo(801, 601, 7).convert("RGBA").save(png, format="PNG", compress_level=9)
    # Busy two-colour frames, which GIF's LZW holds in few bytes and lossy WebP does not: quality steps, then lossless.
    frames = [
        Image.effect_noise((300, 300), 90 + 10 * i).point(lambda v: 255 if v > 128 else 0).convert("P")
        for i in range(6)
    ]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    for name, data in (("PNG   RGBA  801x601 level 9", png.getvalue()), ("GIF   anim  6 busy frames", gif.getvalue())):
        m = measure(data)
        counts = m["encodes"]
        assert isinstance(counts, dict)
        per_format = ", ".join(f"{n} {fmt}" for fmt, n in sorted(counts.items()))
        print(f"{name}: {len(data)} bytes, {per_format} encodes, {float(str(m['seconds'])):.2f} s  {m['outcome']}")


def worst_animation(count: int, size: tuple[int, int]) -> bytes:
    """An animated GIF of this many frames: a gradient with a block that moves (so no frame repeats)."""
    base = Image.linear_gradient("L").resize(size)
    frames = []
    for i in range(count):
        frame = base.copy()
        frame.paste(255, (i * 7 % size[0], 40, i * 7 % size[0] + 60, 100))
        frames.append(frame.convert("P"))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    return buf.getvalue()


def _worst_animation(budget: float) -> int:
    """The longest 800x600 animation the decode budget keeps animated (every size held at once): 1 if over."""
    from pipeline.settings import Settings

    size = (800, 600)
    frames = Settings.from_env({}).imaging.animation_decode_pixels // (size[0] * size[1])
    m = measure(worst_animation(frames, size))
    peak = int(str(m["peak"]))
    print(
        f"GIF   anim  {frames} frames of {size[0]}x{size[1]}: peak RSS {peak / 2**20:6.0f} MiB "
        f"{'OVER' if peak > budget else 'ok'}  {m['outcome']}"
    )
    return int(peak > budget)


def main() -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return 0
    if args.calibrate:
        calibrate()
        return 0
    return worst_cases()


if __name__ == "__main__":
    sys.exit(main())
