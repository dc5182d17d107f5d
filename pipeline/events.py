"""Parse Lambda SQS events that carry S3 notifications into typed object references."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict
from urllib.parse import unquote_plus

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
    key: str
    size: int | None
    etag: str
    version_id: str | None
    sequencer: str
    event_time: str
    event_name: str

    @property
    def order(self) -> str:
        """A string that sorts versions of one key by age: the padded sequencer, else the event time.

        S3 says to compare sequencers as hex strings of equal length; some emulators send none,
        and then the ISO event time (which sorts as text) is the best order there is.
        """
        if self.sequencer:
            return "s:" + self.sequencer.upper().rjust(32, "0")
        return "t:" + self.event_time


class MalformedMessageError(ValueError):
    """The SQS body is neither an S3 event nor a test event: only an operator can sort it out."""


def _unwrap_sns(body: dict[str, Any]) -> dict[str, Any]:
    # S3 -> SNS -> SQS fan-out wraps the S3 event in an SNS envelope; accept both shapes.
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        inner = json.loads(body["Message"])
        if isinstance(inner, dict):
            return inner
    return body


def parse_body(body: str) -> list[ObjectRef]:
    """Parse one SQS message body into the object-created references it carries (test events: none)."""
    try:
        data = json.loads(body)
    except (TypeError, json.JSONDecodeError) as e:
        raise MalformedMessageError(f"body is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise MalformedMessageError("body is not a JSON object")
    data = _unwrap_sns(data)
    if data.get("Event") == "s3:TestEvent":
        # S3 sends this once when a notification is configured; it names no object.
        return []
    records = data.get("Records")
    if not isinstance(records, list):
        raise MalformedMessageError("body has no Records list")
    refs: list[ObjectRef] = []
    for rec in records:
        try:
            if rec.get("eventSource") != "aws:s3":
                raise MalformedMessageError(f"unexpected eventSource {rec.get('eventSource')!r}")
            event_name = str(rec["eventName"])
            if not event_name.startswith("ObjectCreated:"):
                log.info("skipping non-create event", extra={"event_name": event_name})
                continue
            s3 = rec["s3"]
            obj: S3ObjectInfo = s3["object"]
            size = obj.get("size")
            refs.append(
                ObjectRef(
                    bucket=str(s3["bucket"]["name"]),
                    # S3 sends keys form-encoded: spaces as '+', '+' as '%2B'.
                    key=unquote_plus(obj["key"]),
                    size=int(size) if size is not None else None,
                    etag=str(obj.get("eTag", "")).strip('"'),
                    version_id=obj.get("versionId") or None,
                    sequencer=str(obj.get("sequencer", "")),
                    event_time=str(rec.get("eventTime", "")),
                    event_name=event_name,
                )
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise MalformedMessageError(f"S3 record is missing {e}") from e
    return refs
