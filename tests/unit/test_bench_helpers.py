"""The benchmark's own pieces behave (its numbers live in `make bench`, never in timed tests)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from reference import reference_renditions  # type: ignore[import-not-found]
from run import psnr  # type: ignore[import-not-found]

from tests.images import encode, marked


def test_reference_makes_three_jpeg_thumbnails_of_the_full_image() -> None:
    outs = reference_renditions(encode(marked(1600, 1200), "JPEG"))
    sizes = [Image.open(io.BytesIO(o)).size for o in outs]
    assert sizes == [(800, 600), (400, 300), (150, 113)]


def test_psnr_is_high_for_equal_and_low_for_different_images() -> None:
    a = encode(marked(400, 300), "PNG")
    b = encode(marked(400, 300).transpose(Image.Transpose.ROTATE_180), "PNG")
    assert psnr(a, a) == 99.0 and psnr(a, b) < 15
