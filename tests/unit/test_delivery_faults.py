"""Any adapter call may fail, before or after it took effect: every event still ends, published, with exactly its
renditions. A property over fault plans, with SQS's redelivery played by the test (the records adapter on moto), for the
S3 events and for the deferred AVIF jobs they lead to, drained before or after a removal.

The class of defect this closes: a step that swallows a failure (a best-effort write) or acknowledges an event on
the strength of a write that did not happen, leaving an image stuck, unpublished or with stray renditions.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.domain import Kind, Outcome, Status
from pipeline.errors import TransientError
from pipeline.events import ObjectRef, VariantsJob
from pipeline.process import Processor
from pipeline.settings import Settings
from tests.fakes import FakeJobQueue, FakePublisher, FakeStore, memory_records
from tests.images import encode, marked

SETTINGS = Settings.from_env({"NAME_PREFIX": "faults", "ENVIRONMENT": "test"})
IN, OUT = SETTINGS.names.input_bucket, SETTINGS.names.output_bucket
BEST_EFFORT = {"release_publish"}  # the adapter swallows its failure: a fault here is "nothing happened"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Flaky:
    """A proxy that fails chosen calls: ("before", n) raises instead of call n, ("after", n) raises after it."""

    def __init__(self, target: Any, plan: dict[int, str], calls: list[str]) -> None:
        self._target, self._plan, self._calls = target, plan, calls

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(name)
            fault = self._plan.get(len(self._calls))
            if fault == "before":
                if name in BEST_EFFORT:
                    return None
                raise TransientError(f"injected before {name}", code="injected")
            result = attr(*args, **kwargs)
            if fault == "after" and name not in BEST_EFFORT:
                raise TransientError(f"injected after {name}", code="injected")
            return result

        return call


def deliver(process: Callable[[int], Outcome], clock: Clock, limit: int = 30) -> Outcome:
    """SQS's part: deliver until acknowledged, one visibility timeout apart."""
    for receive in range(1, limit + 1):
        try:
            return process(receive)
        except TransientError:
            clock.now += SETTINGS.timing.queue_visibility_timeout_s
    raise AssertionError(f"not acknowledged after {limit} receives")


PLANS = st.dictionaries(st.integers(1, 25), st.sampled_from(["before", "after"]), max_size=6)


# 80 plans in make test; make check (the fast loop) asks for fewer through FAULT_PLANS.
@settings(
    max_examples=int(os.environ.get("FAULT_PLANS", "80")), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(plan=PLANS, then_delete=st.booleans(), duplicate=st.booleans(), jobs_last=st.booleans())
def test_every_event_ends_published_with_exactly_its_renditions(
    plan: dict[int, str], then_delete: bool, duplicate: bool, jobs_last: bool
) -> None:
    key = f"uploads/f/{uuid.uuid4().hex}.jpg"
    store, publisher, clock, jobs = FakeStore(), FakePublisher(), Clock(), FakeJobQueue()
    calls: list[str] = []
    store.objects[(IN, key)] = (encode(marked(64, 48), "JPEG"), "image/jpeg")
    store.etags[(IN, key)] = "e1"
    with memory_records(SETTINGS) as records:
        p = Processor(
            SETTINGS,
            Flaky(store, plan, calls),
            Flaky(records, plan, calls),
            Flaky(publisher, plan, calls),
            clock,
            variants_queue=Flaky(jobs, plan, calls),
        )
        p.sleep = lambda seconds: None  # the processor's own short waits between tries: no need to spend them

        def deferred_jobs() -> None:
            # Every variants job sent (each retry of the in-line event sends one), each delivered until acknowledged
            for body, _ in list(jobs.sent):
                job = VariantsJob.from_body(body)
                assert job is not None
                deliver(lambda n, job=job: p.add_variants(job), clock)  # type: ignore[misc]

        created = ObjectRef(IN, key, None, "e1", None, "0A", Kind.CREATED)
        assert deliver(lambda n: p.process(created, message_id="m1", receive_count=n), clock) in {
            Outcome.PROCESSED, Outcome.DUPLICATE, Outcome.SUPERSEDED,
        }  # fmt: skip
        assert jobs.sent, "the AVIF was never asked for"
        if not jobs_last:
            deferred_jobs()
        events = [created]
        if then_delete:
            del store.objects[(IN, key)]
            removed = ObjectRef(IN, key, None, "", None, "0B", Kind.REMOVED)
            deliver(lambda n: p.process(removed, message_id="m2", receive_count=n), clock)
            events.append(removed)
        if duplicate:  # S3 delivers at least once: the last event again, after it was acknowledged
            assert deliver(lambda n: p.process(events[-1], receive_count=n), clock) is Outcome.DUPLICATE
        if jobs_last:  # the lower-priority queue drained after everything else
            deferred_jobs()
        record = records.get(key)
    want = Status.DELETED if then_delete else Status.PROCESSED
    # THEN the record ended as the last event says, and its result went out (at least once)
    assert record is not None and record.status is want and record.published, (record, calls)
    assert want.value in [m["attributes"]["status"] for m in publisher.messages]
    # and the output bucket holds exactly the record's renditions: none missing, none stray
    outputs = {k for (b, k) in store.objects if b == OUT}
    assert outputs == {r.key for r in record.renditions}, (outputs, record)
    assert len(record.renditions) == (0 if then_delete else 3 * (1 + len(SETTINGS.imaging.variants)))
    if not then_delete:  # every format, the deferred AVIF included, and the last message lists them all
        assert {r.format for r in record.renditions} == {"JPEG", "WEBP", "AVIF"}
        last = [m for m in publisher.messages if m["attributes"]["status"] == "processed"][-1]
        assert len(last["message"]["renditions"]) == 9
