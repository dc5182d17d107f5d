"""The whole flow through the real worker: duplicates, re-uploads, partial failures, the DLQ and its alarm."""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image

from pipeline import wiring
from pipeline.adapters.queue import Queue
from pipeline.domain import Status
from pipeline.local.emulator import evaluates_alarms
from pipeline.ops.dlq import peek, redrive
from tests.conftest import StackFixture
from tests.e2e.helpers import ended, read_notifications, running_worker, s3_event, wait_for
from tests.images import encode, marked


def test_duplicate_event_and_reupload(fresh_stack: StackFixture) -> None:
    settings, clients, stack = fresh_stack
    records = wiring.records(settings, clients)
    audit = Queue(clients.sqs, stack.audit_queue_url)
    key = "uploads/dup/photo.jpg"
    with running_worker(settings, clients) as worker:
        # GIVEN an image that was processed
        clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(1600, 1200), "JPEG"))
        first = wait_for(lambda: ended(records, key), what="first processing")
        assert first.status is Status.PROCESSED and first.original and first.original.width == 1600
        # WHEN S3 delivers the same event again
        Queue(clients.sqs, stack.queue_url).send(
            s3_event(settings.names.input_bucket, key, first.version.etag, first.version.sequencer)
        )
        wait_for(lambda: worker.stats.deleted >= 2, what="the duplicate to be consumed")
        # THEN nothing changes and no second notification goes out
        assert records.get(key) == first
        notes = read_notifications(audit)
        assert [n["message"]["key"] for n in notes] == [key]
        # WHEN new content is uploaded under the same key THEN it is processed again
        clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(300, 600), "JPEG"))
        second = wait_for(
            lambda: (i := ended(records, key)) and i.version.etag != first.version.etag and i, what="re-processing"
        )
    assert second.original and second.original.height == 600
    assert {r.name: (r.width, r.height) for r in second.renditions}["large"] == (300, 600)
    # At new keys: the first version's URLs cannot show the second picture (each key is one version's)
    large = next(r for r in second.renditions if r.name == "large" and r.format == "JPEG")
    assert large.key not in {r.key for r in first.renditions} and large.key.endswith("/dup/photo.jpg.jpg")
    body = clients.s3.get_object(Bucket=settings.names.output_bucket, Key=large.key)["Body"].read()
    with Image.open(io.BytesIO(body)) as im:
        assert im.size == (300, 600)
    notes = read_notifications(audit)
    assert len(notes) == 1 and notes[0]["message"]["original"]["height"] == 600


def test_partial_batch_failure_poison_to_dlq_alarm_and_redrive(fresh_stack: StackFixture) -> None:
    settings, clients, stack = fresh_stack
    records = wiring.records(settings, clients)
    alerts = Queue(
        clients.sqs, clients.sqs.create_queue(QueueName=f"{settings.names.name_prefix}-alerts-sub")["QueueUrl"]
    )
    clients.sns.subscribe(TopicArn=stack.alerts_topic_arn, Protocol="sqs", Endpoint=alerts.arn())
    queue = Queue(clients.sqs, stack.queue_url)
    dlq = Queue(clients.sqs, stack.dlq_url)
    with running_worker(settings, clients) as worker:
        # GIVEN a good upload and a poison message in the same queue
        queue.send("poison: this is not an S3 event")
        key = "uploads/good.png"
        clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(500, 400), "PNG"))
        # THEN the good one is processed (and its message deleted) while the poison is retried ...
        assert wait_for(lambda: ended(records, key), what="good image").status is Status.PROCESSED
        # ... until it lands in the DLQ after 3 receives (visibility timeout is 2 s here)
        landed = wait_for(lambda: peek(dlq), timeout=40, what="poison message in the DLQ")
        assert [m["body"] for m in landed] == ["poison: this is not an S3 event"]
        assert worker.stats.retried >= 3
        # AND the DLQ alarm publishes to the alerts topic: the local evaluator's alarm-shaped message, or where the
        # emulator evaluates CloudWatch alarms itself (LocalStack: SQS reports its metrics each 60 s) the real one
        own = evaluates_alarms(settings.endpoint_url)
        heard: list[dict[str, Any]] = []

        def alarmed() -> dict[str, Any] | None:
            for m in alerts.receive(max_messages=10, wait_s=1):
                heard.append(json.loads(json.loads(m["Body"])["Message"]))
            return next((a for a in heard if a.get("NewStateValue") == "ALARM"), None)

        # (a real CloudWatch alarm may first report OK: that is not the alert we wait for)
        message = wait_for(alarmed, timeout=150 if own else 20, what="the DLQ alarm")
        assert message["AlarmName"] == settings.names.dlq_alarm_name
        dimensions = [{k.lower(): v for k, v in d.items()} for d in message["Trigger"]["Dimensions"]]
        assert dimensions == [{"name": "QueueName", "value": settings.names.dlq_name}]
        # exactly one ALARM: the local evaluator stands down where the emulator's alarm does the work
        alarmed()
        assert [a["NewStateValue"] for a in heard].count("ALARM") == 1, heard
        assert queue.depth()["visible"] == 0
    # WHEN an operator redrives the DLQ THEN the message goes back to the source queue
    moved = redrive(dlq, queue)
    assert moved in (1, -1)
    wait_for(lambda: queue.depth()["visible"] + queue.depth()["in_flight"] == 1, what="message back in the queue")
    assert dlq.depth()["visible"] == 0


def test_two_workers_and_duplicate_events_give_one_result_each(fresh_stack: StackFixture) -> None:
    settings, clients, stack = fresh_stack
    settings = settings.with_(worker_batch_size=2)  # small batches spread the events over both workers
    records = wiring.records(settings, clients)
    queue = Queue(clients.sqs, stack.queue_url)
    audit = Queue(clients.sqs, stack.audit_queue_url)
    keys = [f"uploads/race/{i}.jpg" for i in range(6)]
    with running_worker(settings, clients) as w1, running_worker(settings, clients) as w2:
        for i, key in enumerate(keys):
            resp = clients.s3.put_object(
                Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(900 + i, 700), "JPEG")
            )
            etag = resp["ETag"].strip('"')
            # S3 delivers at least once: inject the same event three more times
            for _ in range(3):
                queue.send(s3_event(settings.names.input_bucket, key, etag, ""))
        wait_for(lambda: all(ended(records, k) for k in keys), timeout=60, what="all images")
        wait_for(lambda: queue.depth() == {"visible": 0, "in_flight": 0, "delayed": 0}, timeout=30, what="queue empty")
        assert w1.stats.batches and w2.stats.batches, "both workers took part"
    for i, key in enumerate(keys):
        item = records.get(key)
        assert item is not None and item.status is Status.PROCESSED and item.original and item.original.width == 900 + i
    notes = read_notifications(audit)
    counts = {k: sum(n["message"]["key"] == k for n in notes) for k in keys}
    assert counts == dict.fromkeys(keys, 1), counts
