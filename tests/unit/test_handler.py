"""The Lambda handler: partial batch failures, test events, malformed messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.domain import Outcome
from pipeline.errors import TransientError
from pipeline.events import ObjectRef
from pipeline.handler import handle_batch
from pipeline.settings import Settings
from tests.unit.test_events import s3_body

EVENTS = Path(__file__).resolve().parent.parent / "events"


class FakeProcessor:
    settings = Settings.from_env({"HANDLER_TIMEOUT_S": "60"})

    def __init__(self, fail_keys: set[str]) -> None:
        self.fail_keys = fail_keys
        self.seen: list[str] = []

    def process(self, ref: ObjectRef, request_id: str = "", message_id: str = "", receive_count: int = 1) -> Outcome:
        self.seen.append(ref.source_key)
        self.receives = receive_count
        if ref.source_key in self.fail_keys:
            raise TransientError("throttled")
        return Outcome.PROCESSED


def record(mid: str, body: str) -> dict[str, Any]:
    return {
        "messageId": mid,
        "receiptHandle": f"rh-{mid}",
        "body": body,
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
        "awsRegion": "us-east-1",
    }


class Ctx:
    aws_request_id = "req-1"


def test_only_failed_records_are_reported() -> None:
    # GIVEN a batch with a good event, a throttled one, a malformed body and a test event
    event = {
        "Records": [
            record("m1", s3_body("uploads/ok.jpg")),
            record("m2", s3_body("uploads/throttled.jpg")),
            record("m3", "garbage"),
            record("m4", json.dumps({"Event": "s3:TestEvent"})),
        ]
    }
    proc = FakeProcessor({"uploads/throttled.jpg"})
    # WHEN handled THEN exactly the throttled and malformed records are retried
    resp = handle_batch(event, Ctx(), proc)  # type: ignore[arg-type]
    assert sorted(f["itemIdentifier"] for f in resp["batchItemFailures"]) == ["m2", "m3"]
    assert proc.seen == ["uploads/ok.jpg", "uploads/throttled.jpg"]


def test_all_failing_batch_is_reported_not_raised() -> None:
    event = {"Records": [record("m1", "x"), record("m2", "y")]}
    resp = handle_batch(event, Ctx(), FakeProcessor(set()))  # type: ignore[arg-type]
    assert len(resp["batchItemFailures"]) == 2


def test_sample_batch_file() -> None:
    event = json.loads((EVENTS / "sqs_batch.json").read_text())
    resp = handle_batch(event, Ctx(), FakeProcessor(set()))  # type: ignore[arg-type]
    assert resp == {"batchItemFailures": [{"itemIdentifier": "22222222-2222-2222-2222-222222222222"}]}


class Clock:
    """A Lambda context whose remaining time drops by `step` ms for each record processed."""

    aws_request_id = "req-2"

    def __init__(self, left_ms: int, step: int, proc: FakeProcessor) -> None:
        self.left_ms, self.step, self.proc = left_ms, step, proc

    def get_remaining_time_in_millis(self) -> int:
        return self.left_ms - self.step * len(self.proc.seen)


def test_records_are_not_started_when_the_invocation_is_nearly_out_of_time() -> None:
    # GIVEN five records, 33 s left, each image taking 8 s, and a 10 s reserve (a 60 s timeout's quarter, at most 10 s)
    proc = FakeProcessor(set())
    event = {"Records": [record(f"m{i}", s3_body(f"uploads/{i}.jpg")) for i in range(5)]}
    resp = handle_batch(event, Clock(33_000, 8_000, proc), proc)  # type: ignore[arg-type]
    # THEN the first three run (33, 25, 17 s left), and the last two (9 s left) are handed back unstarted
    assert proc.seen == ["uploads/0.jpg", "uploads/1.jpg", "uploads/2.jpg"]
    assert [f["itemIdentifier"] for f in resp["batchItemFailures"]] == ["m3", "m4"]
    assert FakeProcessor.settings.timing.start_reserve_ms == 10_000
