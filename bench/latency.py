"""Upload-to-notification latency on the local stack: idle (one upload at a time) and under a burst.

For each upload: from the moment its PUT returns to the first `processed` notification on the results topic
(the in-line renditions), and to the last one (every format: with the defaults, the deferred AVIF, which waits
DEFER_DELAY_S before it starts). p50 and p95 of each, through the embedded emulator and the real worker process.

    python bench/latency.py [--idle 20] [--burst 500] [--backend ministack]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from images import encode, photo  # noqa: E402

from pipeline import wiring  # noqa: E402
from pipeline.adapters.queue import Queue  # noqa: E402
from pipeline.e2e import notification  # noqa: E402
from pipeline.local.bootstrap import ensure_audit_queue  # noqa: E402
from pipeline.local.harness import running_stack  # noqa: E402
from pipeline.ops.stack import describe  # noqa: E402


class Listener:
    """Reads the audit queue in a thread: when each key's notifications arrived."""

    def __init__(self, audit: Queue) -> None:
        self.audit, self.arrivals = audit, {}  # type: dict[str, list[tuple[float, int]]]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            messages = self.audit.receive(max_messages=10, wait_s=1)
            now = time.perf_counter()
            for m in messages:
                note = notification(m)["message"]
                self.arrivals.setdefault(str(note.get("key")), []).append((now, len(note.get("renditions") or [])))
            if messages:
                self.audit.delete([m["ReceiptHandle"] for m in messages])

    def complete(self, key: str, renditions: int) -> bool:
        """Whether the key's notification listing every rendition has arrived."""
        return any(n >= renditions for _, n in self.arrivals.get(key, []))


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 and p95 in ms."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000), "p95_ms": round(p95 * 1000), "n": len(ordered)}


def _latencies(put_at: dict[str, float], listener: Listener, renditions: int) -> dict[str, Any]:
    first, last = [], []
    for key, t0 in put_at.items():
        arrivals = listener.arrivals.get(key, [])
        if arrivals:
            first.append(min(t for t, _ in arrivals) - t0)
        done = [t for t, n in arrivals if n >= renditions]
        if done:
            last.append(min(done) - t0)
    missing = len(put_at) - len(last)
    return {"first": percentiles(first), "every_format": percentiles(last) if last else None, "missing": missing}


def measure(backend: str, idle: int, burst: int, concurrency: int, timeout_s: float = 900) -> dict[str, Any]:
    """Idle, then burst latencies on a fresh local stack."""
    data = encode(photo(1632, 1224, 7), "JPEG", quality=90)  # a 2 MP photo, the same bytes every time
    with running_stack(
        backend, root=ROOT, log_dir=HERE / ".cache" / "latency", name="lat", concurrency=concurrency, visibility_s=120
    ) as stack:
        settings, clients = stack.settings, stack.clients
        audit_url = ensure_audit_queue(settings, clients, describe(settings, clients).results_topic_arn)
        listener = Listener(wiring.queue_at(clients, audit_url))
        renditions = len(settings.imaging.renditions) * (1 + len(settings.imaging.variants))
        bucket, prefix = settings.names.input_bucket, settings.names.input_prefix
        time.sleep(2)  # let the pollers start
        out: dict[str, Any] = {"renditions": renditions, "defer_delay_s": settings.timing.defer_delay_s}

        def put(key: str) -> tuple[str, float]:
            clients.s3.put_object(Bucket=bucket, Key=key, Body=data)
            return key, time.perf_counter()

        def wait(keys: list[str]) -> None:
            deadline = time.perf_counter() + timeout_s
            while time.perf_counter() < deadline and not all(listener.complete(k, renditions) for k in keys):
                time.sleep(0.1)

        idle_at: dict[str, float] = {}
        for i in range(idle):
            key, t0 = put(f"{prefix}idle/{i:04d}.jpg")
            idle_at[key] = t0
            wait([key])
        out["idle"] = _latencies(idle_at, listener, renditions)
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            burst_at = dict(pool.map(put, [f"{prefix}burst/{i:05d}.jpg" for i in range(burst)]))
        wait(list(burst_at))
        out["burst"] = _latencies(burst_at, listener, renditions) | {
            "count": burst,
            "wall_s": round(time.perf_counter() - started, 1),
        }
        listener.stop.set()
        listener.thread.join(timeout=5)
    return out


def main() -> int:
    """Entry point: print the JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--idle", type=int, default=20)
    ap.add_argument("--burst", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--backend", default="ministack")
    args = ap.parse_args()
    print(json.dumps(measure(args.backend, args.idle, args.burst, args.concurrency)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
