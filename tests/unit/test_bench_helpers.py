"""The benchmark's own pieces behave (its numbers live in `make bench`, never in timed tests)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import peers  # type: ignore[import-not-found]
from cost import LEVERS, cost_per_million, levers, requests_per_upload  # type: ignore[import-not-found]
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
    one, two = requests_per_upload(0, 100.0), requests_per_upload(1, 100.0)
    # GIVEN the fallback only THEN one upload is 4 PUTs (the upload, 3 renditions); WebP adds one PUT per size
    assert (one.s3_put, two.s3_put) == (4, 7)
    rows = [cost_per_million(n, 100.0) for n in (0, 1, 2)]
    for row in rows:  # every service is in the total
        assert set(row) == {"s3_put", "s3_get", "dynamodb", "sns", "sqs", "lambda", "total"}
        assert abs(sum(v for k, v in row.items() if k != "total") - row["total"]) < 0.05
    assert rows[0]["s3_put"] == 20.0 and rows[0]["total"] < rows[1]["total"] < rows[2]["total"]


def test_each_cost_lever_counts_its_objects_and_who_gets_every_size() -> None:
    rows = {r["lever"]: r for r in levers(100.0, {"webp": 99.5, "avif": 95.0})}
    assert set(rows) == set(LEVERS)
    today = rows["every size: fallback, WebP, AVIF (the default)"]
    webp_only = rows["WebP everywhere, fallback at the large size"]
    no_fallback = rows["fallback at the large size only"]
    # one object a rendition, counted from the RENDITIONS setting the lever names (the function's own rules)
    assert (today["objects"], no_fallback["objects"], webp_only["objects"]) == (9, 7, 4)
    # a size without its fallback is shown by browsers that show one of its formats
    assert (today["every_size_pct"], webp_only["every_size_pct"], no_fallback["every_size_pct"]) == (100.0, 99.5, 99.5)
    # fewer objects cost less (S3 PUTs are most of the bill)
    assert float(webp_only["usd_per_million"]) < float(no_fallback["usd_per_million"]) < float(today["usd_per_million"])


def test_the_peers_goals_compare_time_memory_quality_and_bytes_with_sharp() -> None:

    def engine(ms: float, mb: float, ssim: float, size: int) -> dict[str, object]:
        out = {"size": "large", "format": "JPEG", "ssim": ssim, "bytes": size}
        return {"ms": ms, "extra_mb": mb, "outputs": [out]}

    results = {
        "inputs": {
            "a": {"ours": engine(10, 5, 0.99, 100), "sharp": engine(20, 50, 0.99, 120)},
            "b": {"ours": engine(30, 5, 0.95, 130), "sharp": engine(20, 50, 0.99, 120)},
            "c": {"ours": engine(30, 5, 0.95, 130), "sharp": {"error": "unsupported image format"}},
        }
    }
    verdicts = peers.goals(results)
    assert {k: v for k, v in verdicts["a"].items() if k.endswith("_ok")} == dict.fromkeys(
        ("time_ok", "memory_ok", "quality_ok", "bytes_ok"), True
    )
    assert (verdicts["b"]["time_ok"], verdicts["b"]["quality_ok"], verdicts["b"]["bytes_ok"]) == (False, False, False)
    assert verdicts["b"]["bytes"] == {"ours": 130, "sharp": 120}
    assert verdicts["c"] == {"compared": False, "why": "unsupported image format"}


def test_the_peers_bench_takes_your_own_files(tmp_path: Path) -> None:
    # Held-out runs repeat the comparison on other inputs: `make bench-peers PEERS_ARGS="a.jpg b/a.jpg"`.
    (tmp_path / "b").mkdir()
    for f in (tmp_path / "a.jpg", tmp_path / "b" / "a.jpg", tmp_path / "c.png"):
        f.write_bytes(b"x")
    named = peers.own_inputs([tmp_path / "a.jpg", tmp_path / "b" / "a.jpg", tmp_path / "c.png"])
    assert list(named) == ["a.jpg", "2-a.jpg", "c.png"] and named["2-a.jpg"] == (tmp_path / "b" / "a.jpg")
    with pytest.raises(SystemExit, match=r"no such file: .*nope\.jpg"):
        peers.own_inputs([tmp_path / "nope.jpg"])
