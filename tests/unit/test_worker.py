"""The local runner deletes exactly what the handler did not report, and nothing on a timeout."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import pytest

from pipeline.local.worker import Worker
from pipeline.settings import Settings


class FakeQueue:
    url = "http://q"

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete(self, handles: list[str]) -> list[str]:
        self.deleted.extend(handles)
        return []


def msgs(n: int) -> list[dict[str, Any]]:
    return [{"MessageId": f"m{i}", "ReceiptHandle": f"rh{i}", "Body": "{}"} for i in range(n)]


def test_deletes_only_records_that_succeeded() -> None:
    q = FakeQueue()
    w = Worker(Settings(), q, lambda e, c: {"batchItemFailures": [{"itemIdentifier": "m1"}]})  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as ex:
        assert w.run_batch(msgs(3), ex) == (2, 1)  # type: ignore[arg-type]
    assert q.deleted == ["rh0", "rh2"]


def test_handler_exception_deletes_nothing() -> None:
    q = FakeQueue()

    def boom(e: Any, c: Any) -> Any:
        raise RuntimeError("crash")

    w = Worker(Settings(), q, boom)  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as ex:
        assert w.run_batch(msgs(2), ex) == (0, 2)  # type: ignore[arg-type]
    assert q.deleted == []


def test_batch_timeout_deletes_nothing() -> None:
    q = FakeQueue()
    seen_remaining: list[int] = []

    def slow(e: Any, c: Any) -> Any:
        seen_remaining.append(c.get_remaining_time_in_millis())
        time.sleep(1.5)
        return {"batchItemFailures": []}

    w = Worker(Settings().with_(worker_batch_timeout_s=1), q, slow)  # type: ignore[arg-type]
    with ThreadPoolExecutor(1) as ex, pytest.raises(FutureTimeout):
        w.run_batch(msgs(2), ex)  # type: ignore[arg-type]
    assert q.deleted == [] and w.stats.timeouts == 1 and 0 < seen_remaining[0] <= 1000
