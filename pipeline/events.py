"""Parse Lambda SQS events that carry S3 notifications into typed object references."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict
from urllib.parse import unquote_plus

from pipeline.domain import MAX_KEY_BYTES, Kind, Version
from pipeline.errors import PipelineError
from pipeline.formats import VARIANT_NAMES

log = logging.getLogger(__name__)


class SQSRecord(TypedDict):
    """One record of a Lambda SQS event (the fields the pipeline reads)."""

    messageId: str
    receiptHandle: str
    body: str
    attributes: dict[str, str]
    messageAttributes: dict[str, Any]
    md5OfBody: str
    eventSource: str
    eventSourceARN: str
    awsRegion: str


class SQSEvent(TypedDict):
    """A Lambda SQS event."""

    Records: list[SQSRecord]


class BatchItemFailure(TypedDict):
    """One record that SQS must deliver again."""

    itemIdentifier: str


class BatchResponse(TypedDict):
    """What the handler returns with ReportBatchItemFailures."""

    batchItemFailures: list[BatchItemFailure]


class S3ObjectInfo(TypedDict):
    """The `s3.object` part of an S3 event record."""

    key: str
    size: NotRequired[int]
    eTag: NotRequired[str]
    versionId: NotRequired[str]
    sequencer: NotRequired[str]


@dataclass(frozen=True)
class ObjectRef:
    """One S3 object version an event is about, with its key URL-decoded."""

    bucket: str
    source_key: str
    size: int | None
    etag: str
    version_id: str | None
    sequencer: str
    # (No event time: versions are ordered by sequencer, or by asking S3, never by a clock.)
    kind: Kind = Kind.CREATED

    @property
    def version(self) -> Version:
        """The version this event names, for the idempotency rules."""
        return Version(self.kind, Version.pad(self.sequencer), self.etag, self.version_id or "")


# S3 puts one record in each notification; a message with many more is not one S3 wrote.
MAX_RECORDS = 10


class MalformedMessageError(PipelineError):
    """The SQS body is neither an S3 event nor a test event: only an operator can sort it out (it goes to the DLQ)."""

    code = "malformed"


def _unwrap_sns(body: dict[str, Any]) -> dict[str, Any]:
    # S3 -> SNS -> SQS fan-out wraps the S3 event in an SNS envelope; accept both shapes.
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        try:
            inner = json.loads(body["Message"])
        except json.JSONDecodeError as e:
            raise MalformedMessageError(f"SNS envelope whose Message is not JSON: {e}") from e
        if not isinstance(inner, dict):
            raise MalformedMessageError("SNS envelope whose Message is not a JSON object")
        return inner
    return body


def parse_message(body: str) -> VariantsJob | list[ObjectRef]:
    """Parse one SQS message body, read once: the processor's own variants job, or S3's object references."""
    data = _load(body)
    return _job(data) if data.get("type") == VARIANTS_JOB else _refs(data)


def parse_body(body: str) -> list[ObjectRef]:
    """Parse one SQS message body into the object references it carries (test events: none)."""
    return _refs(_load(body))


def _load(body: str) -> dict[str, Any]:
    """The JSON object a body holds, out of its SNS envelope if it has one."""
    try:
        data = json.loads(body)
    except (TypeError, json.JSONDecodeError) as e:
        raise MalformedMessageError(f"body is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise MalformedMessageError("body is not a JSON object")
    return _unwrap_sns(data)


def _refs(data: dict[str, Any]) -> list[ObjectRef]:
    if data.get("Event") == "s3:TestEvent":
        # S3 sends this once when a notification is configured; it names no object.
        return []
    records = data.get("Records")
    if not isinstance(records, list):
        raise MalformedMessageError("body has no Records list")
    if len(records) > MAX_RECORDS:
        raise MalformedMessageError(f"{len(records)} records in one message; S3 sends one")
    refs: list[ObjectRef] = []
    for rec in records:
        try:
            ref = _record(rec)
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise MalformedMessageError(f"not an S3 event record: {type(e).__name__}: {e}"[:300]) from e
        if ref is not None:
            refs.append(ref)
    return refs


def _record(rec: Any) -> ObjectRef | None:
    if rec.get("eventSource") != "aws:s3":
        raise MalformedMessageError(f"unexpected eventSource {rec.get('eventSource')!r}")
    event_name = str(rec["eventName"])
    if event_name.startswith("ObjectCreated:"):
        kind = Kind.CREATED
    elif event_name.startswith("ObjectRemoved:"):
        kind = Kind.REMOVED
    else:
        log.info("skipping an event that neither creates nor removes", extra={"event_name": event_name})
        return None
    s3 = rec["s3"]
    obj: S3ObjectInfo = s3["object"]
    key, bucket, size = obj["key"], s3["bucket"]["name"], obj.get("size")
    if not isinstance(key, str) or not isinstance(bucket, str):
        raise MalformedMessageError("the object key and bucket name must be strings")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int | str) or not str(size).isdigit()):
        raise MalformedMessageError(f"object size {size!r} is not a whole number")
    # S3 sends keys form-encoded: spaces as '+', '+' as '%2B'.
    key = unquote_plus(key)
    try:
        size_of_key = len(key.encode("utf-8"))
    except UnicodeEncodeError as e:  # a lone surrogate: valid JSON, never an S3 key
        raise MalformedMessageError("the object key is not valid UTF-8") from e
    if not 0 < size_of_key <= MAX_KEY_BYTES:
        raise MalformedMessageError(f"an S3 key is 1 to {MAX_KEY_BYTES} bytes, not {size_of_key}")
    return ObjectRef(
        bucket=bucket,
        source_key=key,
        size=int(size) if size is not None else None,
        etag=str(obj.get("eTag", "")).strip('"'),
        version_id=str(obj.get("versionId") or "") or None,
        sequencer=str(obj.get("sequencer", "")),
        kind=kind,
    )


# The marker of a deferred-variants job (the processor's own message on the variants queue; S3 never sends it).
VARIANTS_JOB = "imgpipe.variants"


@dataclass(frozen=True)
class VariantsJob:
    """Make the deferred formats (AVIF) of one processed version of a source, after its result went out."""

    bucket: str
    source_key: str
    version: Version
    formats: tuple[str, ...]

    def to_body(self) -> str:
        """The SQS message body."""
        v = self.version
        return json.dumps(
            {
                "type": VARIANTS_JOB,
                "bucket": self.bucket,
                "key": self.source_key,  # (the wire name: jobs in flight across a deploy still read)
                "sequencer": v.sequencer,
                "etag": v.etag,
                "versionId": v.version_id,
                "formats": list(self.formats),
            }
        )

    @staticmethod
    def from_body(body: str) -> VariantsJob | None:
        """The job a body holds; None if it is not one (an S3 event, or not JSON at all); MalformedMessageError if
        it is a broken one."""
        try:
            data = _load(body)
        except MalformedMessageError:
            return None  # (parse_body says what is wrong with it)
        return _job(data) if data.get("type") == VARIANTS_JOB else None


def _job(data: dict[str, Any]) -> VariantsJob:
    try:
        fields = {k: data[k] for k in ("bucket", "key", "sequencer", "etag", "versionId")}
        formats = data["formats"]
    except KeyError as e:
        raise MalformedMessageError(f"variants job without {e}") from e
    if not all(isinstance(v, str) for v in fields.values()) or not isinstance(formats, list):
        raise MalformedMessageError("variants job fields must be strings and formats a list")
    if not formats or not all(f in VARIANT_NAMES for f in formats):
        raise MalformedMessageError(f"variants job formats {formats!r}")
    version = Version(Kind.CREATED, fields["sequencer"], fields["etag"], fields["versionId"])
    return VariantsJob(fields["bucket"], fields["key"], version, tuple(formats))
