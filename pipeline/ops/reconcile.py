"""Reconcile: what is wrong between the input objects, the records and the rendition objects.

`reconcile` is pure: one reading of the three. `reconcile_live` reads a running system in an order that cannot
report a write in flight as damage (records before the rendition listing), then reads every suspect again: what
moved on in between is work in flight, reported apart; only what is still wrong is damage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.domain import ImageRecord, Status

# The counts that say something is broken (a non-zero one makes `pipeline reconcile` exit 1).
DAMAGE = ("missing", "renditions_missing", "renditions_foreign", "orphans", "processing", "deleted_with_source")


def reconcile(inputs: set[str], records: list[ImageRecord], outputs: dict[str, str]) -> dict[str, Any]:
    """What is wrong between sources, records and rendition objects (output key -> ETag), as counts and examples."""
    by_key = {r.source_key: r for r in records}
    counts: dict[str, Any] = {"inputs": len(inputs)}
    for name in ("processed", "failed", "processing", "deleted", "missing", "renditions_missing"):
        counts[name] = 0
    counts.update(renditions_foreign=0, orphans=0, deleted_with_source=0)
    missing, foreign, absent = [], [], []
    for key in sorted(inputs):
        record = by_key.get(key)
        if record is None:
            counts["missing"] += 1
            missing.append(key)
        elif record.status is Status.DELETED:
            counts["deleted_with_source"] += 1  # a removal recorded, yet the object is there
        else:
            counts[record.status.value] += 1
    for record in by_key.values():
        counts["deleted"] += record.status is Status.DELETED and record.source_key not in inputs
        for r in record.renditions:
            if r.key not in outputs:
                counts["renditions_missing"] += 1
                absent.append(r.key)
            elif r.etag and outputs[r.key] != r.etag:
                counts["renditions_foreign"] += 1  # another image's pixels under this record's key
                foreign.append(r.key)
    owned = {k for r in by_key.values() for k in r.output_keys()}
    orphans = sorted(set(outputs) - owned)
    counts["orphans"] = len(orphans)
    return {
        **counts,
        "missing_keys": missing[:50],
        "renditions_missing_keys": sorted(absent)[:50],
        "foreign_keys": foreign[:50],
        "orphan_keys": orphans[:50],
    }


@dataclass(frozen=True)
class Reads:
    """How reconcile reads a running system (each a call to AWS, or to a test's fake)."""

    inputs: Callable[[], set[str]]  # the source keys under the input prefix
    records: Callable[[], Iterable[ImageRecord]]  # every record (a scan)
    outputs: Callable[[], dict[str, str]]  # every rendition object: key -> ETag
    pending: Callable[[], int]  # messages still waiting in the queues (visible, in flight or delayed)
    source_of: Callable[[str], str | None]  # the source key a rendition object names (None: it is gone)
    record: Callable[[str], ImageRecord | None]  # one record, read now
    # Whether a key is one a deferred-variants job writes before its record names it (a deferred format's).
    deferred: Callable[[str], bool] = lambda key: False
    now: Callable[[], float] = time.time


def reconcile_live(reads: Reads) -> dict[str, Any]:
    """Reconcile a system that may be working: what it still finds wrong after reading twice, and after reading
    each suspect again, is damage; the rest is work in flight, counted apart.

    Each pass reads the records before it lists the renditions, so every rendition a record names was stored
    before the listing began (a record is completed only after its renditions are stored). Between two passes a
    record that moved on (another rev or status) or is processing under a live lease is in flight (an expired lease
    that nothing took up again is damage: stuck), and so are the renditions it names in either pass; an upload
    with no record is in flight while events still wait in the queues, and missing once they are drained. A
    rendition no record owns is asked which source it belongs to (its metadata): it is in flight if that source's
    record is being written or now owns it, or if it is a deferred variant while jobs still wait in the queues
    (the job stores its objects, then adds them to the record, or removes them if its version is gone).
    """

    def read() -> tuple[list[ImageRecord], set[str], dict[str, str]]:
        found = list(reads.records())  # first: see the docstring
        return found, reads.inputs(), reads.outputs()

    r1, i1, o1 = read()
    first = reconcile(i1, r1, o1)
    if not any(first[k] for k in DAMAGE):
        return {**first, "in_flight": 0, "in_flight_keys": []}
    r2, i2, o2 = read()
    before = {r.source_key: (r.rev, r.status) for r in r1}
    at = reads.now()
    moved = {
        r.source_key
        for r in r2
        if before.get(r.source_key) != (r.rev, r.status) or (r.status is Status.PROCESSING and r.lease_until > at)
    }
    unrecorded = i2 - {r.source_key for r in r2}
    queued = reads.pending()
    waiting = unrecorded if queued else unrecorded - (i1 - {r.source_key for r in r1})
    owned = {k for r in r2 for k in r.output_keys()}
    # Renditions no record names: each is asked which source it belongs to (its metadata; None: gone since).
    sources = {key: reads.source_of(key) for key in sorted(set(o2) - owned)}
    for key, source in sources.items():
        if source is None:
            moved.add(key)
        elif (
            (queued and reads.deferred(key))
            or source in moved
            or source in waiting
            or _being_written(reads.record(source), key, at)
        ):
            moved.add(source)
    moving_outputs = {k for r in (*r1, *r2) if r.source_key in moved for k in r.output_keys()}
    moving_outputs |= {k for k, source in sources.items() if (source or k) in moved}
    outputs = {k: e for k, e in o2.items() if k not in moving_outputs}
    report = reconcile(i2 - moved - waiting, [r for r in r2 if r.source_key not in moved], outputs)
    in_flight = sorted(moved | waiting)
    return {**report, "in_flight": len(in_flight), "in_flight_keys": in_flight[:50]}


def _being_written(record: ImageRecord | None, key: str, now: float) -> bool:
    """A rendition whose source's record, read now, owns it or is still being worked on."""
    if record is None:
        return False
    return key in record.output_keys() or (record.status is Status.PROCESSING and record.lease_until > now)
