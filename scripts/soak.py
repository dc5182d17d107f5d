"""Burst N uploads through an embedded emulator and the real worker, then reconcile: nothing may go missing.

Prints one JSON object (counts, wall time, images/s, the worker's peak RSS) and exits 1 if anything is missing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from pipeline import wiring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.local.harness import running_stack  # noqa: E402


def small_jpeg(i: int, w: int, h: int) -> bytes:
    """A distinct small image per upload."""
    img = Image.new("RGB", (w, h), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=2, help="the worker's pollers")
    p.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of each upload")
    p.add_argument("--backend", default=os.environ.get("EMULATOR", "ministack"))
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    with running_stack(
        args.backend,
        root=ROOT,
        log_dir=ROOT / ".run" / "soak",
        name="soak",
        concurrency=args.concurrency,
        visibility_s=60,
        wait_s=2,
    ) as stack:
        settings, clients = stack.settings, stack.clients
        records = wiring.records(settings, clients)
        started = time.monotonic()
        stack.upload("soak", args.count, lambda i: small_jpeg(i, w, h), threads=8)
        uploaded_s = time.monotonic() - started
        deadline = started + args.timeout
        counts = records.count_by_status()
        while counts["processed"] + counts["failed"] < args.count and time.monotonic() < deadline:
            # Counting walks the whole index on the emulator: look every few seconds, not every second.
            time.sleep(5 if args.count > 2000 else 1)
            counts = records.count_by_status()
        wall_s = time.monotonic() - started
        rss = peak_rss_mb(stack.worker.pid)
        rec = subprocess.run(
            [sys.executable, "-m", "pipeline", "reconcile"],
            cwd=ROOT,
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    report = json.loads(rec.stdout)
    result = {
        "count": args.count,
        "backend": args.backend,
        "worker_concurrency": args.concurrency,
        "processed": report["processed"],
        "failed": report["failed"],
        "processing": report["processing"],
        "missing": report["missing"],
        "renditions_missing": report["renditions_missing"],
        "upload_s": round(uploaded_s, 1),
        "wall_s": round(wall_s, 1),
        "images_per_s": round(report["processed"] / wall_s, 1) if wall_s else 0.0,
        "worker_peak_rss_mb": round(rss, 1),
    }
    print(json.dumps(result))
    return 0 if rec.returncode == 0 and report["missing"] == 0 and report["processed"] == args.count else 1


if __name__ == "__main__":
    raise SystemExit(main())
