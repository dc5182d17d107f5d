"""The work on an image, apart from its record: render, store, defer, remove. What the processor calls between
its record's transitions (pipeline/process.py); it never reads or writes a record."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

from pipeline.domain import StoredRendition, rendition_key
from pipeline.errors import TooLargeError
from pipeline.events import ObjectRef, VariantsJob
from pipeline.imaging import EXTENSIONS, Animation, Limits, RenderedImage, RenderResult, render
from pipeline.ports import Edge, JobQueue, Storage
from pipeline.settings import Rendition, Settings

Renderer = Callable[[bytes, Sequence[Rendition], Limits], RenderResult]


@dataclass
class Work:
    """Renders an image's renditions and stores them, asks for its deferred variants, and removes outputs."""

    settings: Settings
    store: Storage
    # Where deferred variants (AVIF) are sent; without a queue they are made in line.
    variants_queue: JobQueue | None = None
    # Admits each render with the memory it plans to hold (the local worker renders several at once; see Limits).
    gate: Callable[[int], AbstractContextManager[object]] = contextlib.nullcontext
    # The operator's CMYK profile (CMYK_PROFILE), read at first need: see Limits.
    cmyk_profile: Callable[[], bytes | None] = lambda: None
    # imaging.render here (Lambda: one image per process); the local worker's render processes (RenderPool).
    renderer: Renderer = render
    # The CDN in front of the output bucket (CDN_DISTRIBUTION_ID), told of every served key deleted.
    edge: Edge | None = None

    @property
    def deferred(self) -> tuple[str, ...]:
        """The formats made later, from the variants queue (none without one)."""
        return self.settings.imaging.deferred if self.variants_queue is not None else ()

    @property
    def limits(self) -> Limits:
        """The imaging limits from the settings, for the renditions made in line."""
        s = self.settings
        return Limits(
            max_bytes=s.imaging.max_bytes,
            max_pixels=s.imaging.max_pixels,
            jpeg_quality=s.imaging.jpeg_quality,
            max_work_bytes=s.imaging.work_budget_bytes,
            variants=tuple(v for v in s.imaging.variants if v not in self.deferred),
            animation_decode_pixels=s.imaging.animation_decode_pixels,
            render_seconds=s.timing.render_s,
            gate=self.gate,
            cmyk_profile=self.cmyk_profile,
        )

    def render(self, ref: ObjectRef) -> RenderResult:
        """The renditions made in line of the object this event names (never of another version's bytes)."""
        limits = self.limits
        if ref.size is not None and ref.size > limits.max_bytes:
            # Refused from the event alone: the object is never downloaded.
            raise TooLargeError(f"{ref.size} bytes is over the limit of {limits.max_bytes}")
        # The current object, and only if it is still the content the event names (If-Match): a version that
        # was deleted or replaced since the event is never rendered, even where S3 still keeps its bytes.
        data = self.store.get(ref.bucket, ref.source_key, max_bytes=limits.max_bytes, etag=ref.etag)
        return self.renderer(data, self.settings.imaging.renditions, limits)

    def store_renditions(self, ref: ObjectRef, result: RenderResult) -> list[StoredRendition]:
        """Write the renditions made in line to the output bucket, at their version's keys (rendition_key)."""
        prefix = self.settings.names.input_prefix
        return [
            self._put(r, rendition_key(ref.source_key, prefix, r.name, r.extension, ref.version), ref.source_key)
            for r in result.renditions
        ]

    def _put(self, r: RenderedImage, key: str, source_key: str) -> StoredRendition:
        """Write one rendition to the output bucket; what the record keeps of it."""
        bucket = self.settings.names.output_bucket
        etag = self.store.put(bucket, key, r.data, content_type=r.content_type, source_key=source_key)
        return StoredRendition(
            r.name, bucket, key, r.width, r.height, len(r.data), r.content_type, etag, r.format, r.frames
        )

    def defer(self, ref: ObjectRef, result: RenderResult) -> None:
        """Ask for the deferred variants, before the result is recorded: sent after it, a failed send could not
        be retried (a duplicate event finds the image done). The job waits for the record, so it comes delayed."""
        if not self.deferred or result.animation is Animation.KEPT:  # an animation has no AVIF (imaging)
            return
        assert self.variants_queue is not None
        job = VariantsJob(ref.bucket, ref.source_key, ref.version, self.deferred)
        self.variants_queue.send(job.to_body(), delay_s=self.settings.timing.defer_delay_s)

    def make_variants(self, job: VariantsJob) -> list[StoredRendition]:
        """Render and write a job's deferred formats, under keys of its version alone (rendition_key)."""
        limits = replace(self.limits, variants=job.formats, fallback=False)
        data = self.store.get(job.bucket, job.source_key, max_bytes=limits.max_bytes, etag=job.version.etag)
        result = self.renderer(data, self.settings.imaging.renditions, limits)
        prefix = self.settings.names.input_prefix
        return [
            self._put(r, rendition_key(job.source_key, prefix, r.name, r.extension, job.version), job.source_key)
            for r in result.renditions
        ]

    def drop_variants(self, job: VariantsJob) -> None:
        """Delete every key this job could have written: they are its version's alone (rendition_key), and were never
        recorded, so never handed out: nothing for the CDN to forget."""
        prefix = self.settings.names.input_prefix
        for r in self.settings.imaging.renditions:
            for f in job.formats:
                key = rendition_key(job.source_key, prefix, r.name, EXTENSIONS[f], job.version)
                self.store.delete(self.settings.names.output_bucket, key)

    def delete_outputs(self, keys: list[str]) -> None:
        """Delete these served keys from the output bucket (what is gone is fine), then from the CDN's edges: a
        deletion is not done while an edge still serves the old bytes (TransientError: the event comes back)."""
        for key in keys:
            self.store.delete(self.settings.names.output_bucket, key)
        if keys and self.edge is not None:
            self.edge.forget(keys)
