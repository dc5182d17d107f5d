"""The SQS event source mapping, done locally: poll, call the Lambda handler, delete what succeeded."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from pipeline.adapters.queue import Queue
from pipeline.aws import Clients
from pipeline.events import BatchResponse, SQSEvent, SQSRecord
from pipeline.local.alarms import DlqAlarm
from pipeline.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger(__name__)

Handler = Callable[[SQSEvent, Any], BatchResponse]


@dataclass
class LocalContext:
    """The parts of a Lambda context object that handlers use."""

    function_name: str
    aws_request_id: str
    invoked_function_arn: str
    deadline: float
    # What Lambda's context says of the function itself: fixed for the local runner.
    memory_limit_in_mb: ClassVar[int] = 512
    function_version: ClassVar[str] = "$LATEST"
    log_group_name: ClassVar[str] = "/aws/lambda/local"
    log_stream_name: ClassVar[str] = "local"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the per-batch timeout."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def _message_attributes(raw: dict[str, Any]) -> dict[str, Any]:
    # Lambda spells message attributes in camelCase; SQS's API answers in PascalCase.
    out: dict[str, Any] = {}
    for name, attr in raw.items():
        out[name] = {
            "dataType": attr.get("DataType", "String"),
            "stringValue": attr.get("StringValue"),
            "binaryValue": attr.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
        }
    return out


def to_lambda_event(messages: list[MessageTypeDef], queue_arn: str, region: str) -> SQSEvent:
    """Turn received SQS messages into the event Lambda's SQS event source mapping would send."""
    records: list[SQSRecord] = []
    for m in messages:
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m.get("Body", ""),
                "attributes": {str(k): v for k, v in m.get("Attributes", {}).items()},
                "messageAttributes": _message_attributes(dict(m.get("MessageAttributes", {}))),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


@dataclass
class WorkerStats:
    """Counters a worker keeps, for logs and tests."""

    batches: int = 0
    received: int = 0
    deleted: int = 0
    retried: int = 0
    timeouts: int = 0
    last_activity: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        """Add to counters, thread-safely."""
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)
            self.last_activity = time.monotonic()


# As many batches of deferred variants at once as AWS runs by default (terraform's variants_max_concurrency): with
# one, LocalStack's AVIF queue drained at about 4 a second and was most of a 10,000-image soak's hour.
VARIANTS_POLLERS = 2


class Worker:
    """Long-polls the job queue with bounded concurrency and calls the handler like Lambda would.

    The variants queue (deferred AVIF), when given, gets VARIANTS_POLLERS of its own: lower priority, as the second
    event source mapping's maximum concurrency makes it in AWS (terraform's variants_max_concurrency, 2 at least).
    """

    def __init__(
        self,
        settings: Settings,
        queue: Queue,
        handler: Handler,
        alarm: DlqAlarm | None = None,
        variants: Queue | None = None,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.variants = variants
        self.handler = handler
        self.alarm = alarm
        self.stop = threading.Event()
        self.stats = WorkerStats()
        self._arns: dict[str, str] = {}
        self.threads: list[threading.Thread] = []
        # What to stop once the pollers have (the render processes): close().
        self.closers: list[Callable[[], None]] = []

    def run_batch(
        self, messages: list[MessageTypeDef], executor: ThreadPoolExecutor, queue: Queue | None = None
    ) -> tuple[int, int]:
        """Call the handler on one batch and delete the records it did not report; returns (deleted, retried)."""
        queue = queue or self.queue
        event = to_lambda_event(messages, self._arns.get(queue.url, ""), self.settings.region)
        request_id = str(uuid.uuid4())
        timeout = self.settings.batch_timeout_s
        context = LocalContext(
            function_name=f"{self.settings.names.name_prefix}-processor",
            aws_request_id=request_id,
            invoked_function_arn=f"arn:aws:lambda:{self.settings.region}:000000000000:function:local",
            deadline=time.monotonic() + timeout,
        )
        future = executor.submit(self.handler, event, context)
        try:
            response = future.result(timeout=timeout)
        except FutureTimeout:
            # Like a Lambda timeout: nothing is deleted, every record comes back after the visibility timeout.
            log.error(
                "batch timed out after %ss; all records will be retried",
                timeout,
                extra={"request_id": request_id, "records": len(messages)},
            )
            self.stats.add(timeouts=1, retried=len(messages), batches=1)
            raise
        except Exception:
            log.exception("handler raised; all records will be retried", extra={"request_id": request_id})
            self.stats.add(retried=len(messages), batches=1)
            return 0, len(messages)
        failed_ids = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [m["ReceiptHandle"] for m in messages if m["MessageId"] not in failed_ids]
        not_deleted = queue.delete(done) if done else []
        if not_deleted:
            log.warning("could not delete %d message(s); they will be seen again", len(not_deleted))
        deleted = len(done) - len(not_deleted)
        self.stats.add(batches=1, deleted=deleted, retried=len(failed_ids))
        log.info("batch done", extra={"request_id": request_id, "deleted": deleted, "retried": len(failed_ids)})
        return deleted, len(failed_ids)

    def _poll_loop(self, n: int, queue: Queue) -> None:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"handler-{n}")
        delay = 0.5
        while not self.stop.is_set():
            try:
                if queue.url not in self._arns:
                    self._arns[queue.url] = queue.arn()
                messages = queue.receive(
                    max_messages=self.settings.local.worker_batch_size, wait_s=self.settings.local.worker_wait_s
                )
                delay = 0.5
            except Exception as e:
                # The emulator or AWS is away: back off (bounded), say so, and keep going.
                log.warning(
                    "cannot reach the queue (%s); retrying in %.1fs",
                    type(e).__name__,
                    delay,
                    extra={"stage": "poll", "error": str(e)[:300]},
                )
                self.stop.wait(delay)
                delay = min(delay * 2, 30.0)
                continue
            if not messages:
                continue
            self.stats.add(received=len(messages))
            try:
                self.run_batch(messages, executor, queue)
            except FutureTimeout:
                # The stuck handler thread cannot be killed; leave it and give this poller a fresh one.
                executor.shutdown(wait=False)
                executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"handler-{n}")
            except Exception as e:
                log.warning("batch bookkeeping failed (%s); records will be seen again", e)
        executor.shutdown(wait=True)

    def _alarm_loop(self) -> None:
        assert self.alarm is not None
        while not self.stop.is_set():
            try:
                self.alarm.evaluate()
            except Exception as e:
                log.warning("DLQ alarm check failed: %s", e)
            self.stop.wait(self.settings.local.alarm_interval_s)

    def start(self) -> list[threading.Thread]:
        """Start the pollers (and the alarm) in background threads."""
        threads = [
            threading.Thread(target=self._poll_loop, args=(i, self.queue), name=f"poller-{i}", daemon=True)
            for i in range(max(1, self.settings.local.worker_concurrency))
        ]
        if self.variants is not None:
            n = len(threads)
            threads += [
                threading.Thread(
                    target=self._poll_loop, args=(n + i, self.variants), name=f"variants-poller-{i}", daemon=True
                )
                for i in range(VARIANTS_POLLERS)
            ]
        if self.alarm is not None:
            threads.append(threading.Thread(target=self._alarm_loop, name="dlq-alarm", daemon=True))
        for t in threads:
            t.start()
        self.threads = threads
        log.info(
            "worker started", extra={"concurrency": self.settings.local.worker_concurrency, "queue": self.queue.url}
        )
        return threads

    def run(self, *, idle_exit_s: float | None = None) -> WorkerStats:
        """Run until stop is set (SIGTERM/SIGINT in the CLI), or until idle for idle_exit_s."""
        threads = self.start()
        try:
            while not self.stop.wait(0.5):
                if idle_exit_s is not None and time.monotonic() - self.stats.last_activity > idle_exit_s:
                    break
        finally:
            self.stop.set()
            for t in threads:
                # A long poll ends within worker_wait_s; a batch within its timeout.
                t.join(timeout=self.settings.local.worker_wait_s + self.settings.batch_timeout_s + 5)
            self.close()
        log.info("worker stopped", extra={"batches": self.stats.batches, "deleted": self.stats.deleted})
        return self.stats

    def close(self) -> None:
        """Stop what the pollers used (the render processes); after they have stopped."""
        for closer in self.closers:
            closer()


