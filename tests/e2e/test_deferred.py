"""AVIF made later, end to end: the worker polls the variants queue too, as the second event source mapping does."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from pipeline import wiring
from pipeline.adapters.queue import Queue
from pipeline.domain import Status
from pipeline.e2e import is_complete
from tests.conftest import StackFixture
from tests.e2e.helpers import read_notifications, running_worker, status_is, wait_for
from tests.e2e.test_lifecycle import outputs
from tests.images import encode, marked


@pytest.mark.stack(variants=("WEBP", "AVIF"), deferred=("AVIF",), defer_delay_s=1)
def test_avif_arrives_later_with_a_second_notification_and_goes_with_the_source(fresh_stack: StackFixture) -> None:
    settings, clients, stack = fresh_stack
    records = wiring.records(settings, clients)
    audit = Queue(clients.sqs, stack.audit_queue_url)
    key = "uploads/later/photo.jpg"
    with running_worker(settings, clients):
        # GIVEN an upload
        clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(1600, 1200), "JPEG"))
        # THEN it ends with every format, AVIF under keys of its version
        item = wait_for(lambda: (i := records.get(key)) and is_complete(i, ("AVIF",)) and i, what="the AVIF")
        avif = sorted((r for r in item.renditions if r.format == "AVIF"), key=lambda r: -r.width)
        assert [(r.name, r.width, r.height) for r in avif] == [
            ("large", 800, 600),
            ("medium", 400, 300),
            ("thumb", 150, 113),
        ]
        for r in avif:
            assert r.key.startswith(f"{r.name}.v/")
            head = clients.s3.head_object(Bucket=r.bucket, Key=r.key)
            body = clients.s3.get_object(Bucket=r.bucket, Key=r.key)["Body"].read()
            with Image.open(io.BytesIO(body)) as im:
                assert (head["ContentType"], im.format, im.size) == ("image/avif", "AVIF", (r.width, r.height))
        assert outputs(clients, settings) == {r.key for r in item.renditions} and len(item.renditions) == 9
        # AND subscribers heard twice: the in-line renditions, then all of them
        notes = [n for n in read_notifications(audit) if n["message"]["key"] == key]
        assert [sorted({r["format"] for r in n["message"]["renditions"]}) for n in notes] == [
            ["JPEG", "WEBP"],
            ["AVIF", "JPEG", "WEBP"],
        ]
        if os.environ.get("EMULATOR") == "moto" and not os.environ.get("AWS_ENDPOINT_URL"):
            return  # (moto sends no removal event for a versioned bucket: see test_lifecycle)
        # WHEN the source is deleted THEN the AVIF goes with the rest
        clients.s3.delete_object(Bucket=settings.names.input_bucket, Key=key)
        wait_for(lambda: status_is(records, key, Status.DELETED), what="the removal")
        wait_for(lambda: not outputs(clients, settings), what="every rendition removed")
    assert Queue(clients.sqs, stack.dlq_url).depth()["visible"] == 0
