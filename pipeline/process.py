"""One event, start to end: acquire the record, do the work (pipeline/work.py), record the result, publish it.

decide() says what to do, the record's transitions (pipeline/domain.py) what to write and under which condition.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from pipeline.domain import (
    Current,
    Decision,
    Failure,
    ImageRecord,
    Original,
    Outcome,
    Processed,
    When,
    claim,
    decide,
    is_flat,
    tombstone,
)
from pipeline.errors import PermanentError, SupersededError, TransientError
from pipeline.events import ObjectRef, VariantsJob
from pipeline.imaging import render
from pipeline.logs import ContextLog
from pipeline.metrics import emit_failed, emit_processed
from pipeline.ports import Edge, JobQueue, Publisher, Records, Storage
from pipeline.publish import Publishing
from pipeline.settings import Settings
from pipeline.variants import DeferredVariants
from pipeline.work import Renderer, Work

log = logging.getLogger(__name__)


@dataclass
class Processor:
    """Processes one S3 object event; safe to call again with the same event at any time."""

    settings: Settings
    store: Storage
    records: Records
    publisher: Publisher
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    # Where deferred variants (AVIF) are sent; without a queue they are made in line.
    variants_queue: JobQueue | None = None
    # Admits each render with the memory it plans to hold (the local worker renders several at once; see Limits).
    gate: Callable[[int], AbstractContextManager[object]] = contextlib.nullcontext
    cmyk_profile: Callable[[], bytes | None] = lambda: None  # CMYK_PROFILE, read at first need (wiring)
    renderer: Renderer = render  # the local worker renders in processes of its own (RenderPool)
    edge: Edge | None = None  # the CDN in front of the output bucket, told of every served key deleted
    work: Work = field(init=False)
    publishing: Publishing = field(init=False)
    variants: DeferredVariants = field(init=False)

    def __post_init__(self) -> None:
        # The record and its publishing are this class's; the rendering, storing and deferring are Work's.
        self.work = Work(
            self.settings, self.store, self.variants_queue, self.gate, self.cmyk_profile, self.renderer, self.edge
        )
        self.publishing = Publishing(self.settings, self.records, self.publisher, self.clock, self.sleep)
        self.variants = DeferredVariants(self.settings, self.records, self.work, self.publishing, self._when)

    def process(self, ref: ObjectRef, request_id: str = "", message_id: str = "", receive_count: int = 1) -> Outcome:
        """Take one event to its end, or raise TransientError so SQS delivers it again."""
        lg = ContextLog(log, {"image_key": ref.source_key, "bucket": ref.bucket, "request_id": request_id})
        if not self.settings.names.is_source(ref.bucket, ref.source_key):
            lg.warning("event outside the input bucket and prefix; skipped", extra={"stage": "skip"})
            return Outcome.SKIPPED
        if ref.source_key.endswith("/") and not ref.size:
            # The S3 console makes an empty object ending in "/" for each folder: not an image, not a failure.
            lg.info("folder marker; skipped", extra={"stage": "skip"})
            return Outcome.SKIPPED
        owner = uuid.uuid4().hex
        record, decision = self._acquire(ref, owner, message_id, lg)
        if record is None:
            return _OUTCOME_OF[decision]
        last = receive_count >= self.settings.timing.max_receive_count
        try:
            if decision is Decision.REMOVE:
                return self._remove(ref, record, lg)
            return self._work(ref, owner, record, lg)
        except TransientError:
            raise
        except Exception as e:
            # Not an AWS fault and not bad input: a bug, or something no one foresaw. Say so with the stack, on
            # the record too; retry like a transient fault, but on the last receive end the image as failed so
            # that nothing is left `processing` once its message has left the queue.
            lg.exception("unexpected %s: %s", type(e).__name__, e, extra={"stage": "unexpected", "last": last})
            err = f"{type(e).__name__}: {e}"[:900]
            if last and decision is Decision.CLAIM:
                return self._fail(record, owner, PermanentError(f"internal error: {err}", code="internal_error"), lg)
            retry = TransientError(f"unexpected error: {err}", code="internal_error")
            if decision is Decision.CLAIM:
                self._release(record, owner, retry, lg)
            raise retry from e

    def _acquire(
        self, ref: ObjectRef, owner: str, message_id: str, lg: ContextLog
    ) -> tuple[ImageRecord | None, Decision]:
        """Claim the record for this event (CLAIM), or read it for a removal (REMOVE); else (None, why not)."""
        event = ref.version
        # Most events are for keys never seen before: write blind first, and read the record only when refused.
        read: ImageRecord | None = None
        current: Current | None = None
        decision = decide(None, event, self.clock())
        for _ in range(5):
            if decision is Decision.CLAIM:
                claimed = claim(ref.source_key, ref.bucket, event, read, owner, message_id, self._when())
                if self.records.write(claimed):
                    lg.info("claimed", extra={"stage": "claim", "version": event.token})
                    return claimed.record, decision
            elif decision is Decision.REMOVE:
                if read is not None:
                    return read, decision
                if self.records.write(tombstone(ref.source_key, ref.bucket, event, None, self._when(), publish=False)):
                    lg.info("removed before it was ever processed; recorded", extra={"stage": "remove"})
                    return None, Decision.DONE
            elif decision is Decision.ASK:
                current = self.store.current(ref.bucket, ref.source_key)
            else:
                return None, self._settle(read, decision, message_id, lg)
            # Refused: somebody wrote in between, or we wrote blind. Read the record and decide again.
            read = self.records.get(ref.source_key)
            decision = decide(read, event, self.clock(), current)
        raise TransientError("could not claim the item: too much contention", code="contention")

    def _settle(self, read: ImageRecord | None, decision: Decision, message_id: str, lg: ContextLog) -> Decision:
        """Finish an event that needs no work: a duplicate, a stale or busy one; raise if it must come back."""
        if decision is Decision.DONE:
            assert read is not None
            self.publishing.ensure(read, lg)
            lg.info("duplicate event; already %s", read.status.value, extra={"stage": "duplicate"})
        elif decision is Decision.STALE:
            lg.info("event for an older version; skipped", extra={"stage": "stale"})
        elif decision is Decision.BUSY:
            assert read is not None
            if message_id and read.message_id == message_id:
                # This very message, delivered again while its first delivery still runs: acknowledging it
                # would delete the only message that can retry the image if that first delivery fails.
                raise TransientError("this message is still being processed by another delivery", code="in_flight")
            lg.info("same version in progress under a live lease; acknowledged", extra={"stage": "busy"})
        else:
            raise TransientError("an older version is still being processed", code="wait_older")
        return decision

    def _work(self, ref: ObjectRef, owner: str, claimed: ImageRecord, lg: ContextLog) -> Outcome:
        started = self.clock()
        try:
            result = self.work.render(ref)
            renditions = self.work.store_renditions(ref, result)
            duplicate = self._earlier_same_picture(claimed, result.identity.phash)
            fresh = {r.key for r in renditions}
            self.work.delete_outputs([k for k in claimed.stale_renditions if k not in fresh])
            self.work.defer(ref, result)
        except SupersededError:
            self._release(claimed, owner, None, lg)
            lg.info("object replaced since the event; the newer event will process it", extra={"stage": "superseded"})
            return Outcome.SUPERSEDED
        except PermanentError as e:
            return self._fail(claimed, owner, e, lg)
        except TransientError as e:
            self._release(claimed, owner, e, lg)
            raise
        at = self._when()
        now = at.now
        src, identity = result.source, result.identity
        write = claimed.processed(
            owner,
            at,
            Processed(
                tuple(renditions),
                Original(
                    src.width,
                    src.height,
                    src.format,
                    src.mime,
                    src.bytes,
                    src.orientation,
                    src.animated,
                    result.animation,
                ),
                identity.blurhash,
                identity.dominant_color,
                identity.phash,
                duplicate,
            ),
        )
        done = write.record
        if not self.records.write(write):
            lg.warning("claim lost before the result was recorded", extra={"stage": "record"})
            return Outcome.SUPERSEDED
        emit_processed(
            self.settings.environment,
            ms=(now - started) * 1000,
            bytes_in=src.bytes,
            bytes_out=sum(r.bytes for r in renditions),
        )
        lg.info(
            "processed",
            extra={"stage": "record", "duration_ms": round((now - started) * 1000), "renditions": len(renditions)},
        )
        self.publishing.publish(done, lg)
        return Outcome.PROCESSED

    def add_variants(self, job: VariantsJob, request_id: str = "", receive_count: int = 1) -> Outcome:
        """Make a processed image's deferred variants, add them to its record and publish it again (variants.py)."""
        return self.variants.add(job, request_id, receive_count)

    def _remove(self, ref: ObjectRef, read: ImageRecord, lg: ContextLog) -> Outcome:
        """The source is gone: remove every rendition it had, then record it as deleted and publish that."""
        # Renditions first: if this fails half-way the record still lists them, and the retry removes the rest.
        self.work.delete_outputs(read.output_keys())
        gone = tombstone(ref.source_key, ref.bucket, ref.version, read, self._when(), publish=True)
        if not self.records.write(gone):
            raise TransientError("the item changed while its renditions were removed", code="contention")
        lg.info("source removed; renditions deleted", extra={"stage": "remove"})
        self._repoint_duplicates(read)
        self.publishing.publish(gone.record, lg)
        return Outcome.DELETED

    def _when(self) -> When:
        """Now, with the lease and item lifetime of the settings: what every transition is made at."""
        timing = self.settings.timing
        return When(self.clock(), timing.lease_s, timing.item_ttl_days)

    def _earlier_same_picture(self, claimed: ImageRecord, phash: str) -> str:
        """The source key of an earlier picture with this perceptual hash ("" if none, or if the picture is flat).

        Earlier is by when each key was first created (kept across its versions), then by key: a strict order, so
        pointers can never form a cycle (A, then B = A, then A again with other bytes: A stays the original).
        The index holds processed records only, so the target exists and is not deleted when this is written.
        """
        if is_flat(phash):
            return ""
        mine = (claimed.created_at, claimed.source_key)
        return next((k for created, k in self.records.same_picture(phash) if (created, k) < mine), "")

    def _repoint_duplicates(self, removed: ImageRecord) -> None:
        """Records that named the removed picture as their earlier duplicate now name the next earlier one (or none).

        Best effort: a record changed meanwhile keeps what its own processing wrote.
        """
        if not removed.phash or is_flat(removed.phash):
            return
        for _, key in self.records.same_picture(removed.phash):  # the removed record has left the index
            record = self.records.get(key)
            if record is None or record.duplicate_of != removed.source_key:
                continue
            self.records.write(record.repointed(self._earlier_same_picture(record, removed.phash)))

    def _fail(self, claimed: ImageRecord, owner: str, err: PermanentError, lg: ContextLog) -> Outcome:
        # The version that failed replaced one that had renditions: those no longer show the source, so go.
        try:
            self.work.delete_outputs(list(claimed.stale_renditions))
        except TransientError as e:
            self._release(claimed, owner, e, lg)  # the retry fails the image again, without waiting for the lease
            raise
        write = claimed.failed(owner, Failure(err.code, err.reason[:1000]), self._when())
        failed = write.record
        if not self.records.write(write):
            lg.warning("claim lost before the failure was recorded", extra={"stage": "record"})
            return Outcome.SUPERSEDED
        emit_failed(self.settings.environment, reason=err.code)
        lg.warning("failed: %s", err.reason, extra={"stage": "record", "error_code": err.code})
        self.publishing.publish(failed, lg)
        return Outcome.FAILED

    def _release(self, claimed: ImageRecord, owner: str, err: TransientError | None, lg: ContextLog) -> None:
        # Give the lease back at once, so the retry does not wait for it to expire; say why it failed.
        why = Failure(err.code, err.reason[:1000]) if err is not None else None
        try:
            self.records.write(claimed.released(owner, why, self._when()))
        except TransientError:
            lg.warning("could not release the lease; it will expire", extra={"stage": "release"})
        if err is not None:
            lg.warning(
                "transient failure, will retry: %s", err.reason, extra={"stage": "retry", "error_code": err.code}
            )


_OUTCOME_OF = {
    Decision.DONE: Outcome.DUPLICATE,
    Decision.STALE: Outcome.STALE,
    Decision.BUSY: Outcome.BUSY,
}
