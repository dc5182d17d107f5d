"""The Lambda handler: partial batch failures, test events, malformed messages."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.errors import TransientError
from pipeline.events import ObjectRef
from pipeline.handler import handle_batch
from pipeline.process import Outcome
from tests.unit.test_events import s3_body

EVENTS = Path(__file__).resolve().parent.parent / "events"


class FakeProcessor:
    def __init__(self, fail_keys: set[str]) -> None:
        self.fail_keys = fail_keys
        self.seen: list[str] = []

    def process(self, ref: ObjectRef, request_id: str = "", message_id: str = "", receive_count: int = 1) -> Outcome:
        self.seen.append(ref.key)
        self.receives = receive_count
        if ref.key in self.fail_keys:
            raise TransientError("throttled")
        return Outcome.PROCESSED


def record(mid: str, body: str) -> dict:
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
