"""The pipeline's job done by one Python engine (ours, pyvips or the reference handler), in a process of its own.

Run by bench/peers.py with one JSON argument (the job) and prints one JSON line: the times of each repeat, the
process's memory before and at its peak, and the renditions of the last repeat (written to files), or images per
second in throughput mode. pyvips runs from the peers' virtualenv, ours and the reference from the project's.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "AVIF": "avif"}
Job = dict[str, Any]
Outputs = list[tuple[str, str, bytes]]  # (size, format, bytes)


def _status(key: str) -> float:
    """A /proc/self/status figure in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0


def ours(job: Job) -> Callable[[bytes], Outputs]:
    """Our imaging core with every format in line (the same job as the peers'; the handler defers AVIF)."""
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root))
    from pipeline.imaging import Limits, render
    from pipeline.settings import DEFAULT_RENDITIONS, parse_renditions

    renditions = parse_renditions(DEFAULT_RENDITIONS)
    limits = Limits(variants=tuple(f for f in job["formats"] if f in ("WEBP", "AVIF")))

    def run(data: bytes) -> Outputs:
        return [(r.name, r.format, r.data) for r in render(data, renditions, limits).renditions]

    return run


def reference(job: Job) -> Callable[[bytes], Outputs]:
    """The seed's reference handler: JPEG only, each size from a copy of the full-resolution original."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from reference import reference_renditions

    names = [name for name, _, _ in job["sizes"]]

    def run(data: bytes) -> Outputs:
        return [(n, "JPEG", b) for n, b in zip(names, reference_renditions(data), strict=True)]

    return run


def vips(job: Job) -> Callable[[bytes], Outputs]:
    """pyvips (libvips from pyvips-binary), as its documentation advises: thumbnail (shrink-on-load, orientation,
    sRGB), the pixels kept in memory once, then each format saved from them with metadata left out."""
    import pyvips

    pyvips.cache_set_max(0)  # measure the job, not what a cache keeps between calls
    q = job["quality"]

    def save(img: Any, fmt: str) -> bytes:
        if fmt == "JPEG":
            if img.hasalpha():
                img = img.flatten(background=[255, 255, 255])
            return bytes(img.jpegsave_buffer(Q=q["JPEG"], keep="none"))
        if fmt == "PNG":
            return bytes(img.pngsave_buffer(keep="none"))
        if fmt == "WEBP":
            return bytes(img.webpsave_buffer(Q=q["WEBP"], effort=q["WEBP_EFFORT"], keep="none"))
        return bytes(img.heifsave_buffer(Q=q["AVIF"], effort=q["AVIF_EFFORT"], compression="av1", keep="none"))

    def sized(data: bytes, w: int, h: int, **options: Any) -> Any:
        img = pyvips.Image.thumbnail_buffer(data, w, height=h, size="down", export_profile="srgb", **options)
        return img.colourspace("srgb") if img.bands > 2 and img.interpretation != "srgb" else img

    def run(data: bytes) -> Outputs:
        out: Outputs = []
        for name, w, h in job["sizes"]:
            img = sized(data, w, h).copy_memory()
            for fmt in job["formats"]:
                # an animation's WebP is every frame; its other formats are the first frame, as ours
                moving = job["animated"] and fmt == "WEBP"
                out.append((name, fmt, save(sized(data, w, h, option_string="n=-1") if moving else img, fmt)))
        return out

    return run


ENGINES = {"ours": ours, "reference": reference, "pyvips": vips}


def _one(job: Job) -> int:
    """One image (a throughput worker's unit)."""
    data = Path(job["input"]).read_bytes()
    return len(_RUN(data)) if _RUN else 0


_RUN: Callable[[bytes], Outputs] | None = None


def _init(job: Job) -> None:
    global _RUN
    _RUN = ENGINES[job["engine"]](job)


def main() -> int:
    job: Job = json.loads(sys.argv[1])
    run = ENGINES[job["engine"]](job)
    data = Path(job["input"]).read_bytes()
    if job.get("throughput"):
        # Ours in processes (the GIL holds Pillow's Python parts to one core in threads; "pool": "threads" measures
        # that too, as the local worker runs today); pyvips in threads (libvips releases the GIL for its pipeline).
        pool: Executor
        if job["engine"] == "pyvips" or job.get("pool") == "threads":
            _init(job)
            pool = ThreadPoolExecutor(job["concurrency"])
        else:
            pool = ProcessPoolExecutor(job["concurrency"], initializer=_init, initargs=(job,))
        with pool:
            list(pool.map(_one, [job] * job["concurrency"]))  # warm every worker first
            t = time.perf_counter()
            list(pool.map(_one, [job] * job["throughput"]))
            print(json.dumps({"images_per_s": job["throughput"] / (time.perf_counter() - t)}))
        return 0
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) from here on
    base = _status("VmRSS:")
    times: list[float] = []
    outputs: Outputs = []
    try:
        for _ in range(job["repeats"]):
            t = time.perf_counter()
            outputs = run(data)
            times.append((time.perf_counter() - t) * 1000)
    except Exception as e:  # an engine that cannot read the input: reported, not a crash of the bench
        print(json.dumps({"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}))
        return 0
    peak = _status("VmHWM:")
    out_dir = Path(job["out"])
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for size, fmt, blob in outputs:
        f = out_dir / f"{size}.{EXT[fmt]}"
        f.write_bytes(blob)
        written.append({"size": size, "format": fmt, "file": str(f), "bytes": len(blob)})
    print(json.dumps({"ms": times, "base_mb": base, "peak_mb": peak, "outputs": written}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
