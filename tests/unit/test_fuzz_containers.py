"""A structure-aware fuzzer for containers with frames and items: GIF, APNG, animated WebP, HEIF, AVIF, ICC.

Where test_fuzz_imaging.py flips bytes, this one builds valid-looking files from parts drawn at random (screen
and frame sizes, offsets past the edge, disposal, frame counts, default images, several HEIF images with any one
primary, extents that lie, profiles of every size and kind) with tests/crafted.py, and holds render() to:
- the exception type (ImageError only), a time bound, and the memory budget (VmHWM per case);
- for every accepted output, that it plays like the source: the size the screen (or primary image) fits to,
  the frame count recorded is the one in the bytes, the loop count kept, and a HEIF's primary image shown.
Every case that ever broke it is kept in tests/data/fuzz/containers/ and replayed first, always.

    FUZZ_S=30 (default in make test: FUZZ_S / 2)    make fuzz FUZZ_S=600    FUZZ_SEED=n to vary the run
"""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from pipeline.imaging import Limits, rendition_size
from pipeline.settings import Rendition
from tests import crafted
from tests.crafted import Frame
from tests.fuzzing import bounded_render, keep

ROOT = Path(__file__).resolve().parents[2]
KEPT = ROOT / "tests" / "data" / "fuzz" / "containers"
SMALL = (
    Rendition("large", 160, 120),
    Rendition("thumb", 40, 40),
    Rendition("square", 32, 32, crop=True, fallback=False, variants=("WEBP",)),
)
# Small budgets keep each case quick; the properties do not depend on the size.
LIMITS = Limits(
    max_bytes=4_000_000,
    max_pixels=40_000_000,
    max_work_bytes=64 << 20,
    variants=("WEBP",),
    animation_decode_pixels=4_000_000,
    render_seconds=1.0,
)
CASE_S = 5.0


def _gif(rng: random.Random) -> bytes:
    screen = (rng.choice((1, 10, 40, 120)), rng.choice((1, 10, 40, 90)))
    frames = []
    for i in range(rng.choice((1, 2, 3, 5, 40))):
        big = rng.random() < 0.1
        w = rng.choice((4000, 9000)) if big else rng.randint(1, 150)
        h = rng.choice((3000, 9000)) if big else rng.randint(1, 150)
        x, y = rng.randint(0, 200), rng.randint(0, 200)
        frames.append(Frame(x, y, w, h, i, rng.choice((0, 10, 90)), rng.randint(0, 3)))
    return crafted.gif(screen, frames, loop=rng.choice((None, 0, 1, 5)))


def _apng(rng: random.Random) -> bytes:
    size = (rng.randint(1, 120), rng.randint(1, 90))
    return crafted.apng(size, rng.randint(1, 6), default_image=rng.random() < 0.5, loop=rng.choice((0, 2)))


def _profile(rng: random.Random) -> bytes | None:
    kind = rng.randrange(4)
    if kind == 0:
        return None
    if kind == 1:
        return crafted.padded_profile(rng.choice((600, 5_000, 300_000, 2_000_000)))
    if kind == 2:
        return rng.randbytes(rng.randint(1, 4000))  # not a profile at all
    good = bytearray(crafted.srgb_profile())
    good[rng.randrange(len(good))] ^= 0xFF
    return bytes(good)


def _webp(rng: random.Random) -> bytes:
    size = (rng.randint(1, 160), rng.randint(1, 120))
    count = rng.choice((2, 3, 50, 1500))
    return crafted.animated_webp(size, count, icc=_profile(rng), loop=rng.choice((0, 3)))


