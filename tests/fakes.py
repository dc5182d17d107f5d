"""In-memory stand-ins for storage and the topic, and the records adapter on in-process DynamoDB, for unit tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from moto import mock_aws

from pipeline.adapters.records import ImageRecords
from pipeline.domain import Current, Expect, ImageRecord, Write
from pipeline.errors import SourceMissingError, SupersededError, TransientError
from pipeline.local.bootstrap import table_definition
from pipeline.settings import Settings


class FakeStore:
    """Objects in a dict; `fail_puts` makes the next N puts raise TransientError."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.etags: dict[tuple[str, str], str] = {}
        self.fail_puts = 0
        self.gets = 0

    def etag(self, bucket: str, key: str) -> str:
        """An object's ETag: set by a test in `etags`, else the MD5 of its bytes, as S3 gives for one PUT."""
        return self.etags.get((bucket, key)) or hashlib.md5(self.objects[(bucket, key)][0]).hexdigest()

    def get(self, bucket: str, key: str, *, max_bytes: int, etag: str = "") -> bytes:
        self.gets += 1
        if (bucket, key) not in self.objects:
            raise SourceMissingError(f"{key} missing")
        if etag and self.etag(bucket, key) != etag:
            # As S3's If-Match: any other current ETag (the contract tests caught this fake ignoring computed ones).
            raise SupersededError(f"{key} replaced")
        return self.objects[(bucket, key)][0]

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str, source_key: str) -> str:
        if self.fail_puts:
            self.fail_puts -= 1
            raise TransientError("s3 put_object failed: SlowDown", code="aws_SlowDown")
        self.objects[(bucket, key)] = (data, content_type)
        self.etags.pop((bucket, key), None)
        return self.etag(bucket, key)

    def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)
        self.etags.pop((bucket, key), None)

    def current(self, bucket: str, key: str) -> Current:
        if (bucket, key) not in self.objects:
            return Current(exists=False)
        return Current(True, self.etag(bucket, key), "")


def offline_client(service: Any, endpoint_url: str, **config: Any) -> Any:
    """A boto3 client with placeholder credentials and an explicit endpoint, for tests that never reach AWS."""
    return boto3.client(
        service, region_name="us-east-1", endpoint_url=endpoint_url, aws_access_key_id="k", aws_secret_access_key="s",
        config=Config(**config) if config else None,
    )  # fmt: skip


@contextmanager
def memory_records(settings: Settings) -> Iterator[ImageRecords]:
    """The real records adapter on moto's in-process DynamoDB (no server, no network), with the stack's table.

    Not a hand-written fake: the conditions are DynamoDB's own, as moto evaluates them, and the contract suite
    (tests/integration/test_contracts.py) holds moto to the emulators too.
    """
    with mock_aws():
        # An AWS endpoint named outright: with AWS_ENDPOINT_URL set (make test sets it) boto3 would go there.
        client = offline_client("dynamodb", "https://dynamodb.us-east-1.amazonaws.com")
        client.create_table(**table_definition(settings))
        names = settings.names
        yield ImageRecords(client, names.table_name, names.status_index, names.phash_index)


class FakePublisher:
    """Keeps published messages; `fail` makes the next N publishes raise TransientError."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.fail = 0

    def publish(self, message: dict[str, Any], *, subject: str, attributes: dict[str, str]) -> str:
        if self.fail:
            self.fail -= 1
            raise TransientError("sns publish failed: Throttling", code="aws_Throttling")
        self.messages.append({"message": message, "subject": subject, "attributes": attributes})
        return str(len(self.messages))


class FakeJobQueue:
    """An in-memory variants queue: what was sent, with its delay."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    def send(self, body: str, *, delay_s: int = 0) -> str:
        """Keep the job; returns its index as its id."""
        self.sent.append((body, delay_s))
        return str(len(self.sent))


def unchanged(record: ImageRecord, read_rev: int | None) -> Write:
    """A whole-record write of `record` if the item is at read_rev (None: absent)."""
    return Write(record, Expect.UNCHANGED, read_rev=read_rev)


def owned(record: ImageRecord, owner: str) -> Write:
    """A whole-record write of `record` if `owner` still holds the item in processing."""
    return Write(record, Expect.OWNED, owner=owner)
