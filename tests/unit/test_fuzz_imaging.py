"""A seeded, time-bounded mutation fuzzer for the imaging core.

The property: whatever the bytes, render() returns renditions or raises ImageError, within a time bound and
inside its memory budget. Seeds are the samples and the bad-input corpus plus a few made here (TIFF, BMP, GIF,
WebP); each case mutates one seed a few times (bit flips, interesting bytes, cuts, repeated or dropped spans).
Every input that ever broke the property is kept in tests/data/fuzz/ and replayed first, always.

    FUZZ_S=60 (default in make test)   make fuzz FUZZ_S=600   FUZZ_SEED=n to vary the run
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from PIL import Image, TiffImagePlugin

from pipeline.imaging import Limits
from pipeline.settings import Rendition
from tests.fuzzing import bounded_render, keep
from tests.images import compass, encode, raw_exif

ROOT = Path(__file__).resolve().parents[2]
CRASHERS = ROOT / "tests" / "data" / "fuzz"
SMALL = (
    Rendition("large", 160, 120),
    Rendition("thumb", 40, 40),
    Rendition("square", 32, 32, crop=True, fallback=False, variants=("WEBP",)),
)
# Small limits keep each case fast; the property does not depend on the size.
LIMITS = Limits(max_bytes=2_000_000, max_pixels=4_000_000, max_work_bytes=64 << 20)
CASE_S = 5.0  # one case may take this long at most (seeds render in milliseconds)
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE)
EXTREMES = (b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x00\x00\xff\xff")


def _made_seeds() -> list[bytes]:
    img = compass(64, 48)
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[0x0112] = 6
    frames = [Image.effect_noise((48, 32), 50 + i).convert("P") for i in range(3)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    exif = raw_exif([(0x0112, 3, 1, b"\x06\x00\x00\x00"), (0x011A, 5, 1, b"\x08\x00\x00\x00")])
    return [
        encode(img, "TIFF", tiffinfo=tags),
        encode(img, "TIFF", compression="tiff_lzw"),
        encode(img.convert("CMYK"), "TIFF", compression="packbits"),
        encode(Image.linear_gradient("L").convert("F").resize((32, 32)), "TIFF"),
        encode(img, "BMP"),
        gif,
        encode(img, "WEBP", exif=exif),
        encode(img.convert("RGBA"), "WEBP", lossless=True),
        encode(img, "JPEG", exif=exif, progressive=True),
        encode(img.convert("P"), "PNG", exif=exif),
        encode(Image.new("I;16", (40, 30), 4000), "PNG"),
    ]


def seeds() -> list[bytes]:
    files = [p for d in ("samples", "tests/data/corpus") for p in sorted((ROOT / d).rglob("*")) if p.is_file()]
    found = [p.read_bytes() for p in files if 0 < p.stat().st_size <= 200_000 and p.suffix != ".json"]
    return found + _made_seeds()


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits of the kinds that break parsers."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not b:
            break
        op, i = rng.randrange(6), rng.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.choice(INTERESTING)
        elif op == 2:  # a 16/32-bit field set to an extreme
            b[i : i + 4] = rng.choice(
                (b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x00\x00\xff\xff")
            )
        elif op == 3:
            del b[i:]
        elif op == 4:
            j = min(len(b), i + rng.randint(1, 64))
            b[i:i] = b[i:j]
        else:
            del b[i : i + rng.randint(1, 64)]
    return bytes(b)


def check(data: bytes) -> str | None:
    """None when the property holds for these bytes, else what broke it (an exception, time, or memory)."""
    return bounded_render(data, SMALL, LIMITS, CASE_S)[1]


@pytest.mark.parametrize("path", sorted(CRASHERS.glob("*.bin")), ids=lambda p: p.name)
def test_every_kept_crasher_is_now_an_image_error(path: Path) -> None:
    assert check(path.read_bytes()) is None


FUZZ_S = float(os.environ.get("FUZZ_S", "60"))


@pytest.mark.timeout(FUZZ_S + 120)  # the suite's 300 s cap would cut `make fuzz FUZZ_S=600` short
def test_fuzz_imaging_core() -> None:
    budget_s = FUZZ_S
    rng = random.Random(int(os.environ.get("FUZZ_SEED", "20261124")))
    pool = seeds()
    deadline, cases = time.monotonic() + budget_s, 0
    broken: list[str] = []
    while time.monotonic() < deadline and len(broken) < 5:
        data = mutate(rng.choice(pool), rng)
        cases += 1
        why = check(data)
        if why:
            broken.append(f"{keep(CRASHERS, 'crash', data, why).name}: {why}")
    assert cases > 50, f"only {cases} cases in {budget_s} s"
    assert not broken, "new crashers kept in tests/data/fuzz/ (commit them):\n" + "\n".join(broken)
