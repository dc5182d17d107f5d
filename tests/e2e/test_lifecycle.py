"""Renditions always show the current object, or do not exist: deletes, overwrites, and LocalStack's sequencer."""

from __future__ import annotations

import io
import os
from functools import partial

import pytest
from PIL import Image

from pipeline import wiring
from pipeline.adapters.queue import Queue
from pipeline.aws import Clients
from pipeline.domain import Status
from pipeline.settings import Settings
from tests.conftest import StackFixture
from tests.e2e.helpers import read_notifications, running_worker, s3_event, status_is, wait_for
from tests.images import encode, marked

LOCALSTACK_SEQUENCER = "0055AED6DCD90281E5"  # LocalStack puts this one on every S3 event


def outputs(clients: Clients, settings: Settings) -> set[str]:
    resp = clients.s3.list_objects_v2(Bucket=settings.names.output_bucket)
    return {o["Key"] for o in resp.get("Contents", [])}


def test_delete_removes_renditions_and_marks_the_item_deleted(fresh_stack: StackFixture) -> None:
    if os.environ.get("EMULATOR") == "moto" and not os.environ.get("AWS_ENDPOINT_URL"):
        pytest.skip(
            "moto 5.2.5 sends no s3:ObjectRemoved event when a versioned bucket gets a delete marker "
            "(moto/s3/models.py delete_object notifies only unversioned buckets); tested on MiniStack and LocalStack"
        )
    settings, clients, stack = fresh_stack
    records = wiring.records(settings, clients)
    audit = Queue(clients.sqs, stack.audit_queue_url)
    key = "uploads/life/photo.jpg"
    with running_worker(settings, clients):
        # GIVEN a processed image, and a folder marker as the S3 console makes one
        clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(1600, 1200), "JPEG"))
        clients.s3.put_object(Bucket=settings.names.input_bucket, Key="uploads/life/folder/", Body=b"")
        wait_for(lambda: status_is(records, key, Status.PROCESSED), what="processing")
        assert len(outputs(clients, settings)) == 3 * (1 + len(settings.imaging.variants))  # sizes x formats
        # WHEN the source is deleted
        clients.s3.delete_object(Bucket=settings.names.input_bucket, Key=key)
        # THEN its renditions go, the item says deleted, and subscribers are told
        item = wait_for(lambda: status_is(records, key, Status.DELETED), what="the removal")
        wait_for(lambda: not outputs(clients, settings), what="renditions removed")
    assert not item.renditions and records.get("uploads/life/folder/") is None
    notes = read_notifications(audit)
    assert [(n["message"]["key"], n["attributes"]["status"]["Value"]) for n in notes] == [
        (key, "processed"),
        (key, "deleted"),
    ]


def test_overwrite_with_localstacks_repeated_sequencer_is_processed(fresh_stack: StackFixture) -> None:
    settings, clients, stack = fresh_stack
    # GIVEN S3 events as LocalStack sends them: one fixed sequencer on every event (we send them ourselves)
    clients.s3.put_bucket_notification_configuration(Bucket=settings.names.input_bucket, NotificationConfiguration={})
    records = wiring.records(settings, clients)
    queue = Queue(clients.sqs, stack.queue_url)
    key = "uploads/ls/photo.jpg"
    with running_worker(settings, clients):
        first = clients.s3.put_object(
            Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(1600, 1200), "JPEG")
        )
        etag1 = first["ETag"].strip('"')
        queue.send(s3_event(settings.names.input_bucket, key, etag1, LOCALSTACK_SEQUENCER))
        wait_for(lambda: status_is(records, key, Status.PROCESSED, etag1), what="first version")
        # WHEN the key is overwritten with new content and the event has the same sequencer
        second = clients.s3.put_object(
            Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(300, 600), "JPEG")
        )
        etag2 = second["ETag"].strip('"')
        queue.send(s3_event(settings.names.input_bucket, key, etag2, LOCALSTACK_SEQUENCER))
        # THEN it is processed (it was taken for a duplicate), and the first event delivered late changes nothing
        item = wait_for(lambda: status_is(records, key, Status.PROCESSED, etag2), what="the overwrite")
        queue.send(s3_event(settings.names.input_bucket, key, etag1, LOCALSTACK_SEQUENCER))
        wait_for(lambda: queue.depth() == {"visible": 0, "in_flight": 0, "delayed": 0}, what="queue drained")
    assert records.get(key) == item and item.original and item.original.height == 600
    large = next(r for r in item.renditions if r.name == "large" and r.format == "JPEG")
    body = clients.s3.get_object(Bucket=settings.names.output_bucket, Key=large.key)["Body"].read()
    with Image.open(io.BytesIO(body)) as im:
        assert im.size == (300, 600)
    assert item.renditions[0].etag


def test_sources_that_used_to_collide_keep_their_own_renditions(fresh_stack: StackFixture) -> None:
    settings, clients, _stack = fresh_stack
    records = wiring.records(settings, clients)
    # GIVEN the reported pairs, each source a different size so its renditions can be told apart
    sources = {
        "uploads/c/x": encode(marked(300, 200), "JPEG"),
        "uploads/c/x.jpg": encode(marked(200, 300), "JPEG"),
        "uploads/y.jpg": encode(marked(310, 210), "PNG"),  # PNG bytes under a .jpg name
        "uploads/y.jpg.png": encode(marked(210, 310), "PNG"),
        "uploads//d.jpg": encode(marked(320, 220), "JPEG"),
        "uploads/d.jpg": encode(marked(220, 320), "JPEG"),
    }
    with running_worker(settings, clients):
        for key, body in sources.items():
            clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=body)
        items = {k: wait_for(partial(status_is, records, k, Status.PROCESSED), what=k) for k in sources}
    # THEN every source has its own rendition keys, and each large rendition shows that source's size
    keys = [r.key for item in items.values() for r in item.renditions]
    assert len(keys) == len(set(keys)) == 3 * (1 + len(settings.imaging.variants)) * len(sources)
    for key, item in items.items():
        with Image.open(io.BytesIO(sources[key])) as src:
            want = src.size
        for large in [r for r in item.renditions if r.name == "large"]:  # the fallback, WebP and AVIF
            body = clients.s3.get_object(Bucket=settings.names.output_bucket, Key=large.key)["Body"].read()
            with Image.open(io.BytesIO(body)) as im:
                assert im.size == want, (key, large.key, im.size)
