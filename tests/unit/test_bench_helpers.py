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


def test_the_cost_counts_every_service_and_each_variant_adds_a_put_per_size() -> None:
    from cost import cost_per_million, requests_per_upload  # type: ignore[import-not-found]

    one, two = requests_per_upload(0, 100.0), requests_per_upload(1, 100.0)
    # GIVEN the fallback only THEN one upload is 4 PUTs (the upload, 3 renditions); WebP adds one PUT per size
    assert (one.s3_put, two.s3_put) == (4, 7)
    rows = [cost_per_million(n, 100.0) for n in (0, 1, 2)]
    for row in rows:  # every service is in the total
        assert set(row) == {"s3_put", "s3_get", "dynamodb", "sns", "sqs", "lambda", "total"}
        assert abs(sum(v for k, v in row.items() if k != "total") - row["total"]) < 0.05
    assert rows[0]["s3_put"] == 20.0 and rows[0]["total"] < rows[1]["total"] < rows[2]["total"]
