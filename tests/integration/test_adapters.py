"""The adapters against a real emulator over HTTP: S3, DynamoDB conditional writes, SNS, SQS."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from pipeline.adapters.queue import Queue
from pipeline.adapters.storage import ObjectStore
from pipeline.adapters.topic import Topic
from pipeline.errors import SourceMissingError, SupersededError, TooLargeError
from tests.conftest import StackFixture


@pytest.fixture
def store(session_stack: StackFixture) -> ObjectStore:
    _, clients, _ = session_stack
    return ObjectStore(clients.s3)


def test_put_then_get_keeps_bytes_and_content_type(session_stack: StackFixture, store: ObjectStore) -> None:
    settings, _clients, _ = session_stack
    key = f"thumb/ü {uuid.uuid4().hex}.png"
    store.put(settings.names.output_bucket, key, b"\x89PNG data", content_type="image/png", source_key="uploads/ü.png")
    head = store.head(settings.names.output_bucket, key)
    assert head is not None and head["ContentType"] == "image/png"
    # A key is one version's: every cache may keep it a year and never ask again (the CDN forgets deleted ones).
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["Metadata"]["source-key"] == "uploads/%C3%BC.png"
    assert store.get(settings.names.output_bucket, key, max_bytes=100) == b"\x89PNG data"


def test_missing_object_is_a_permanent_error(session_stack: StackFixture, store: ObjectStore) -> None:
    settings, _, _ = session_stack
    with pytest.raises(SourceMissingError):
        store.get(settings.names.input_bucket, "uploads/does-not-exist.jpg", max_bytes=100)


def test_changed_object_is_superseded(session_stack: StackFixture, store: ObjectStore) -> None:
    settings, clients, _ = session_stack
    key = f"other/{uuid.uuid4().hex}.jpg"
    clients.s3.put_object(Bucket=settings.names.output_bucket, Key=key, Body=b"new content")
    with pytest.raises(SupersededError):
        store.get(settings.names.output_bucket, key, max_bytes=100, etag="0" * 32)


def test_object_over_the_byte_limit_is_refused(session_stack: StackFixture, store: ObjectStore) -> None:
    settings, clients, _ = session_stack
    key = f"other/{uuid.uuid4().hex}.bin"
    clients.s3.put_object(Bucket=settings.names.output_bucket, Key=key, Body=b"x" * 1000)
    with pytest.raises(TooLargeError) as e:
        store.get(settings.names.output_bucket, key, max_bytes=999)
    assert e.value.code == "too_large"


def test_notification_reaches_subscribers_with_attributes(session_stack: StackFixture) -> None:
    _settings, clients, stack = session_stack
    notifier = Topic(clients.sns, stack.results_topic_arn)
    marker = uuid.uuid4().hex
    notifier.publish(
        {"key": marker, "status": "processed"},
        subject="imgpipe processed: ü\n.jpg",
        attributes={"status": "processed", "environment": "test"},
    )
    audit = Queue(clients.sqs, stack.audit_queue_url)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for m in audit.receive(max_messages=10, wait_s=1):
            envelope = json.loads(m["Body"])
            if marker in envelope.get("Message", ""):
                assert envelope["MessageAttributes"]["status"]["Value"] == "processed"
                assert envelope["Subject"].isascii()
                return
    pytest.fail("notification did not reach the audit queue")


def test_queue_send_receive_delete_and_depth(session_stack: StackFixture) -> None:
    settings, clients, _stack = session_stack
    q = Queue(clients.sqs, clients.sqs.create_queue(QueueName=f"{settings.names.name_prefix}-scratch")["QueueUrl"])
    q.send("one")
    q.send("two")
    got: list[Any] = []
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        got += q.receive(max_messages=10, wait_s=1)
    assert sorted(m["Body"] for m in got) == ["one", "two"]
    assert q.depth()["in_flight"] == 2
    assert q.delete([m["ReceiptHandle"] for m in got]) == []
    assert q.depth() == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_object_store_current_delete_and_etags(session_stack: StackFixture) -> None:
    settings, clients, _ = session_stack
    store = ObjectStore(clients.s3)
    key = f"uploads/cur-{uuid.uuid4().hex}.jpg"
    assert store.current(settings.names.input_bucket, key).exists is False
    put = clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=b"one")
    now = store.current(settings.names.input_bucket, key)
    assert now.exists and now.etag == put["ETag"].strip('"')
    etag = store.put(settings.names.output_bucket, f"large/{key}.jpg", b"x", content_type="image/jpeg", source_key=key)
    assert store.etags(settings.names.output_bucket, "large/uploads/cur-")[f"large/{key}.jpg"] == etag
    store.delete(settings.names.output_bucket, f"large/{key}.jpg")
    store.delete(settings.names.output_bucket, f"large/{key}.jpg")  # already gone: no error
    assert f"large/{key}.jpg" not in store.etags(settings.names.output_bucket, "large/uploads/cur-")
