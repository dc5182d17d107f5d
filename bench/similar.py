"""How far apart the dHashes of one picture and of different pictures are: the measurement behind
`pipeline similar`'s default distance (docs/behaviour.md, "Placeholders and identity").

For 30 photo-like pictures: each one re-encoded at JPEG quality 30, 60 and 90, at 1/4, 1/2 and full size, and
cropped by 5%, against itself; and every pair of different pictures.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
from pathlib import Path

from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from images import photo  # noqa: E402

from pipeline.domain import hamming  # noqa: E402
from pipeline.imaging import dhash  # noqa: E402

THUMB = (150, 113)  # the hash is taken from the smallest rendition


def hashed(img: Image.Image) -> str:
    return dhash(img.resize(THUMB, Image.Resampling.LANCZOS))


def main() -> int:
    pictures = [photo(800, 600, seed) for seed in range(30)]
    hashes = [hashed(p) for p in pictures]
    same: list[int] = []
    for picture, h in zip(pictures, hashes, strict=True):
        for quality in (30, 60, 90):
            for scale in (0.25, 0.5, 1.0):
                buf = io.BytesIO()
                picture.resize((int(800 * scale), int(600 * scale)), Image.Resampling.LANCZOS).save(
                    buf, "JPEG", quality=quality
                )
                with Image.open(io.BytesIO(buf.getvalue())) as again:
                    same.append(hamming(h, hashed(again.convert("RGB"))))
        same.append(hamming(h, hashed(picture.crop((20, 15, 780, 585)))))
    different = [hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    result = {
        "same_max": max(same),
        "same_median": statistics.median(same),
        "different_min": min(different),
        "different_median": statistics.median(different),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
