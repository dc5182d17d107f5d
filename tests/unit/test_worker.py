"""The local runner deletes exactly what the handler did not report, and nothing on a timeout."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import pytest

from pipeline.local.worker import VARIANTS_POLLERS, MemoryGate, Worker
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


def test_the_memory_gate_admits_renders_only_while_they_fit_one_budget_together() -> None:
    gate = MemoryGate(100, wait_s=10)
    peak, lock = [0], threading.Lock()

    def render(nbytes: int) -> None:
        with gate.hold(nbytes):
            with lock:
                peak[0] = max(peak[0], gate.held)
            time.sleep(0.05)

    # GIVEN four renders of 60 (two would not fit together) and four of 20 (they would)
    for size, most in ((60, 60), (20, 80)):
        peak[0] = 0
        threads = [threading.Thread(target=render, args=(size,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        # THEN what was held at once never passed the budget, and small ones did run side by side
        assert peak[0] == most and gate.held == 0
    # AND one render larger than the whole budget still runs (alone): the budget refused it earlier if it must
    render(150)
    assert peak[0] == 150


class WaitingQueue(FakeQueue):
    """A queue whose receive returns one message only once `together` receivers are waiting on it at once."""

    def __init__(self, together: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(together, timeout=5)
        self.met = threading.Event()

    def arn(self) -> str:
        return "arn:aws:sqs:us-east-1:000000000000:q"

    def receive(self, max_messages: int, wait_s: int) -> list[dict[str, Any]]:
        if self.met.is_set():
            time.sleep(0.01)
            return []
        self.barrier.wait()
        self.met.set()
        return []


class IdleQueue(WaitingQueue):
    def receive(self, max_messages: int, wait_s: int) -> list[dict[str, Any]]:
        time.sleep(0.01)
        return []


def test_deferred_variants_are_polled_as_concurrently_as_aws_runs_them() -> None:
    # GIVEN a worker with a variants queue that answers only when two pollers wait on it at once
    variants = WaitingQueue(together=2)
    w = Worker(Settings(), IdleQueue(1), lambda e, c: {"batchItemFailures": []}, variants=variants)  # type: ignore[arg-type]
    w.start()
    try:
        # THEN two of its batches can be in flight together, as terraform's variants_max_concurrency (2) allows
        assert variants.met.wait(5), "only one poller on the variants queue"
    finally:
        w.stop.set()
        for t in w.threads:
            t.join(5)


def test_the_local_variants_pollers_are_terraforms_default() -> None:
    text = (Path(__file__).resolve().parents[2] / "terraform" / "variables.tf").read_text()
    block = re.search(r'variable "variants_max_concurrency" \{.*?default\s*=\s*(\d+)', text, re.S)
    assert block is not None and int(block.group(1)) == VARIANTS_POLLERS
