"""The libvips wiki's speed-and-memory task, by Pillow or pyvips: load a TIFF, crop 100 px from every edge, shrink
to 90% (bilinear), sharpen with a 3x3 kernel (scale 8), save a TIFF. Prints the job's seconds and the process's
peak memory (the wiki reports the whole process's)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

KERNEL = [-1, -1, -1, -1, 16, -1, -1, -1, -1]


def pillow(src: str, dst: str) -> None:
    """The task with Pillow."""
    from PIL import Image, ImageFilter

    with Image.open(src) as im:
        w, h = im.size
        im = im.crop((100, 100, w - 100, h - 100))
        im = im.resize((round(im.width * 0.9), round(im.height * 0.9)), Image.Resampling.BILINEAR)
        im = im.filter(ImageFilter.Kernel((3, 3), KERNEL, scale=8))
        im.save(dst, format="TIFF")


def vips(src: str, dst: str) -> None:
    """The task with pyvips, streaming (sequential access)."""
    import pyvips

    im = pyvips.Image.new_from_file(src, access="sequential")
    im = im.crop(100, 100, im.width - 200, im.height - 200)
    im = im.reduce(1 / 0.9, 1 / 0.9, kernel="linear")
    mask = pyvips.Image.new_from_array([KERNEL[0:3], KERNEL[3:6], KERNEL[6:9]], scale=8)
    im = im.conv(mask, precision="integer")
    im.write_to_file(dst)


def main() -> int:
    spec = json.loads(sys.argv[1])
    t = time.perf_counter()
    {"pillow": pillow, "pyvips": vips}[spec["engine"]](spec["input"], spec["out"])
    seconds = time.perf_counter() - t
    peak = next(int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    print(json.dumps({"s": seconds, "peak_mb": peak / 1024}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
