"""One contract, every implementation: the adapters on the emulator, and what the unit tests use in their place.

Each test states a rule the processor relies on (pipeline/ports.py). The records rules run against the adapter on
moto in process (the unit tests' table) and on the emulator; the storage rules against the unit tests' in-memory
store and the S3 adapter. A stand-in that drifts from AWS's behaviour fails here, not in production.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from pipeline import wiring
from pipeline.adapters.storage import ObjectStore
from pipeline.domain import Failure, ImageRecord, Kind, Original, Processed, Status, Version, When, claim, tombstone
from pipeline.errors import SourceMissingError, SupersededError
from pipeline.ports import Records, Storage
from pipeline.settings import Settings
from tests.fakes import FakeStore, memory_records, owned, unchanged

V1 = Version(Kind.CREATED, "0A".rjust(32, "0"), "e1", "")


@pytest.fixture(params=["moto-in-process", "emulator"])
def records(request: pytest.FixtureRequest) -> Iterator[Records]:
    if request.param == "moto-in-process":
        with memory_records(Settings.from_env({"NAME_PREFIX": "contract"})) as r:
            yield r
        return
    settings, clients, _ = request.getfixturevalue("session_stack")
    yield wiring.records(settings, clients)


@pytest.fixture(params=["fake", "real"])
def storage(request: pytest.FixtureRequest) -> tuple[Storage, str]:
    if request.param == "fake":
        return FakeStore(), "bucket"
    settings, clients, _ = request.getfixturevalue("session_stack")
    return ObjectStore(clients.s3), settings.names.output_bucket


def record(key: str, **changes: object) -> ImageRecord:
    base = ImageRecord(key, "in", Status.PROCESSING, V1, owner="a", updated_at="2026-12-01T00:00:00Z")
    return replace(base, **changes)  # type: ignore[arg-type]


def new_key() -> str:
    return f"uploads/contract/{uuid.uuid4().hex}.jpg"


def stored(records: Records, key: str) -> ImageRecord:
    got = records.get(key)
    assert got is not None
    return got


def test_a_record_reads_back_as_written(records: Records) -> None:
    key = new_key()
    full = record(
        key,
        attempts=2,
        stale_renditions=("large/x.jpg",),
        last_error=Failure("aws_SlowDown", "slow down"),
        version=Version(Kind.CREATED, "0B".rjust(32, "0"), "e|2", "v-1"),
        expires_at=1_900_000_000,
    )
    assert records.write(unchanged(full, None))
    assert stored(records, key) == full


def test_whole_record_writes_are_conditional_on_rev(records: Records) -> None:
    key = new_key()
    assert records.write(unchanged(record(key), None)) is True
    assert records.write(unchanged(record(key, owner="b"), None)) is False  # it exists now
    assert records.write(unchanged(record(key, owner="c", rev=2), 1)) is True  # read at rev 1: first writer wins
    assert records.write(unchanged(record(key, owner="d", rev=2), 1)) is False  # the second sees rev 2
    got = stored(records, key)
    assert got.owner == "c" and got.rev == 2


def test_only_the_owner_of_a_processing_record_ends_it(records: Records) -> None:
    key = new_key()
    assert records.write(unchanged(record(key), None))
    done = record(key, status=Status.PROCESSED, owner="", rev=2)
    assert records.write(owned(done, "someone-else")) is False
    assert records.write(owned(done, "a")) is True
    assert stored(records, key) == done
    assert records.write(owned(replace(done, rev=3), "a")) is False  # no longer processing
    assert records.write(owned(record(new_key(), status=Status.PROCESSED), "a")) is False  # no record at all


def test_the_publishing_right_is_taken_once_per_lease_and_bumps_rev(records: Records) -> None:
    key = new_key()
    done = record(key, status=Status.PROCESSED, owner="")
    assert records.write(unchanged(done, None))
    assert records.claim_publish(done, now=1000, lease_s=60) is True
    assert records.claim_publish(done, now=1030, lease_s=60) is False  # lease still live
    assert stored(records, key).rev == 2  # (the hand-written fake once forgot this)
    assert records.claim_publish(done, now=1061, lease_s=60) is True  # lease expired
    other = replace(done, version=replace(V1, etag="e2"))
    assert records.claim_publish(other, now=2000, lease_s=60) is False  # another version
    assert records.claim_publish(replace(done, status=Status.FAILED), now=2000, lease_s=60) is False


def test_released_right_can_be_taken_again_and_marked_never_again(records: Records) -> None:
    key = new_key()
    failed = record(key, status=Status.FAILED, owner="")
    assert records.write(unchanged(failed, None))
    assert records.claim_publish(failed, now=1000, lease_s=60)
    records.release_publish(failed)
    assert records.claim_publish(failed, now=1001, lease_s=60) is True
    assert records.mark_published(replace(failed, status=Status.PROCESSED)) is False  # not that result
    assert records.mark_published(failed) is True
    got = stored(records, key)
    assert got.published is True and got.publish_until == 0
    assert records.claim_publish(failed, now=5000, lease_s=60) is False  # published already


def test_each_transition_is_written_in_the_state_it_is_made_for_and_refused_in_any_other(records: Records) -> None:
    # The domain makes each next record and names its condition; the adapter only maps and writes: the life
    # cycle below is what the processor does, and each step made from an outdated read is refused.
    at = When(1_000, lease_s=60, ttl_days=1)
    key = new_key()
    first = claim(key, "in", V1, None, "a", "m-1", at)
    assert records.write(first) and not records.write(claim(key, "in", V1, None, "b", "m-2", at))
    back = first.record.released("a", Failure("aws_Throttling", "slow"), at)
    assert not records.write(first.record.released("b", None, at)) and records.write(back)
    read = stored(records, key)
    again = claim(key, "in", V1, read, "c", "m-1", at)
    assert records.write(again) and again.record.attempts == 2 and again.record.last_error == back.record.last_error
    made = Processed((), Original(8, 8, "PNG", "image/png", 10, 1, False))
    assert not records.write(again.record.processed("a", at, made))  # not the owner any more
    done = again.record.processed("c", at, made)
    assert records.write(done) and not records.write(done)  # ended: no longer processing
    read = stored(records, key)
    assert read.status is Status.PROCESSED and read.publish_until == at.lease_until and not read.owner
    added = read.with_variants((), at)
    assert records.write(added) and not records.write(read.with_variants((), at))  # the second read is outdated
    gone = tombstone(key, "in", replace(V1, kind=Kind.REMOVED, etag=""), read, at, publish=True)
    assert not records.write(gone)  # made from the read before the variants
    gone = tombstone(key, "in", replace(V1, kind=Kind.REMOVED, etag=""), stored(records, key), at, publish=True)
    assert records.write(gone) and stored(records, key).status is Status.DELETED


def test_get_of_an_unknown_key_is_none(records: Records) -> None:
    assert records.get(new_key()) is None


def test_storage_round_trip_etag_and_current(storage: tuple[Storage, str]) -> None:
    store, bucket = storage
    key = f"contract/{uuid.uuid4().hex}.png"
    etag = store.put(bucket, key, b"\x89PNG-bytes", content_type="image/png", source_key="uploads/x.png")
    assert etag and store.get(bucket, key, max_bytes=100) == b"\x89PNG-bytes"
    assert store.get(bucket, key, max_bytes=100, etag=etag) == b"\x89PNG-bytes"
    now = store.current(bucket, key)
    assert now.exists and now.etag == etag


def test_storage_says_missing_and_replaced(storage: tuple[Storage, str]) -> None:
    store, bucket = storage
    key = f"contract/{uuid.uuid4().hex}.png"
    with pytest.raises(SourceMissingError):
        store.get(bucket, key, max_bytes=100)
    old = store.put(bucket, key, b"one", content_type="image/png", source_key="s")
    store.put(bucket, key, b"two!", content_type="image/png", source_key="s")
    with pytest.raises(SupersededError):
        store.get(bucket, key, max_bytes=100, etag=old)
    store.delete(bucket, key)
    assert store.current(bucket, key).exists is False
    store.delete(bucket, key)  # deleting what is gone is fine


def test_fail_and_release_need_the_owner(records: Records) -> None:
    key = new_key()
    claimed = record(key)
    assert records.write(unchanged(claimed, None))
    released = replace(claimed, rev=2, lease_until=0, last_error=Failure("aws_Throttling", "slow"))
    assert records.write(owned(released, "b")) is False
    assert records.write(owned(released, "a")) is True
    assert stored(records, key) == released
    failed = replace(released, rev=3, status=Status.FAILED, owner="", error=Failure("bad_image", "no"))
    assert records.write(owned(failed, "b")) is False
    assert records.write(owned(failed, "a")) is True
    assert stored(records, key) == failed


def test_a_tombstone_is_a_whole_record_write_under_the_same_condition(records: Records) -> None:
    key = new_key()
    assert records.write(unchanged(record(key, status=Status.PROCESSED, owner=""), None))
    gone = record(key, status=Status.DELETED, owner="", rev=2, version=replace(V1, kind=Kind.REMOVED, etag=""))
    assert records.write(unchanged(gone, 5)) is False  # not the rev read
    assert records.write(unchanged(gone, 1)) is True
    assert stored(records, key) == gone


def test_a_page_by_status_holds_records(records: Records) -> None:
    key = new_key()
    mark = uuid.uuid4().hex  # a status page on a shared table: find ours by its updatedAt
    assert records.write(unchanged(record(key, status=Status.FAILED, owner="", updated_at=f"9999-{mark}"), None))
    page = records.page_by_status("failed", limit=1)
    assert [r.source_key for r in page.records] == [key]
