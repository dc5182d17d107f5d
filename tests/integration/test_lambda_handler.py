"""The real Lambda entry point, configured only by environment variables, on a real S3 notification."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from PIL import Image

from pipeline import handler, wiring
from pipeline.adapters.queue import Queue
from pipeline.domain import Status
from pipeline.events import BatchResponse
from pipeline.local.worker import to_lambda_event
from tests.conftest import StackFixture
from tests.images import encode, marked


@pytest.mark.stack(visibility_timeout_s=30)
def test_lambda_handler_processes_a_real_notification(
    fresh_stack: StackFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, clients, stack = fresh_stack
    # GIVEN the environment terraform gives the Lambda (names, endpoint), and nothing else
    for name, value in {
        "AWS_ENDPOINT_URL": settings.endpoint_url,
        "AWS_REGION": settings.region,
        "NAME_PREFIX": settings.names.name_prefix,
        "RESULTS_TOPIC_ARN": stack.results_topic_arn,
        "ENVIRONMENT": "it",
    }.items():
        monkeypatch.setenv(name, str(value))
    handler._processor.cache_clear()
    # AND an upload whose notification is waiting in the queue
    key = "uploads/it/a photo+1.jpg"
    clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(1024, 768), "JPEG"))
    queue = Queue(clients.sqs, stack.queue_url)
    messages: list[Any] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("Records" in m["Body"] for m in messages):
        messages += queue.receive(max_messages=10, wait_s=1)
    assert any("Records" in m["Body"] for m in messages), "S3 notification never arrived"
    # WHEN the Lambda handler gets them as Lambda would send them
    resp = handler.lambda_handler(dict(to_lambda_event(messages, stack.queue_arn, settings.region)), None)
    # THEN nothing is retried, the item is processed, and the renditions are real images of the right size
    assert resp == {"batchItemFailures": []}
    item = wiring.records(settings, clients).get(key)
    assert item is not None and item.status is Status.PROCESSED and item.published is True
    sizes = {}
    for r in item.renditions:
        body = clients.s3.get_object(Bucket=r.bucket, Key=r.key)["Body"].read()
        with Image.open(io.BytesIO(body)) as im:
            sizes[(r.name, im.format)] = im.size
    assert sizes == {
        (name, fmt): size
        for name, size in {"large": (800, 600), "medium": (400, 300), "thumb": (150, 113)}.items()
        for fmt in ("JPEG", *settings.imaging.variants)
    }
    first = item.renditions[0].key
    assert first.startswith("large.v/") and first.endswith("/it/a photo+1.jpg.jpg"), first
    handler._processor.cache_clear()


@pytest.mark.stack(visibility_timeout_s=30)
def test_the_same_entry_point_makes_the_deferred_avif_from_the_variants_queue(
    fresh_stack: StackFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, clients, stack = fresh_stack
    variants_url = clients.sqs.get_queue_url(QueueName=settings.names.variants_queue_name)["QueueUrl"]
    # GIVEN the environment terraform gives the Lambda, with its defaults: AVIF deferred to the variants queue
    for name, value in {
        "AWS_ENDPOINT_URL": settings.endpoint_url,
        "AWS_REGION": settings.region,
        "NAME_PREFIX": settings.names.name_prefix,
        "RESULTS_TOPIC_ARN": stack.results_topic_arn,
        "FORMATS": "fallback,webp,avif",
        "DEFER_FORMATS": "avif",
        "DEFER_DELAY_S": "0",
        "VARIANTS_QUEUE_URL": variants_url,
    }.items():
        monkeypatch.setenv(name, str(value))
    handler._processor.cache_clear()
    key = "uploads/it/later.jpg"
    clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(1024, 768), "JPEG"))

    def delivered(url: str, arn: str, marker: str) -> BatchResponse:
        queue, messages = Queue(clients.sqs, url), list[Any]()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(marker in m["Body"] for m in messages):
            messages += queue.receive(max_messages=10, wait_s=1)
        assert any(marker in m["Body"] for m in messages), f"no message with {marker} on {url}"
        return handler.lambda_handler(dict(to_lambda_event(messages, arn, settings.region)), None)

    # WHEN the S3 notification, then the job it leads to, reach the one entry point
    assert delivered(stack.queue_url, stack.queue_arn, "Records") == {"batchItemFailures": []}
    records = wiring.records(settings, clients)
    first = records.get(key)
    assert first is not None and {r.format for r in first.renditions} == {"JPEG", "WEBP"} and first.published
    assert delivered(variants_url, "arn:aws:sqs:variants", "imgpipe.variants") == {"batchItemFailures": []}
    # THEN the record gains an AVIF of every size, stored and published
    item = records.get(key)
    assert item is not None and item.status is Status.PROCESSED and item.published
    avif = {r.name: r for r in item.renditions if r.format == "AVIF"}
    assert sorted(avif) == ["large", "medium", "thumb"]
    body = clients.s3.get_object(Bucket=avif["large"].bucket, Key=avif["large"].key)["Body"].read()
    with Image.open(io.BytesIO(body)) as im:
        assert (im.format, im.size) == ("AVIF", (800, 600))
    handler._processor.cache_clear()