class MemoryGate:
    """Admits renders while the memory they plan to hold together fits one budget (one alone is always admitted).

    Lambda runs one batch per function instance, so each render has the function's memory to itself; the local
    worker runs several batches in one process, and without this its peak is the sum of theirs.
    """

    def __init__(self, budget: int, *, wait_s: float = 60.0) -> None:
        self.budget, self.wait_s, self.held = budget, wait_s, 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        """Wait (at most wait_s, then go on and say so) until nbytes fit beside what others hold; hold them."""
        with self._changed:
            if not self._changed.wait_for(lambda: self.held == 0 or self.held + nbytes <= self.budget, self.wait_s):
                log.warning("memory gate: waited %s s for %s MiB; rendering anyway", self.wait_s, nbytes >> 20)
            self.held += nbytes
        try:
            yield
        finally:
            with self._changed:
                self.held -= nbytes
                self._changed.notify_all()


def build_worker(settings: Settings, clients: Clients) -> Worker:
    """A worker wired to the real handler, the job queue and the DLQ alarm (what Lambda and CloudWatch do in AWS)."""
    from pipeline import wiring
    from pipeline.handler import handle_batch
    from pipeline.imaging import render
    from pipeline.local.alarms import DlqAlarm
    from pipeline.local.emulator import evaluates_alarms
    from pipeline.local.render_pool import RenderPool, cores

    # Several batches render at once here: together they may plan what one function may hold. They render in
    # processes of their own, one per core (admitted by the gate here first), unless WORKER_PROCESSES=0.
    processes = settings.local.worker_processes if settings.local.worker_processes >= 0 else cores()
    pool = RenderPool(processes) if processes > 0 else None
    processor = replace(
        wiring.build_processor(settings, clients),
        gate=MemoryGate(settings.imaging.work_budget_bytes).hold,
        renderer=pool.render if pool is not None else render,
    )
    alarm = DlqAlarm(
        settings,
        wiring.dlq(settings, clients),
        wiring.alerts(settings, clients),
        emulator_evaluates=evaluates_alarms(settings.endpoint_url),
    )
    worker = Worker(
        settings,
        wiring.jobs_queue(settings, clients),
        lambda event, context: handle_batch(event, context, processor),
        alarm,
        wiring.variants_queue(settings, clients),
    )
    if pool is not None:
        worker.closers.append(pool.close)
    return worker