def _heif(rng: random.Random) -> bytes:
    sizes = [(rng.randint(8, 300), rng.randint(8, 300)) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.3:
        sizes.append((rng.choice((3000, 6000)), rng.choice((2000, 4000))))
    return crafted.heif(sizes, primary=rng.randrange(len(sizes)))


def _avif(rng: random.Random) -> bytes:
    return crafted.avif_declaring(rng.choice((1, 64, 20000, 60000, 65535)), rng.choice((1, 48, 20000, 65535)))


def _png(rng: random.Random) -> bytes:
    return crafted.png_with_profile((rng.randint(1, 200), rng.randint(1, 200)), _profile(rng) or b"")


BUILDERS: dict[str, Callable[[random.Random], bytes]] = {
    "gif": _gif,
    "apng": _apng,
    "webp": _webp,
    "heif": _heif,
    "avif": _avif,
    "png": _png,
}


def plays_like_its_source(data: bytes, result_renditions: list[tuple[str, int, int, int, bytes]]) -> str | None:
    """None when every output plays like the source, else what differs."""
    with Image.open(io.BytesIO(data)) as src:
        screen = src.size
        loop = src.info.get("loop", 1) if getattr(src, "is_animated", False) else None
        if src.format == "GIF" and loop and "loop" in src.info:
            loop += 1  # a GIF counts repetitions after the first play, WebP counts plays (test_browser_parity.py)
        primary = src.convert("RGB").getpixel((src.width // 2, src.height // 2)) if src.format == "HEIF" else None
    for fmt, width, height, frames, out in result_renditions:
        with Image.open(io.BytesIO(out)) as im:
            if im.size != (width, height) or (width, height) not in {rendition_size(*screen, r) for r in SMALL}:
                return f"{fmt} {im.size}, from a {screen} source"
            if int(getattr(im, "n_frames", 1)) != frames:
                return f"{fmt} holds {getattr(im, 'n_frames', 1)} frames, recorded {frames}"
            if frames > 1 and loop is not None and im.info.get("loop") != loop:
                return f"{fmt} loops {im.info.get('loop')}, the source {loop}"
            if primary is not None:
                got = im.convert("RGB").getpixel((width // 2, height // 2))
                assert isinstance(got, tuple) and isinstance(primary, tuple)
                if any(abs(a - b) > 24 for a, b in zip(got, primary, strict=False)):
                    return f"{fmt} shows {got}, the primary image is {primary}"
    return None


def check(data: bytes) -> str | None:
    """None when every property holds for these bytes, else what broke."""
    result, broken = bounded_render(data, SMALL, LIMITS, CASE_S)
    if broken or result is None:
        return broken
    outputs = [(r.format, r.width, r.height, r.frames, r.data) for r in result.renditions]
    return plays_like_its_source(data, outputs)


def test_each_builder_makes_files_that_pillow_recognises() -> None:
    # The generator is only useful if what it builds is taken for the real thing (not refused at the header).
    rng = random.Random(1)
    for kind, build in BUILDERS.items():
        if kind != "avif":  # (extents that lie make libavif refuse it: that is the case it exists for)
            with Image.open(io.BytesIO(build(rng))) as im:
                assert im.format in ("GIF", "PNG", "WEBP", "HEIF"), kind


@pytest.mark.parametrize("path", sorted(KEPT.glob("*.bin")), ids=lambda p: p.name)
def test_every_kept_case_now_holds(path: Path) -> None:
    assert check(path.read_bytes()) is None


FUZZ_S = float(os.environ.get("FUZZ_S", "60")) / 2


@pytest.mark.timeout(FUZZ_S + 120)
def test_fuzz_containers() -> None:
    rng = random.Random(int(os.environ.get("FUZZ_SEED", "20261205")))
    deadline, cases = time.monotonic() + FUZZ_S, 0
    broken: list[str] = []
    kinds = list(BUILDERS)
    while time.monotonic() < deadline and len(broken) < 5:
        kind = kinds[cases % len(kinds)]
        data = BUILDERS[kind](rng)
        cases += 1
        why = check(data)
        if why:
            broken.append(f"{keep(KEPT, kind, data, why).name}: {why}")
    assert cases > 30, f"only {cases} cases in {FUZZ_S} s"
    assert not broken, "new cases kept in tests/data/fuzz/containers/ (commit them):\n" + "\n".join(broken)
