"""Burst N uploads through an embedded emulator and the real worker; reconcile while it works and once settled.

Settled means every upload ended, deferred variants included, and both queues drained. Prints one JSON object
(counts, wall time, images/s, the worker's peak RSS, what reconcile found while it was moving) and exits 1 if
reconcile finds damage at either time, anything is missing, or the bound is hit before it settles.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from pipeline import wiring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.errors import TransientError  # noqa: E402
from pipeline.local.harness import running_stack  # noqa: E402
from pipeline.ops.reconcile import DAMAGE  # noqa: E402
from pipeline.ops.settle import NotSettled, Progress, progress, wait_settled  # noqa: E402


def small_jpeg(i: int, w: int, h: int) -> bytes:
    """A distinct small image per upload."""
    img = Image.new("RGB", (w, h), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def peak_rss_mb(pid: int) -> float:
    """The peak resident set size (VmHWM) of the worker and its render processes, summed (an upper bound of their
    peak together), in MB."""
    from pipeline.local.emulator import process_tree

    kb = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):  # ended meanwhile
            kb += sum(
                int(line.split()[1])
                for line in Path(f"/proc/{p}/status").read_text().splitlines()
                if line.startswith("VmHWM:")
            )
    return kb / 1024


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=2, help="the worker's pollers")
    p.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of each upload")
    p.add_argument("--backend", default=os.environ.get("EMULATOR", "ministack"))
    p.add_argument(
        "--timeout", type=float, default=0, help="seconds before it gives up (0: 30 min or 0.6 s an image, the longer)"
    )
    args = p.parse_args()
    # LocalStack on 2 shared cores settles 10,000 images (fallback, WebP and the deferred AVIF) in about 50 min:
    # a fixed 30 min bound stopped it with the AVIF queue still draining.
    args.timeout = args.timeout or max(1800.0, 0.6 * args.count)
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
        say(f"uploading {args.count} images of {args.size} to {settings.endpoint_url} ({args.backend})")
        stack.upload("soak", args.count, lambda i: small_jpeg(i, w, h), threads=8)
        uploaded_s = time.monotonic() - started
        say(f"uploaded {args.count} in {uploaded_s:.0f} s; waiting for half of them to be processed")
        # Reconcile once while the burst is still moving (deferred variants in flight): it must find no damage.
        tick = Ticker(30)

        def half() -> bool:
            try:
                done = records.count_by_status()["processed"]
            except TransientError:  # a failed count (LocalStack under load): the next one decides
                return False
            tick.say(f"{done} of {args.count} processed")
            return done >= args.count // 2

        def reading() -> Progress:
            now = progress(settings, clients)
            tick.say("settling: " + now.moving(args.count))
            return now

        wait_until(half, started + args.timeout)
        say("reconciling while the burst moves (it must report no damage)")
        during = reconcile(stack.env)
        try:
            final = wait_settled(
                reading,
                args.count,
                timeout_s=max(1.0, started + args.timeout - time.monotonic()),
                every_s=5 if args.count > 2000 else 1,  # counting walks the whole index on the emulator
            )
            moving = ""
        except NotSettled as e:
            final, moving = progress(settings, clients), str(e)
        wall_s = time.monotonic() - started
        rss = peak_rss_mb(stack.worker.pid)
        say(f"{'settled' if not moving else 'not settled'} after {wall_s:.0f} s; reconciling once more")
        after = reconcile(stack.env)
    report = after["report"]
    result = {
        "count": args.count,
        "backend": args.backend,
        "worker_concurrency": args.concurrency,
        "processed": report["processed"],
        "failed": report["failed"],
        "processing": report["processing"],
        "missing": report["missing"],
        "renditions_missing": report["renditions_missing"],
        "damage_during": {k: during["report"][k] for k in DAMAGE if during["report"][k]},
        "in_flight_during": during["report"]["in_flight"],
        "settled": not moving,
        "upload_s": round(uploaded_s, 1),
        "wall_s": round(wall_s, 1),
        "images_per_s": round(report["processed"] / wall_s, 1) if wall_s else 0.0,
        "worker_peak_rss_mb": round(rss, 1),
    }
    print(json.dumps(result))
    if moving:
        print(f"soak: {moving}", file=sys.stderr)
    clean = during["code"] == 0 and after["code"] == 0 and not moving and final.ended == args.count
    return 0 if clean and report["processed"] == args.count else 1


def say(text: str) -> None:
    """A progress line for the person waiting (stderr, so stdout stays the one JSON report)."""
    print(f"soak {time.strftime('%H:%M:%S')}: {text}", file=sys.stderr, flush=True)


class Ticker:
    """Progress lines at most every `every_s` seconds, however often it is asked."""

    def __init__(self, every_s: float) -> None:
        self.every_s, self.last = every_s, 0.0

    def say(self, text: str) -> None:
        """Say it if the last line is `every_s` old."""
        if time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            say(text)


def wait_until(ready: Callable[[], bool], deadline: float) -> None:
    """Poll until ready() or the deadline (monotonic)."""
    while not ready() and time.monotonic() < deadline:
        time.sleep(1)


def reconcile(env: dict[str, str]) -> dict[str, Any]:
    """`pipeline reconcile` as an operator runs it: its report and exit code."""
    rec = subprocess.run(
        [sys.executable, "-m", "pipeline", "reconcile"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if rec.returncode not in (0, 1):
        raise SystemExit(f"soak: pipeline reconcile failed: {rec.stderr.strip()[-500:]}")
    return {"report": json.loads(rec.stdout), "code": rec.returncode}


if __name__ == "__main__":
    raise SystemExit(main())
