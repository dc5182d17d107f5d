"""One event, start to end: acquire the item, do the work, record the result, notify. decide() says what to do."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pipeline.adapters.records import ImageItem, RenditionRecord
from pipeline.domain import ENDED, Current, Decision, Kind, Status, Stored, Version, decide, rendition_key
from pipeline.errors import PermanentError, SupersededError, TooLargeError, TransientError
from pipeline.events import ObjectRef
from pipeline.imaging import Limits, RenderResult, render
from pipeline.metrics import emit_failed, emit_processed
from pipeline.ports import Publisher, Records, Storage
from pipeline.settings import Settings

log = logging.getLogger(__name__)


class Outcome(Enum):
    """How one event ended for the handler."""

    PROCESSED = "processed"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    STALE = "stale"
    BUSY = "busy"
    SKIPPED = "skipped"
    SUPERSEDED = "superseded"
    DELETED = "deleted"


class _Log(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger adapter that adds its context to each call's own `extra` instead of replacing it."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Processor:
    """Processes one S3 object event; safe to call again with the same event at any time."""

    settings: Settings
    store: Storage
    records: Records
    notifier: Publisher
    clock: Callable[[], float] = time.time

    @property
    def limits(self) -> Limits:
        """The imaging limits from the settings."""
        s = self.settings
        return Limits(
            max_bytes=s.max_bytes,
            max_pixels=s.max_pixels,
            jpeg_quality=s.jpeg_quality,
            max_work_bytes=s.work_budget_bytes,
        )

    def process(self, ref: ObjectRef, request_id: str = "", message_id: str = "", receive_count: int = 1) -> Outcome:
        """Take one event to its end, or raise TransientError so SQS delivers it again."""
        lg = _Log(log, {"image_key": ref.key, "bucket": ref.bucket, "request_id": request_id})
        if not ref.key.startswith(self.settings.input_prefix) or ref.bucket != self.settings.input_bucket:
            lg.warning("event outside the input bucket and prefix; skipped", extra={"stage": "skip"})
            return Outcome.SKIPPED
        if ref.key.endswith("/") and not ref.size:
            # The S3 console makes an empty object ending in "/" for each folder: not an image, not a failure.
            lg.info("folder marker; skipped", extra={"stage": "skip"})
            return Outcome.SKIPPED
        owner = uuid.uuid4().hex
        item, decision = self._acquire(ref, owner, message_id, lg)
        if item is None:
            return _OUTCOME_OF[decision]
        last = receive_count >= self.settings.max_receive_count
        try:
            if decision is Decision.REMOVE:
                return self._remove(ref, item, lg)
            return self._work(ref, owner, item, lg)
        except TransientError:
            raise
        except Exception as e:
            # Not an AWS fault and not bad input: a bug, or something no one foresaw. Say so with the stack, on
            # the item too; retry like a transient fault, but on the last receive end the item as failed so
            # that nothing is left `processing` once its message has left the queue.
            lg.exception("unexpected %s: %s", type(e).__name__, e, extra={"stage": "unexpected", "last": last})
            err = f"{type(e).__name__}: {e}"[:900]
            if last and decision is Decision.CLAIM:
                return self._fail(ref, owner, item, PermanentError(f"internal error: {err}", code="internal_error"), lg)
            retry = TransientError(f"unexpected error: {err}", code="internal_error")
            if decision is Decision.CLAIM:
                self._release(ref, owner, retry, lg)
            raise retry from e

    def _acquire(self, ref: ObjectRef, owner: str, message_id: str, lg: _Log) -> tuple[ImageItem | None, Decision]:
        """Claim the item for this event (CLAIM), or read it for a removal (REMOVE); else (None, why not)."""
        event = ref.version
        # Most events are for keys never seen before: write blind first, and read the item only when refused.
        item: ImageItem | None = None
        current: Current | None = None
        decision = decide(None, event, self.clock())
        for _ in range(5):
            if decision is Decision.CLAIM:
                claimed = self._claim(ref, item, owner, message_id)
                if claimed is not None:
                    lg.info("claimed", extra={"stage": "claim", "version": event.token})
                    return claimed, decision
            elif decision is Decision.REMOVE:
                if item is not None:
                    return item, decision
                if self._tombstone(ref, None, notify=False) is not None:
                    lg.info("removed before it was ever processed; recorded", extra={"stage": "remove"})
                    return None, Decision.DONE
            elif decision is Decision.ASK:
                current = self.store.current(ref.bucket, ref.key)
            else:
                return None, self._settle(ref, item, decision, message_id, lg)
            # Refused: somebody wrote in between, or we wrote blind. Read the item and decide again.
            item = self.records.get(ref.key)
            decision = decide(_stored(item), event, self.clock(), current)
        raise TransientError("could not claim the item: too much contention", code="contention")

    def _settle(
        self, ref: ObjectRef, item: ImageItem | None, decision: Decision, message_id: str, lg: _Log
    ) -> Decision:
        """Finish an event that needs no work: a duplicate, a stale or busy one; raise if it must come back."""
        if decision is Decision.DONE:
            assert item is not None
            self._ensure_notified(item, lg)
            lg.info("duplicate event; already %s", item.get("status"), extra={"stage": "duplicate"})
        elif decision is Decision.STALE:
            lg.info("event for an older version; skipped", extra={"stage": "stale"})
        elif decision is Decision.BUSY:
            assert item is not None
            if message_id and item.get("messageId") == message_id:
                # This very message, delivered again while its first delivery still runs: acknowledging it
                # would delete the only message that can retry the image if that first delivery fails.
                raise TransientError("this message is still being processed by another delivery", code="in_flight")
            lg.info("same version in progress under a live lease; acknowledged", extra={"stage": "busy"})
        else:
            raise TransientError("an older version is still being processed", code="wait_older")
        return decision

    def _work(self, ref: ObjectRef, owner: str, claimed: ImageItem, lg: _Log) -> Outcome:
        started = self.clock()
        try:
            result = self._render(ref)
            renditions = self._store(ref, result)
            fresh = {r["key"] for r in renditions}
            self._delete_renditions([k for k in claimed.get("staleRenditions", []) if k not in fresh])
        except SupersededError:
            self._release(ref, owner, None, lg)
            lg.info("object replaced since the event; the newer event will process it", extra={"stage": "superseded"})
            return Outcome.SUPERSEDED
        except PermanentError as e:
            return self._fail(ref, owner, claimed, e, lg)
        except TransientError as e:
            self._release(ref, owner, e, lg)
            raise
        now = self.clock()
        changes: dict[str, Any] = {
            "status": Status.PROCESSED.value,
            "renditions": list(renditions),
            "original": {
                "width": result.source.width,
                "height": result.source.height,
                "format": result.source.format,
                "mime": result.source.mime,
                "bytes": result.source.bytes,
                "orientation": result.source.orientation,
                "animated": result.source.animated,
            },
            "processedAt": _iso(now),
            "updatedAt": _iso(now),
            "notified": False,
            # The right to publish is taken in the same write: no extra request, and no duplicate can race us.
            "notifyUntil": int(now) + self.settings.lease_s,
        }
        removed = ("owner", "leaseUntil", "lastError", "messageId", "staleRenditions")
        if not self.records.complete(ref.key, owner, changes, remove=removed):
            lg.warning("claim lost before the result was recorded", extra={"stage": "record"})
            return Outcome.SUPERSEDED
        emit_processed(
            self.settings.environment,
            ms=(now - started) * 1000,
            bytes_in=result.source.bytes,
            bytes_out=sum(r["bytes"] for r in renditions),
        )
        lg.info(
            "processed",
            extra={"stage": "record", "duration_ms": round((now - started) * 1000), "renditions": len(renditions)},
        )
        self._publish(_after(claimed, changes, removed), lg)
        return Outcome.PROCESSED

    def _remove(self, ref: ObjectRef, item: ImageItem, lg: _Log) -> Outcome:
        """The source is gone: remove every rendition it had, then record the item as deleted and notify."""
        # Renditions first: if this fails half-way the item still lists them, and the retry removes the rest.
        self._delete_renditions(_rendition_keys(item))
        done = self._tombstone(ref, item, notify=True)
        if done is None:
            raise TransientError("the item changed while its renditions were removed", code="contention")
        lg.info("source removed; renditions deleted", extra={"stage": "remove"})
        self._publish(done, lg)
        return Outcome.DELETED

    def _tombstone(self, ref: ObjectRef, item: ImageItem | None, *, notify: bool) -> ImageItem | None:
        """Record the key as deleted at this event's version (kept until the TTL, so older events stay stale).

        Returns the item as written, or None when the item changed since it was read.
        """
        now = self.clock()
        new = self._item(ref, item, Status.DELETED, now)
        new.update({"etag": "", "attempts": 1, "notified": not notify, "processedAt": _iso(now)})
        if notify:
            new["notifyUntil"] = int(now) + self.settings.lease_s
        return new if self.records.delete(new, _rev(item)) else None

    def _item(self, ref: ObjectRef, item: ImageItem | None, status: Status, now: float) -> ImageItem:
        """What every whole-item write holds: the key, this event's version, the next revision, the dates, the TTL."""
        new: ImageItem = {
            "sourceKey": ref.key,
            "bucket": ref.bucket,
            "status": status.value,
            "version": ref.version.token,
            "sequencer": ref.version.sequencer,
            "rev": (int(item.get("rev", 0)) + 1) if item else 1,
            "createdAt": item.get("createdAt", _iso(now)) if item else _iso(now),
            "updatedAt": _iso(now),
            "expiresAt": int(now) + self.settings.item_ttl_days * 86400,
        }
        if ref.version_id:
            new["versionId"] = ref.version_id
        return new

    def _delete_renditions(self, keys: list[str]) -> None:
        for key in keys:
            self.store.delete(self.settings.output_bucket, key)

    def _claim(self, ref: ObjectRef, item: ImageItem | None, owner: str, message_id: str) -> ImageItem | None:
        """Write the claim if the item is still as read (absent, when item is None); the new item, or None."""
        now = self.clock()
        same_version = item is not None and item.get("version") == ref.version.token
        new = self._item(ref, item, Status.PROCESSING, now)
        new.update(
            {
                "etag": ref.etag,
                "owner": owner,
                "leaseUntil": int(now) + self.settings.lease_s,
                "attempts": (int(item.get("attempts", 0)) + 1) if (item and same_version) else 1,
                "notified": False,
            }
        )
        if message_id:
            new["messageId"] = message_id
        if item and same_version and "lastError" in item:
            new["lastError"] = item["lastError"]
        replaced = _rendition_keys(item) if item else []
        if replaced:
            # The renditions of the version being replaced: removed once the new one has its own, or fails.
            new["staleRenditions"] = replaced
        return new if self.records.claim(new, _rev(item)) else None

    def _render(self, ref: ObjectRef) -> RenderResult:
        limits = self.limits
        if ref.size is not None and ref.size > limits.max_bytes:
            # Refused from the event alone: the object is never downloaded.
            raise TooLargeError(f"{ref.size} bytes is over the limit of {limits.max_bytes}")
        # The current object, and only if it is still the content the event names (If-Match): a version that
        # was deleted or replaced since the event is never rendered, even where S3 still keeps its bytes.
        data = self.store.get(ref.bucket, ref.key, max_bytes=limits.max_bytes, etag=ref.etag)
        return render(data, self.settings.renditions, limits)

    def _store(self, ref: ObjectRef, result: RenderResult) -> list[RenditionRecord]:
        out: list[RenditionRecord] = []
        for r in result.renditions:
            key = rendition_key(ref.key, self.settings.input_prefix, r.name, r.extension)
            etag = self.store.put(
                self.settings.output_bucket, key, r.data, content_type=r.content_type, source_key=ref.key
            )
            out.append(
                {
                    "name": r.name,
                    "bucket": self.settings.output_bucket,
                    "key": key,
                    "width": r.width,
                    "height": r.height,
                    "bytes": len(r.data),
                    "contentType": r.content_type,
                    "etag": etag,
                }
            )
        return out

    def _fail(self, ref: ObjectRef, owner: str, claimed: ImageItem, err: PermanentError, lg: _Log) -> Outcome:
        # The version that failed replaced one that had renditions: those no longer show the source, so go.
        self._delete_renditions(list(claimed.get("staleRenditions", [])))
        now = self.clock()
        changes: dict[str, Any] = {
            "status": Status.FAILED.value,
            "error": {"code": err.code, "message": err.reason[:1000]},
            "processedAt": _iso(now),
            "updatedAt": _iso(now),
            "notified": False,
            "notifyUntil": int(now) + self.settings.lease_s,
        }
        removed = ("owner", "leaseUntil", "renditions", "original", "messageId", "staleRenditions")
        if not self.records.fail(ref.key, owner, changes, remove=removed):
            lg.warning("claim lost before the failure was recorded", extra={"stage": "record"})
            return Outcome.SUPERSEDED
        emit_failed(self.settings.environment, reason=err.code)
        lg.warning("failed: %s", err.reason, extra={"stage": "record", "error_code": err.code})
        self._publish(_after(claimed, changes, removed), lg)
        return Outcome.FAILED

    def _release(self, ref: ObjectRef, owner: str, err: TransientError | None, lg: _Log) -> None:
        # Give the lease back at once, so the retry does not wait for it to expire; say why it failed.
        changes: dict[str, Any] = {"leaseUntil": 0, "updatedAt": _iso(self.clock())}
        if err is not None:
            changes["lastError"] = {"code": err.code, "message": err.reason[:1000]}
        try:
            self.records.release(ref.key, owner, changes)
        except TransientError:
            lg.warning("could not release the lease; it will expire", extra={"stage": "release"})
        if err is not None:
            lg.warning(
                "transient failure, will retry: %s", err.reason, extra={"stage": "retry", "error_code": err.code}
            )

    def _ensure_notified(self, item: ImageItem, lg: _Log) -> None:
        """Publish an ended item's result unless that was already recorded as done (a duplicate's path)."""
        status = item.get("status", "")
        if status not in {s.value for s in ENDED} or item.get("notified"):
            return
        key, version = item.get("sourceKey", ""), item.get("version", "")
        if not self.records.claim_publish(key, version, status, now=int(self.clock()), lease_s=self.settings.lease_s):
            # Another delivery of this event is publishing it right now; if it fails, its own message retries.
            lg.info("result is being published by another delivery", extra={"stage": "notify"})
            return
        self._publish(item, lg)

    def _publish(self, item: ImageItem, lg: _Log) -> None:
        """Publish the result of an item whose publishing right we hold, then record that it went out."""
        status, key, version = item.get("status", ""), item.get("sourceKey", ""), item.get("version", "")
        # A failure here raises TransientError: SQS delivers the event again, and the retry finds the item
        # ended but not notified, and publishes. Never lost; sent twice only if we die between publishing
        # and recording it (SNS is at-least-once anyway, so subscribers must tolerate that).
        try:
            self._send(item, result_message(item, self.settings.environment), status)
        except TransientError:
            # Give the publishing right back at once, so the retry need not wait for it to expire.
            self.records.release_publish(key, version)
            raise
        self.records.mark_published(key, version, status)
        lg.info("notified", extra={"stage": "notify", "status": status})

    def _send(self, item: ImageItem, message: dict[str, Any], status: str) -> None:
        self.notifier.publish(
            message,
            subject=f"imgpipe {status}: {item.get('sourceKey', '').rsplit('/', 1)[-1]}",
            attributes={
                "status": status,
                "environment": self.settings.environment,
                "format": str(item.get("original", {}).get("format", "")),
                "error_code": str(item.get("error", {}).get("code", "")),
            },
        )


