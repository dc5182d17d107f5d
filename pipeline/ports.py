"""What the processor and the API need from storage, the item table and the results topic: the ports.

The adapters (pipeline/adapters) implement them over boto3. The unit tests use the real Records adapter on moto's
in-process DynamoDB, and in-memory fakes (tests/fakes.py) for storage and the topic; one contract suite
(tests/integration/test_contracts.py) runs against those and against the emulator, so nothing can drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.domain import ImageRecord, Write

if TYPE_CHECKING:
    from pipeline.domain import Current


@dataclass(frozen=True)
class Page:
    """One page of records with a status, and where the next page starts (None: this was the last)."""

    records: list[ImageRecord]
    next: dict[str, str] | None


class Storage(Protocol):
    """Objects: sources in, renditions out."""

    def get(self, bucket: str, key: str, *, max_bytes: int, etag: str = "") -> bytes:
        """The object's bytes if it still has this ETag; SourceMissingError, SupersededError, TooLargeError."""
        ...

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str, source_key: str) -> str:
        """Write an object; returns its ETag."""
        ...

    def delete(self, bucket: str, key: str) -> None:
        """Delete an object (absent is fine)."""
        ...

    def current(self, bucket: str, key: str) -> Current:
        """What the key holds now (exists, ETag, version id)."""
        ...


class Records(Protocol):
    """The image records, written only under the conditions decide() relies on (pipeline/domain.py)."""

    def get(self, key: str) -> ImageRecord | None:
        """The record of a source key (strongly consistent), or None."""
        ...

    def write(self, w: Write) -> bool:
        """Write a transition's record under the condition it names (UNCHANGED: at the rev read, or absent;
        OWNED: that owner still holds it in processing); False when the table refuses it."""
        ...

    def claim_publish(self, record: ImageRecord, *, now: int, lease_s: int) -> bool:
        """Take the right to publish this result (same version and status, unpublished, no live lease)."""
        ...

    def release_publish(self, record: ImageRecord) -> None:
        """Give the publishing right back (best effort)."""
        ...

    def mark_published(self, record: ImageRecord) -> bool:
        """Record that this result was published; False if the stored record is no longer that result."""
        ...

    def page_by_status(self, status: str, *, limit: int, start: dict[str, str] | None = None) -> Page:
        """One page of records with a status, newest first."""
        ...

    def same_picture(self, phash: str) -> list[tuple[str, str]]:
        """(created at, source key) of processed pictures with this perceptual hash, earliest first."""
        ...


class JobQueue(Protocol):
    """The lower-priority queue of deferred variants."""

    def send(self, body: str, *, delay_s: int = 0) -> str:
        """Send one job; returns its id; TransientError when the queue fails."""
        ...


class Publisher(Protocol):
    """The results topic."""

    def publish(self, message: dict[str, Any], *, subject: str, attributes: dict[str, str]) -> str:
        """Publish one message; returns its id; TransientError when the topic fails."""
        ...


class Edge(Protocol):
    """The CDN in front of the output bucket, where there is one."""

    def forget(self, keys: list[str]) -> None:
        """Have every edge drop these output keys within minutes; TransientError when the CDN refuses."""
        ...
