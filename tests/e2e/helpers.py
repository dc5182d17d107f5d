"""Helpers for e2e tests: a worker running in the test, bounded waits, reading the audit queue."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from pipeline.adapters.queue import Queue
from pipeline.adapters.records import ImageRecords
from pipeline.domain import ImageRecord, Status
from pipeline.e2e import is_ended, notification
from pipeline.local.worker import Worker, build_worker

T = TypeVar("T")


def wait_for(
    fn: Callable[[], T | Literal[False] | None], *, timeout: float = 30, every: float = 0.3, what: str = "condition"
) -> T:
    """Call fn until it returns something truthy, at most `timeout` seconds; fail the test otherwise."""
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(every),
        retry=retry_if_result(lambda r: not r),
        retry_error_callback=lambda state: None,
    )
    result = retrying(fn)
    if not result:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return result


@contextmanager
def running_worker(settings: Any, clients: Any) -> Iterator[Worker]:
    """A real worker (the `pipeline worker` code) consuming the stack's queue in background threads."""
    worker = build_worker(settings, clients)
    threads = worker.start()
    try:
        yield worker
    finally:
        worker.stop.set()
        for t in threads:
            t.join(timeout=settings.local.worker_wait_s + settings.batch_timeout_s + 5)
        assert not any(t.is_alive() for t in threads), "worker threads did not stop"
        worker.close()


def read_notifications(audit: Queue, *, seconds: float = 3) -> list[dict[str, Any]]:
    """Every notification that arrives on the audit queue within `seconds` (consumed)."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        messages = audit.receive(max_messages=10, wait_s=1)
        out.extend(notification(m) for m in messages)
        if messages:
            audit.delete([m["ReceiptHandle"] for m in messages])
    return out


def ended(records: ImageRecords, key: str) -> ImageRecord | None:
    """The key's record once it is processed or failed and published, else None (for wait_for)."""
    record = records.get(key)
    return record if is_ended(record) else None


def status_is(records: ImageRecords, key: str, status: Status, etag: str | None = None) -> ImageRecord | None:
    """The key's record once it has this status, published (and this ETag), else None (for wait_for)."""
    r = records.get(key)
    ok = r is not None and r.status is status and r.published and (etag is None or r.version.etag == etag)
    return r if ok else None


def s3_event(bucket: str, key: str, etag: str, sequencer: str) -> str:
    """An S3 ObjectCreated event body, as S3 would (re)deliver it."""
    from urllib.parse import quote_plus

    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "eventTime": "2026-11-22T12:00:00.000Z",
                    "s3": {
                        "bucket": {"name": bucket},
                        "object": {"key": quote_plus(key, safe="/"), "eTag": etag, "sequencer": sequencer},
                    },
                }
            ]
        }
    )