_OUTCOME_OF = {
    Decision.DONE: Outcome.DUPLICATE,
    Decision.STALE: Outcome.STALE,
    Decision.BUSY: Outcome.BUSY,
}


def _stored(item: ImageItem | None) -> Stored | None:
    """What decide() needs of an item."""
    if item is None:
        return None
    status = Status(item.get("status", Status.PROCESSING.value))
    kind = Kind.REMOVED if status is Status.DELETED else Kind.CREATED
    version = Version(kind, item.get("sequencer", ""), item.get("etag", ""), item.get("versionId", ""))
    return Stored(status=status, version=version, lease_until=int(item.get("leaseUntil", 0)))


def _rendition_keys(item: ImageItem) -> list[str]:
    """Every output key an item accounts for: its renditions and those of a version it is replacing."""
    keys = [r["key"] for r in item.get("renditions", [])]
    return keys + [k for k in item.get("staleRenditions", []) if k not in keys]


def _after(item: ImageItem, changes: dict[str, Any], removed: tuple[str, ...]) -> ImageItem:
    """The item as a successful finish() leaves it, without reading it back."""
    done: dict[str, Any] = {**item, **changes, "rev": int(item.get("rev", 0)) + 1}
    for name in removed:
        done.pop(name, None)
    return done  # type: ignore[return-value]


def result_message(item: ImageItem, environment: str) -> dict[str, Any]:
    """The SNS message body for an ended item."""
    return {
        "status": item.get("status"),
        "bucket": item.get("bucket"),
        "key": item.get("sourceKey"),
        "etag": item.get("etag"),
        "versionId": item.get("versionId"),
        "renditions": item.get("renditions", []),
        "original": item.get("original"),
        "error": item.get("error"),
        "processedAt": item.get("processedAt"),
        "environment": environment,
    }


def _rev(read: ImageItem | None) -> int | None:
    """The revision a whole-item write is conditional on: the one read, or None for an item that was absent."""
    return int(read["rev"]) if read and "rev" in read else None
