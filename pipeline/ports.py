"""What the processor and the API need from storage, the item table and the results topic: the ports.

The adapters (pipeline/adapters) implement them over boto3; the unit tests' fakes (tests/fakes.py) implement them
in memory. One contract suite (tests/integration/test_contracts.py) runs against both, so a fake cannot drift from
the adapter it stands in for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pipeline.adapters.records import ImageItem
    from pipeline.domain import Current


class Storage(Protocol):
    """Objects: sources in, renditions out."""

    def get(self, bucket: str, key: str, *, max_bytes: int, etag: str = "") -> bytes:
        """The object's bytes if it still has this ETag; SourceMissingError, SupersededError, ImageError (too large)."""
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
    """The image items, written only under the conditions decide() relies on (pipeline/domain.py)."""

    def get(self, key: str) -> ImageItem | None:
        """The item of a source key (strongly consistent), or None."""
        ...

    def claim(self, item: ImageItem, expected_rev: int | None) -> bool:
        """Take an image for an event's version: write the whole item if its rev is still expected_rev (None: none)."""
        ...

    def delete(self, item: ImageItem, expected_rev: int | None) -> bool:
        """Record the source as deleted (a tombstone), under the same condition as claim."""
        ...

    def complete(self, key: str, owner: str, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
        """Record the result if this owner still holds the item in processing; False otherwise."""
        ...

    def fail(self, key: str, owner: str, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
        """Record the failure if this owner still holds the item in processing; False otherwise."""
        ...

    def release(self, key: str, owner: str, changes: dict[str, Any]) -> bool:
        """Give back the lease if this owner still holds the item in processing; False otherwise."""
        ...

    def claim_publish(self, key: str, version: str, status: str, *, now: int, lease_s: int) -> bool:
        """Take the right to publish this version's result (not yet published, no live lease); False otherwise."""
        ...

    def release_publish(self, key: str, version: str) -> None:
        """Give the publishing right back (best effort)."""
        ...

    def mark_published(self, key: str, version: str, status: str) -> bool:
        """Record that this version's result was published; False if the item is no longer that result."""
        ...

    def page_by_status(self, status: str, *, limit: int, start: dict[str, str] | None = None) -> dict[str, Any]:
        """One page of items with a status, newest first: {"items": [...], "next": start key or None}."""
        ...


class Publisher(Protocol):
    """The results topic."""

    def publish(self, message: dict[str, Any], *, subject: str, attributes: dict[str, str]) -> str:
        """Publish one message; returns its id; TransientError when the topic fails."""
        ...
