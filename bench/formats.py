"""Encoder settings by measurement: for WebP and AVIF, the size and time of each effort level at the quality that
matches our JPEG's (PSNR against the same uncompressed rendition), on photo-like renditions at each default size.

`python bench/formats.py` prints the table the constants in pipeline/imaging.py (WEBP_*, AVIF_*) were chosen from.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from images import encode as encode_image
from images import photo
from images import psnr_of as psnr

JPEG_QUALITY_DEFAULT = 85  # JPEG_QUALITY's default (pipeline/settings.py)

SIZES = [(800, 600), (400, 300), (150, 113)]
EFFORTS = {"WEBP": ("method", [0, 2, 4, 6]), "AVIF": ("speed", [10, 9, 8, 7, 6])}


def encode(img: Image.Image, fmt: str, **params: Any) -> tuple[bytes, float]:
    """Bytes and the median milliseconds of three encodes."""
    times, data = [], b""
    for _ in range(3):
        t = time.perf_counter()
        data = encode_image(img, fmt, **params)
        times.append((time.perf_counter() - t) * 1000)
    return data, statistics.median(times)


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def matched(ref: Image.Image, fmt: str, target: float, **params: Any) -> tuple[int, int, float, float]:
    """The lowest quality whose PSNR reaches the target (bisection over 1-100): (quality, bytes, ms, psnr)."""
    lo, hi = 1, 100
    while lo < hi:
        mid = (lo + hi) // 2
        data, _ = encode(ref, fmt, quality=mid, **params)
        if psnr(ref, decoded(data)) >= target:
            hi = mid
        else:
            lo = mid + 1
    data, ms = encode(ref, fmt, quality=lo, **params)
    return lo, len(data), ms, psnr(ref, decoded(data))


def main() -> int:
    sources = [photo(1600, 1200, 11), photo(1600, 1200, 12)]
    photo_jpg = Path(__file__).resolve().parents[1] / "samples" / "photo.jpg"
    with Image.open(photo_jpg) as im:
        sources.append(im.convert("RGB"))
    rows: list[dict[str, Any]] = []
    for size in SIZES:
        refs = [s.resize(size, Image.Resampling.LANCZOS) for s in sources]
        jpegs = [encode(r, "JPEG", quality=JPEG_QUALITY_DEFAULT) for r in refs]
        target = statistics.median(psnr(r, decoded(d)) for r, (d, _) in zip(refs, jpegs, strict=True))
        jpeg_bytes = statistics.median(len(d) for d, _ in jpegs)
        jpeg_ms = statistics.median(ms for _, ms in jpegs)
        rows.append({"size": f"{size[0]}x{size[1]}", "format": "JPEG", "effort": "-", "quality": JPEG_QUALITY_DEFAULT,
                     "bytes": int(jpeg_bytes), "ms": round(jpeg_ms, 1), "psnr": round(target, 2)})  # fmt: skip
        for fmt, (param, levels) in EFFORTS.items():
            for level in levels:
                got = [matched(r, fmt, target, **{param: level}) for r in refs]
                rows.append(
                    {
                        "size": f"{size[0]}x{size[1]}",
                        "format": fmt,
                        "effort": f"{param}={level}",
                        "quality": int(statistics.median(g[0] for g in got)),
                        "bytes": int(statistics.median(g[1] for g in got)),
                        "ms": round(statistics.median(g[2] for g in got), 1),
                        "psnr": round(statistics.median(g[3] for g in got), 2),
                    }
                )
    print(f"{'size':<8} {'format':<5} {'effort':<9} {'q':>3} {'bytes':>7} {'ms':>7} {'PSNR':>6}")
    for r in rows:
        print(f"{r['size']:<8} {r['format']:<5} {r['effort']:<9} {r['quality']:>3} {r['bytes']:>7} {r['ms']:>7} "
              f"{r['psnr']:>6}")  # fmt: skip
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
