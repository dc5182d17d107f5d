"""The deferred variants (AVIF): a processed version's later formats, made from the variants queue's jobs, added
to its record under the rev read, and published again; given up, and said so, when they cannot be made."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.domain import Failure, ImageRecord, Outcome, Status, StoredRendition, When
from pipeline.errors import PermanentError, SourceMissingError, SupersededError, TransientError
from pipeline.events import VariantsJob
from pipeline.imaging import Animation
from pipeline.logs import ContextLog
from pipeline.ports import Records
from pipeline.publish import Publishing
from pipeline.settings import Settings
from pipeline.work import Work

log = logging.getLogger(__name__)


@dataclass
class DeferredVariants:
    """Adds a processed image's deferred formats to its record; safe to call again with the same job at any time."""

    settings: Settings
    records: Records
    work: Work
    publishing: Publishing
    when: Callable[[], When]

    def add(self, job: VariantsJob, request_id: str = "", receive_count: int = 1) -> Outcome:
        """Make a processed image's deferred variants, add them to its record and publish it again.

        Safe to call again at any time: written under version-scoped keys, recorded under the rev read, and a
        job for a version that is no longer the record's removes what it wrote.
        """
        lg = ContextLog(
            log, {"image_key": job.source_key, "bucket": job.bucket, "request_id": request_id, "stage": "variants"}
        )
        if (
            not self.settings.names.is_source(job.bucket, job.source_key)
            or job.source_key == self.settings.names.input_prefix
        ):
            lg.warning("variants job outside the input bucket and prefix; skipped")
            return Outcome.SKIPPED
        if not job.formats or not set(job.formats) <= set(self.settings.imaging.deferred):
            # Only what this function defers may come later: anything else is made in line, or not at all.
            lg.warning("variants job for formats that are not deferred; skipped", extra={"formats": list(job.formats)})
            return Outcome.SKIPPED
        read = self.records.get(job.source_key)
        if read is not None and read.original is not None and read.original.animation == Animation.KEPT:
            # An animation has no AVIF on purpose (a browser would pick its still over the animated WebP).
            lg.warning("variants job for an animation; skipped")
            return Outcome.SKIPPED
        early = self._variants_state(job, read, lg)
        if early is not None:
            return early
        assert read is not None
        made = self._make_variants(job, read, receive_count, lg)
        if isinstance(made, Outcome):
            return made
        for _ in range(5):
            added = read.with_variants(tuple(made), self.when())
            if self.records.write(added):
                lg.info("deferred variants added", extra={"formats": list(job.formats), "renditions": len(made)})
                self.publishing.publish(added.record, lg)
                return Outcome.PROCESSED
            read = self.records.get(job.source_key)  # a publish mark in between, or a newer version, or a removal
            early = self._variants_state(job, read, lg)
            if early is not None:
                return early
            assert read is not None
        raise TransientError("could not add the variants: too much contention", code="contention")

    def _make_variants(
        self, job: VariantsJob, read: ImageRecord, receive_count: int, lg: ContextLog
    ) -> list[StoredRendition] | Outcome:
        """The job's renditions, written; or how the job ends without them (raises to come back later)."""
        try:
            return self.work.make_variants(job)
        except (SupersededError, SourceMissingError):
            self.work.drop_variants(job)
            lg.info("source replaced or removed since; deferred variants dropped")
            return Outcome.STALE
        except PermanentError as e:
            # The same bytes rendered in line a moment ago: the record keeps those, and says the AVIF will not come
            # (else upload --wait, the page and the API wait for it for ever).
            lg.warning("deferred variants failed: %s", e.reason, extra={"error_code": e.code})
            self._give_up_variants(read, Failure(e.code, e.reason[:1000]), lg)
            return Outcome.FAILED
        except TransientError as e:
            if receive_count >= self.settings.timing.max_receive_count:
                # Its last receive: the job goes to the DLQ (and the alarm) as any other, and the record says the
                # variants are not coming, until a redrive brings them.
                self._give_up_variants(read, Failure(e.code, e.reason[:1000]), lg)
            raise

    def _give_up_variants(self, read: ImageRecord, why: Failure, lg: ContextLog) -> None:
        """Record that this version's deferred formats are not coming, and publish it complete (best effort: a
        record changed meanwhile is a newer version's or a removal, which need nothing from this)."""
        given_up = read.variants_failed(why, self.when())
        if self.records.write(given_up):
            lg.warning("deferred variants given up", extra={"error_code": why.code})
            self.publishing.publish(given_up.record, lg)

    def _variants_state(self, job: VariantsJob, read: ImageRecord | None, lg: ContextLog) -> Outcome | None:
        """How a variants job ends before (or instead of) its write; None: go on. Raises to come back later."""
        if read is None or not read.version.same_as(job.version) or read.status in (Status.FAILED, Status.DELETED):
            self.work.drop_variants(job)
            lg.info("for a version that is no longer the record's; anything it wrote is removed")
            return Outcome.STALE
        if read.status is Status.PROCESSING:
            raise TransientError("the result is not recorded yet", code="variants_early")
        if all(f in {r.format for r in read.renditions} for f in job.formats):
            self.publishing.ensure(read, lg)
            return Outcome.DUPLICATE
        if not read.published:
            # The first result goes out first: subscribers see the in-line renditions, then all of them.
            raise TransientError("the result is not published yet", code="variants_early")
        return None
