"""In-memory stand-ins for the adapters, with the same conditional-write semantics, for unit tests."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from pipeline.adapters.records import ImageItem
from pipeline.domain import Current
from pipeline.errors import SourceMissingError, SupersededError, TransientError


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


class FakeRecords:
    """Items in a dict, each write as conditional as DynamoDB's (the contract tests hold it to the adapter)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> ImageItem | None:
        item = self.items.get(key)
        return copy.deepcopy(item) if item else None  # type: ignore[return-value]

    def claim(self, item: ImageItem, expected_rev: int | None) -> bool:
        return self._put_if_unchanged(item, expected_rev)

    def delete(self, item: ImageItem, expected_rev: int | None) -> bool:
        return self._put_if_unchanged(item, expected_rev)

    def complete(self, key: str, owner: str, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
        return self._if_owned(key, owner, changes, remove)

    def fail(self, key: str, owner: str, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
        return self._if_owned(key, owner, changes, remove)

    def release(self, key: str, owner: str, changes: dict[str, Any]) -> bool:
        return self._if_owned(key, owner, changes)

    def _put_if_unchanged(self, item: ImageItem, expected_rev: int | None) -> bool:
        current = self.items.get(item["sourceKey"])
        if (current is None) != (expected_rev is None):
            return False
        if current is not None and current.get("rev") != expected_rev:
            return False
        self.items[item["sourceKey"]] = copy.deepcopy(dict(item))
        return True

    def _if_owned(self, key: str, owner: str, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
        current = self.items.get(key)
        if not current or current.get("owner") != owner or current.get("status") != "processing":
            return False
        current.update(copy.deepcopy(changes))
        for name in remove:
            current.pop(name, None)
        current["rev"] = current.get("rev", 0) + 1
        return True

    def claim_publish(self, key: str, version: str, status: str, *, now: int, lease_s: int) -> bool:
        current = self.items.get(key)
        if not current or current.get("version") != version or current.get("status") != status:
            return False
        if current.get("notified") or current.get("notifyUntil", 0) >= now:
            return False
        current["notifyUntil"] = now + lease_s
        current["rev"] = current.get("rev", 0) + 1
        return True

    def release_publish(self, key: str, version: str) -> None:
        current = self.items.get(key)
        if current and current.get("version") == version:
            current.pop("notifyUntil", None)

    def mark_published(self, key: str, version: str, status: str) -> bool:
        current = self.items.get(key)
        if not current or current.get("version") != version or current.get("status") != status:
            return False
        current["notified"] = True
        current.pop("notifyUntil", None)
        current["rev"] = current.get("rev", 0) + 1
        return True

    def page_by_status(self, status: str, *, limit: int, start: dict[str, str] | None = None) -> dict[str, Any]:
        rows = sorted((i for i in self.items.values() if i.get("status") == status), key=lambda i: i["sourceKey"])
        return {"items": [dict(i) for i in rows[:limit]], "next": None}


class FakeNotifier:
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
