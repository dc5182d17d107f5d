"""Reconcile on a live system: work in flight is reported apart from damage; "settled" means what a user means."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from pipeline.domain import ImageRecord, Kind, Status, StoredRendition, Version
from pipeline.errors import TransientError
from pipeline.ops.reconcile import DAMAGE, Reads, reconcile_live
from pipeline.ops.settle import EMPTY, NotSettled, Progress, wait_settled


def rendition(key: str, fmt: str = "JPEG") -> StoredRendition:
    return StoredRendition("large", "out", key, 8, 8, 8, "image/jpeg", f"e-{key}", fmt)


def record(key: str, *keys: str, status: Status = Status.PROCESSED, rev: int = 3) -> ImageRecord:
    return ImageRecord(
        key, "in", status, Version(Kind.CREATED, "01", "e", ""), rev=rev, renditions=tuple(rendition(k) for k in keys)
    )


class System:
    """A store and a table that another writer changes while reconcile reads them (between any two reads)."""

    def __init__(self, records: list[ImageRecord], outputs: set[str], inputs: set[str]) -> None:
        self.records = {r.source_key: r for r in records}
        self.outputs = {k: f"e-{k}" for k in outputs}
        self.inputs = set(inputs)
        self.queued = 0
        self.writes: Iterator[None] = iter(())
        self.sources = {k: r.source_key for r in records for k in r.output_keys()}  # each object's metadata

    def _tick(self) -> None:
        next(self.writes, None)

    def scan(self) -> list[ImageRecord]:
        self._tick()
        return list(self.records.values())

    def listing(self) -> dict[str, str]:
        self._tick()
        return dict(self.outputs)

    def uploads(self) -> set[str]:
        self._tick()
        return set(self.inputs)

    def source_of(self, key: str) -> str | None:
        owner = self.sources.get(key)
        return owner if key in self.outputs else None

    def reconcile(self) -> dict[str, object]:
        reads = Reads(
            self.uploads,
            self.scan,
            self.listing,
            lambda: self.queued,
            self.source_of,
            self.records.get,
            now=lambda: 1000.0,
        )
        return reconcile_live(reads)


def damage(report: dict[str, object]) -> dict[str, object]:
    return {k: report[k] for k in DAMAGE if report[k]}


def test_deferred_variants_written_while_reconcile_reads_are_in_flight_not_missing() -> None:
    # GIVEN a processed image whose AVIF is being added: the object is stored, then the record gains it
    system = System([record("uploads/a", "large/a.jpg")], {"large/a.jpg"}, {"uploads/a"})

    def deferred_job() -> Iterator[None]:
        yield None  # the first read sees the record as it was
        system.outputs["large/a.avif"] = "e-large/a.avif"
        system.sources["large/a.avif"] = "uploads/a"
        yield None
        old = system.records["uploads/a"]
        system.records["uploads/a"] = replace(
            old, rev=old.rev + 1, renditions=(*old.renditions, rendition("large/a.avif"))
        )
        while True:
            yield None

    system.writes = deferred_job()
    # WHEN reconcile runs while that happens (the old order listed the renditions first and called this missing)
    report = system.reconcile()
    # THEN it reports no damage, and names the image as work in flight
    assert damage(report) == {}
    assert report["in_flight_keys"] == ["uploads/a"]


def test_a_deleted_rendition_is_reported_exactly() -> None:
    # GIVEN two processed images, and one stored rendition deleted behind the pipeline's back
    system = System(
        [record("uploads/a", "large/a.jpg", "thumb/a.jpg"), record("uploads/b", "large/b.jpg")],
        {"large/a.jpg", "large/b.jpg"},
        {"uploads/a", "uploads/b"},
    )
    # WHEN reconcile runs on the quiet system
    report = system.reconcile()
    # THEN exactly that rendition is damage, and nothing is in flight
    assert damage(report) == {"renditions_missing": 1}
    assert report["renditions_missing_keys"] == ["thumb/a.jpg"] and report["in_flight"] == 0


def test_an_upload_without_a_record_is_in_flight_while_events_wait_and_missing_once_drained() -> None:
    system = System([], set(), {"uploads/new"})
    # WHEN its event is still queued THEN it is work in flight
    system.queued = 1
    assert damage(system.reconcile()) == {} and system.reconcile()["in_flight_keys"] == ["uploads/new"]
    # WHEN the queues are drained and it still has no record THEN it is missing
    system.queued = 0
    report = system.reconcile()
    assert damage(report) == {"missing": 1} and report["missing_keys"] == ["uploads/new"]


def test_renditions_stored_for_an_image_still_processing_are_in_flight_not_orphans() -> None:
    # GIVEN an image claimed (processing, live lease) whose renditions are stored before its record is completed
    claimed = replace(record("uploads/p", status=Status.PROCESSING), lease_until=2000)
    system = System([claimed], {"large/p.jpg"}, {"uploads/p"})
    system.sources["large/p.jpg"] = "uploads/p"
    # WHEN reconcile reads it THEN nothing is damage (the first version of the soak's check called them orphans)
    report = system.reconcile()
    assert damage(report) == {} and report["in_flight_keys"] == ["uploads/p"]
    # AND a rendition whose source's record is ended and does not name it is an orphan
    system.records["uploads/p"] = replace(claimed, status=Status.PROCESSED, lease_until=0)
    report = system.reconcile()
    assert damage(report) == {"orphans": 1} and report["orphan_keys"] == ["large/p.jpg"]


def test_a_deferred_variant_stored_before_its_record_names_it_is_in_flight_while_jobs_wait() -> None:
    # GIVEN a processed image whose deferred job has stored its AVIF and not yet added it to the record
    system = System([record("uploads/d", "large/d.jpg")], {"large/d.jpg", "large.v/abc/d.avif"}, {"uploads/d"})
    system.sources["large.v/abc/d.avif"] = "uploads/d"
    system.queued = 1  # the job is still in the variants queue (in flight)

    def reconcile() -> dict[str, object]:
        reads = Reads(
            system.uploads,
            system.scan,
            system.listing,
            lambda: system.queued,
            system.source_of,
            system.records.get,
            deferred=lambda key: ".v/" in key,  # (the CLI's rule: keys under `{rendition}.v/`)
            now=lambda: 1000.0,
        )
        return reconcile_live(reads)

    # WHEN reconcile reads it THEN it is work in flight (the first soak's reconcile called 390 of these orphans)
    report = reconcile()
    assert damage(report) == {} and report["in_flight_keys"] == ["uploads/d"]
    # AND once the queues are drained, a deferred variant nothing names is an orphan
    system.queued = 0
    report = reconcile()
    assert damage(report) == {"orphans": 1} and report["orphan_keys"] == ["large.v/abc/d.avif"]


def test_processing_under_an_expired_lease_that_nothing_takes_up_is_damage() -> None:
    live = replace(record("uploads/live", status=Status.PROCESSING), lease_until=2000)
    stuck = replace(record("uploads/stuck", status=Status.PROCESSING), lease_until=10)
    report = System([live, stuck], set(), {"uploads/live", "uploads/stuck"}).reconcile()
    assert damage(report) == {"processing": 1} and report["in_flight_keys"] == ["uploads/live"]


def depth(visible: int = 0, in_flight: int = 0, delayed: int = 0) -> dict[str, int]:
    return {"visible": visible, "in_flight": in_flight, "delayed": delayed}


@pytest.mark.parametrize(
    ("items", "variants", "settled"),
    [
        ({"processed": 10}, depth(), True),
        ({"processed": 10}, depth(delayed=3), False),  # every item processed, their AVIF jobs still delayed
        ({"processed": 10}, depth(in_flight=1), False),
        ({"processed": 9, "failed": 1}, depth(), True),
        ({"processed": 9, "processing": 1}, depth(), False),
        ({"processed": 9}, depth(), False),
    ],
)
def test_settled_means_every_item_ended_and_both_queues_drained(
    items: dict[str, int], variants: dict[str, int], settled: bool
) -> None:
    assert Progress(items, {"jobs": dict(EMPTY), "variants": variants}).settled(10) is settled


def test_waiting_for_settled_is_bounded_and_says_what_is_still_moving() -> None:
    moving = Progress({"processed": 10}, {"jobs": depth(), "variants": depth(delayed=4)})
    clock = iter(range(100))
    with pytest.raises(NotSettled) as e:
        wait_settled(lambda: moving, 10, timeout_s=5, clock=lambda: float(next(clock)), sleep=lambda s: None)
    assert "variants queue: 0 visible, 0 in flight, 4 delayed" in str(e.value)
    quiet = Progress({"processed": 10}, {"jobs": depth(), "variants": depth()})
    assert wait_settled(lambda: quiet, 10, timeout_s=5, sleep=lambda s: None) is quiet


def test_a_reading_that_fails_is_not_the_end_of_the_wait() -> None:
    # LocalStack's DynamoDB answered one count with InternalFailure during a 10,000 soak, and the soak died of it
    quiet = Progress({"processed": 10}, {"jobs": depth(), "variants": depth()})
    readings: list[Progress | Exception] = [TransientError("ddb 500", code="aws_InternalFailure"), quiet, quiet]

    def read() -> Progress:
        got = readings.pop(0)
        if isinstance(got, Exception):
            raise got
        return got

    assert wait_settled(read, 10, timeout_s=5, sleep=lambda s: None) is quiet and not readings

    def failing() -> Progress:
        raise TransientError("ddb 500", code="aws_InternalFailure")

    with pytest.raises(NotSettled, match="no reading succeeded"):
        wait_settled(failing, 10, timeout_s=0, sleep=lambda s: None)
