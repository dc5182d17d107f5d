"""One image, start to end: claim, fetch, render, store, record, notify. The idempotency rules live here."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pipeline.adapters.notify import Notifier
from pipeline.adapters.records import ImageItem, ImageRecords, RenditionRecord
from pipeline.adapters.storage import ObjectStore
from pipeline.errors import PermanentError, SupersededError, TransientError
from pipeline.events import ObjectRef
from pipeline.imaging import KNOWN_EXTENSIONS, Limits, RenderResult, render
from pipeline.metrics import emit_failed, emit_processed
from pipeline.settings import Settings

log = logging.getLogger(__name__)


class Decision(Enum):
    """What to do with an event, given the item as it stands."""

    CLAIM = "claim"  # nobody has it, or a newer version, or an expired lease: process it
    DONE = "done"  # this version (or this content) already ended; only make sure it was notified
    STALE = "stale"  # the item already reflects a newer version: acknowledge
    BUSY = "busy"  # this version is being processed under a live lease by another message: that one will finish
    WAIT = "wait"  # an older version is being processed under a live lease: retry later, in order


def decide(item: ImageItem | None, ref: ObjectRef, now: float) -> Decision:
    """The idempotency rules as one pure function of the stored item and the event."""
    if item is None:
        return Decision.CLAIM
    item_order = item.get("order", "")
    if ref.order < item_order:
        return Decision.STALE
    if item.get("status") == "processing":
        if int(item.get("leaseUntil", 0)) > now:
            return Decision.BUSY if ref.order == item_order else Decision.WAIT
        return Decision.CLAIM
    same_content = bool(ref.etag) and ref.etag == item.get("etag")
    if ref.order == item_order or same_content:
        return Decision.DONE
    return Decision.CLAIM


def rendition_key(source_key: str, input_prefix: str, rendition: str, fmt: str) -> str:
    """Where a rendition goes: `{rendition}/{key below the input prefix}`, its extension made right.

    The whole relative path is kept, so `uploads/a/x.jpg` and `uploads/b/x.jpg` never collide. A key whose
    extension already names the output format keeps it; otherwise the right one is appended
    (`x.jpg` holding PNG bytes -> `x.jpg.png`), so two sources in one folder never share an output.
    """
    rel = source_key[len(input_prefix) :] if source_key.startswith(input_prefix) else source_key
    rel = rel.lstrip("/") or "_"
    if not rel.lower().endswith(KNOWN_EXTENSIONS[fmt]):
        rel = f"{rel}{KNOWN_EXTENSIONS[fmt][0]}"
    return f"{rendition}/{rel}"


class Outcome(Enum):
    """How one event ended for the handler."""

    PROCESSED = "processed"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    STALE = "stale"
    BUSY = "busy"
    SKIPPED = "skipped"
    SUPERSEDED = "superseded"


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
    store: ObjectStore
    records: ImageRecords
    notifier: Notifier
    clock: Callable[[], float] = time.time

    @property
    def limits(self) -> Limits:
        """The imaging limits from the settings."""
        s = self.settings
        return Limits(max_bytes=s.max_bytes, max_pixels=s.max_pixels, jpeg_quality=s.jpeg_quality)

    def process(self, ref: ObjectRef, request_id: str = "", message_id: str = "") -> Outcome:
        """Take one event to its end, or raise TransientError so SQS delivers it again."""
        lg = _Log(log, {"image_key": ref.key, "bucket": ref.bucket, "request_id": request_id})
        if not ref.key.startswith(self.settings.input_prefix) or ref.bucket != self.settings.input_bucket:
            lg.warning("event outside the input bucket and prefix; skipped", extra={"stage": "skip"})
            return Outcome.SKIPPED
        owner = uuid.uuid4().hex
        # Most events are for keys never seen before: claim blind first, and read the item only when refused.
        claimed = self._claim(ref, None, owner, message_id)
        item: ImageItem | None = None
        for _ in range(5):
            if claimed is not None:
                break
            item = self.records.get(ref.key)
            decision = decide(item, ref, self.clock())
            if decision is Decision.CLAIM:
                # If somebody wrote in between, the claim is refused: read again and decide again.
                claimed = self._claim(ref, item, owner, message_id)
                continue
            if decision is Decision.DONE:
                assert item is not None
                self._ensure_notified(item, lg)
                lg.info("duplicate event; already %s", item.get("status"), extra={"stage": "duplicate"})
                return Outcome.DUPLICATE
            if decision is Decision.STALE:
                lg.info("event for an older version; skipped", extra={"stage": "stale"})
                return Outcome.STALE
            if decision is Decision.BUSY:
                assert item is not None
                if message_id and item.get("messageId") == message_id:
                    # This very message, delivered again while its first delivery still runs: acknowledging it
                    # would delete the only message that can retry the image if that first delivery fails.
                    raise TransientError("this message is still being processed by another delivery", code="in_flight")
                lg.info("same version in progress under a live lease; acknowledged", extra={"stage": "busy"})
                return Outcome.BUSY
            raise TransientError("an older version is still being processed", code="wait_older")
        if claimed is None:
            raise TransientError("could not claim the item: too much contention", code="contention")

        started = self.clock()
        lg.info("claimed", extra={"stage": "claim", "order": ref.order})
        try:
            result = self._render(ref)
            renditions = self._store(ref, result)
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
            "status": "processed",
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
        removed = ("owner", "leaseUntil", "lastError", "messageId")
        if not self.records.finish(ref.key, owner, changes, remove=removed):
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

    def _claim(self, ref: ObjectRef, item: ImageItem | None, owner: str, message_id: str) -> ImageItem | None:
        """Write the claim if the item is still as read (absent, when item is None); the new item, or None."""
        now = self.clock()
        same_version = item is not None and item.get("order") == ref.order
        new: ImageItem = {
            "sourceKey": ref.key,
            "bucket": ref.bucket,
            "status": "processing",
            "order": ref.order,
            "etag": ref.etag,
            "sequencer": ref.sequencer,
            "owner": owner,
            "leaseUntil": int(now) + self.settings.lease_s,
            "attempts": (int(item.get("attempts", 0)) + 1) if (item and same_version) else 1,
            "rev": (int(item.get("rev", 0)) + 1) if item else 1,
            "notified": False,
            "createdAt": item.get("createdAt", _iso(now)) if item else _iso(now),
            "updatedAt": _iso(now),
            "expiresAt": int(now) + self.settings.item_ttl_days * 86400,
        }
        if ref.version_id:
            new["versionId"] = ref.version_id
        if message_id:
            new["messageId"] = message_id
        if item and same_version and "lastError" in item:
            new["lastError"] = item["lastError"]
        ok = self.records.put_if_unchanged(new, int(item["rev"]) if item and "rev" in item else None)
        return new if ok else None

    def _render(self, ref: ObjectRef) -> RenderResult:
        limits = self.limits
        if ref.size is not None and ref.size > limits.max_bytes:
            # Refused from the event alone: the object is never downloaded.
            raise PermanentError(f"{ref.size} bytes is over the limit of {limits.max_bytes}", code="too_large")
        data = self.store.get(ref.bucket, ref.key, max_bytes=limits.max_bytes, version_id=ref.version_id, etag=ref.etag)
        return render(data, self.settings.renditions, limits)

    def _store(self, ref: ObjectRef, result: RenderResult) -> list[RenditionRecord]:
        out: list[RenditionRecord] = []
        for r in result.renditions:
            key = rendition_key(ref.key, self.settings.input_prefix, r.name, r.format)
            self.store.put(self.settings.output_bucket, key, r.data, content_type=r.content_type, source_key=ref.key)
            out.append(
                {
                    "name": r.name,
                    "bucket": self.settings.output_bucket,
                    "key": key,
                    "width": r.width,
                    "height": r.height,
                    "bytes": len(r.data),
                    "contentType": r.content_type,
                }
            )
        return out

    def _fail(self, ref: ObjectRef, owner: str, claimed: ImageItem, err: PermanentError, lg: _Log) -> Outcome:
        now = self.clock()
        changes: dict[str, Any] = {
            "status": "failed",
            "error": {"code": err.code, "message": err.reason[:1000]},
            "processedAt": _iso(now),
            "updatedAt": _iso(now),
            "notified": False,
            "notifyUntil": int(now) + self.settings.lease_s,
        }
        removed = ("owner", "leaseUntil", "renditions", "original", "messageId")
        if not self.records.finish(ref.key, owner, changes, remove=removed):
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
            self.records.finish(ref.key, owner, changes)
        except TransientError:
            lg.warning("could not release the lease; it will expire", extra={"stage": "release"})
        if err is not None:
            lg.warning(
                "transient failure, will retry: %s", err.reason, extra={"stage": "retry", "error_code": err.code}
            )

    def _ensure_notified(self, item: ImageItem, lg: _Log) -> None:
        """Publish an ended item's result unless that was already recorded as done (a duplicate's path)."""
        status = item.get("status", "")
        if status not in ("processed", "failed") or item.get("notified"):
            return
        key, order = item.get("sourceKey", ""), item.get("order", "")
        if not self.records.claim_notify(key, order, status, now=int(self.clock()), lease_s=self.settings.lease_s):
            # Another delivery of this event is publishing it right now; if it fails, its own message retries.
            lg.info("result is being published by another delivery", extra={"stage": "notify"})
            return
        self._publish(item, lg)

    def _publish(self, item: ImageItem, lg: _Log) -> None:
        """Publish the result of an item whose publishing right we hold, then record that it went out."""
        status, key, order = item.get("status", ""), item.get("sourceKey", ""), item.get("order", "")
        # A failure here raises TransientError: SQS delivers the event again, and the retry finds the item
        # ended but not notified, and publishes. Never lost; sent twice only if we die between publishing
        # and recording it (SNS is at-least-once anyway, so subscribers must tolerate that).
        try:
            self._send(item, result_message(item, self.settings.environment), status)
        except TransientError:
            # Give the publishing right back at once, so the retry need not wait for it to expire.
            self.records.release_notify(key, order)
            raise
        self.records.mark_notified(key, order, status)
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
