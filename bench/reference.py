"""The reference design's handler core, kept as the baseline (not part of the package).

For each size it copies the full-resolution original and calls thumbnail() with LANCZOS on the copy, then saves
JPEG at quality 85. One change so that it runs on every image type: a mode JPEG cannot hold is converted to RGB
before saving (the reference itself would raise on RGBA, P or 16-bit input).
"""

from __future__ import annotations

import io

from PIL import Image

SIZES = ((800, 600), (400, 300), (150, 150))


def reference_renditions(data: bytes) -> list[bytes]:
    """Make the three renditions the way the reference handler does."""
    img = Image.open(io.BytesIO(data))
    out = []
    for w, h in SIZES:
        copy = img.copy()
        copy.thumbnail((w, h), Image.LANCZOS)
        if copy.mode not in ("RGB", "L"):
            copy = copy.convert("RGB")
        buf = io.BytesIO()
        copy.save(buf, format="JPEG", quality=85)
        out.append(buf.getvalue())
    return out
