"""Publishing a record's result on SNS, once: the right to publish is taken with the record's write, the message
sent, and that it went out recorded (pipeline/process.py calls this after each transition that ends a record)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.domain import ImageRecord, Status
from pipeline.errors import TransientError
from pipeline.logs import ContextLog
from pipeline.ports import Publisher, Records
from pipeline.settings import Settings

# Calls (each with the client's own retries) to record that a result went out before the event is retried.
PUBLISHED_WRITE_ATTEMPTS = 3


@dataclass
class Publishing:
    """Publishes ended records' results and records that they went out."""

    settings: Settings
    records: Records
    publisher: Publisher
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def ensure(self, read: ImageRecord, lg: ContextLog) -> None:
        """Publish an ended record's result unless that was already recorded as done (a duplicate's path)."""
        if not read.ended or read.published:
            return
        if not self.records.claim_publish(read, now=int(self.clock()), lease_s=self.settings.timing.lease_s):
            # Someone holds the right to publish: another delivery publishing right now, or one that failed and
            # could not give the right back (that write is best effort). Acknowledging here would lose the
            # result in the second case: come back later, when it is published or the right has expired.
            raise TransientError("the result is being published by another delivery", code="publish_in_flight")
        self.publish(read, lg)

    def publish(self, record: ImageRecord, lg: ContextLog) -> None:
        """Publish the result of a record whose publishing right we hold, then record that it went out."""
        # A failure here raises TransientError: SQS delivers the event again, and the retry finds the record
        # ended but not published, and publishes. Never lost; sent twice only if we die between publishing
        # and recording it (SNS is at-least-once anyway, so subscribers must tolerate that).
        message = result_message(record, self.settings.environment, self.settings.imaging.deferred)
        try:
            self.publisher.publish(
                message,
                subject=f"imgpipe {record.status.value}: {record.source_key.rsplit('/', 1)[-1]}",
                attributes={
                    "status": record.status.value,
                    "environment": self.settings.environment,
                    "format": record.original.format if record.original else "",
                    "error_code": record.error.code if record.error else "",
                    # A subscription that wants one message per image filters on complete=true.
                    "complete": str(message["complete"]).lower(),
                },
            )
        except TransientError:
            # Give the publishing right back at once, so the retry need not wait for it to expire.
            self.records.release_publish(record)
            raise
        self._record_published(record)
        lg.info("published", extra={"stage": "publish", "status": record.status.value})

    def _record_published(self, record: ImageRecord) -> None:
        """Record that the result went out, trying harder than one call: if it is not recorded, the retry
        publishes the result a second time (SNS is at-least-once anyway, but a lost write should not make it so).
        """
        for attempt in range(PUBLISHED_WRITE_ATTEMPTS):
            try:
                self.records.mark_published(record)
                return
            except TransientError:
                if attempt == PUBLISHED_WRITE_ATTEMPTS - 1:
                    raise
                self.sleep(0.2 * 2**attempt)


def result_message(record: ImageRecord, environment: str, deferred: tuple[str, ...]) -> dict[str, Any]:
    """The SNS message body for an ended record: `complete` false while deferred formats are still coming."""
    return {
        "status": record.status.value,
        "bucket": record.bucket,
        "key": record.source_key,
        "etag": "" if record.status is Status.DELETED else record.version.etag,
        "versionId": record.version.version_id or None,
        "renditions": [r.as_dict() for r in record.renditions],
        "original": record.original.as_dict() if record.original else None,
        "error": record.error.as_dict() if record.error else None,
        "processedAt": record.processed_at,
        "complete": record.final(deferred),
        "pendingFormats": list(record.pending_formats(deferred)),
        "variantsError": record.variants_error.as_dict() if record.variants_error else None,
        "environment": environment,
        **record.identity(),
    }
