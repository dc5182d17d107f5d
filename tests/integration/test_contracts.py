"""One contract, two implementations: the in-memory fakes the unit tests use and the real adapters on the emulator.

Each test states a rule the processor relies on (pipeline/ports.py) and runs against both, so a fake that drifts
from its adapter fails here rather than letting a unit test pass against behaviour AWS does not have.
"""

from __future__ import annotations

import uuid

import pytest

from pipeline import wiring
from pipeline.adapters.records import ImageItem
from pipeline.adapters.storage import ObjectStore
from pipeline.errors import SourceMissingError, SupersededError
from pipeline.ports import Records, Storage
from tests.fakes import FakeRecords, FakeStore


@pytest.fixture(params=["fake", "real"])
def records(request: pytest.FixtureRequest) -> Records:
    if request.param == "fake":
        return FakeRecords()
    settings, clients, _ = request.getfixturevalue("session_stack")
    return wiring.records(settings, clients)


@pytest.fixture(params=["fake", "real"])
def storage(request: pytest.FixtureRequest) -> tuple[Storage, str]:
    if request.param == "fake":
        return FakeStore(), "bucket"
    settings, clients, _ = request.getfixturevalue("session_stack")
    return ObjectStore(clients.s3), settings.output_bucket


def item(key: str, **changes: object) -> ImageItem:
    base: ImageItem = {
        "sourceKey": key,
        "status": "processing",
        "version": "v1",
        "owner": "a",
        "rev": 1,
        "notified": False,
        "updatedAt": "2026-12-01T00:00:00Z",
    }
    return {**base, **changes}  # type: ignore[typeddict-item]


def new_key() -> str:
    return f"uploads/contract/{uuid.uuid4().hex}.jpg"


def test_whole_item_writes_are_conditional_on_rev(records: Records) -> None:
    key = new_key()
    assert records.claim(item(key), None) is True
    assert records.claim(item(key, owner="b"), None) is False  # it exists now
    assert records.claim(item(key, owner="c", rev=2), 1) is True  # read at rev 1: first writer wins
    assert records.claim(item(key, owner="d", rev=2), 1) is False  # the second sees rev 2
    got = records.get(key)
    assert got is not None and got["owner"] == "c" and got["rev"] == 2


def test_only_the_owner_of_a_processing_item_finishes_it_and_rev_moves(records: Records) -> None:
    key = new_key()
    assert records.claim(item(key), None)
    assert records.complete(key, "someone-else", {"status": "processed"}) is False
    assert records.complete(key, "a", {"status": "processed", "extra": "x"}) is True
    got = records.get(key)
    assert got is not None and got["status"] == "processed" and got["rev"] == 2
    assert records.complete(key, "a", {"status": "failed"}) is False  # no longer processing
    assert records.complete(new_key(), "a", {"status": "processed"}) is False  # no item at all


def test_finish_removes_attributes(records: Records) -> None:
    key = new_key()
    assert records.claim(item(key, lastError={"code": "x"}), None)
    assert records.complete(key, "a", {"status": "processed"}, remove=("lastError",))
    got = records.get(key)
    assert got is not None and "lastError" not in got


def test_the_publishing_right_is_taken_once_per_lease_and_bumps_rev(records: Records) -> None:
    key = new_key()
    assert records.claim(item(key, status="processed", owner=""), None)
    assert records.claim_publish(key, "v1", "processed", now=1000, lease_s=60) is True
    assert records.claim_publish(key, "v1", "processed", now=1030, lease_s=60) is False  # lease still live
    got = records.get(key)
    assert got is not None and got["rev"] == 2  # (the fake once forgot this)
    assert records.claim_publish(key, "v1", "processed", now=1061, lease_s=60) is True  # lease expired
    assert records.claim_publish(key, "v2", "processed", now=2000, lease_s=60) is False  # another version
    assert records.claim_publish(key, "v1", "failed", now=2000, lease_s=60) is False  # another result


def test_released_right_can_be_taken_again_and_marked_never_again(records: Records) -> None:
    key = new_key()
    assert records.claim(item(key, status="failed", owner=""), None)
    assert records.claim_publish(key, "v1", "failed", now=1000, lease_s=60)
    records.release_publish(key, "v1")
    assert records.claim_publish(key, "v1", "failed", now=1001, lease_s=60) is True
    assert records.mark_published(key, "v1", "processed") is False  # not that result
    assert records.mark_published(key, "v1", "failed") is True
    got = records.get(key)
    assert got is not None and got["notified"] is True and "notifyUntil" not in got
    assert records.claim_publish(key, "v1", "failed", now=5000, lease_s=60) is False  # published already


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


def test_fail_and_release_need_the_owner_and_leave_the_item_as_said(records: Records) -> None:
    key = new_key()
    assert records.claim(item(key), None)
    assert records.release(key, "b", {"leaseUntil": 0}) is False
    assert records.release(key, "a", {"leaseUntil": 0, "lastError": {"code": "aws_Throttling"}}) is True
    got = records.get(key)
    assert got is not None and got["status"] == "processing" and got["rev"] == 2
    assert records.fail(key, "b", {"status": "failed"}) is False
    assert records.fail(key, "a", {"status": "failed", "error": {"code": "bad_image"}}, remove=("owner",)) is True
    got = records.get(key)
    assert got is not None and got["status"] == "failed" and "owner" not in got and got["rev"] == 3


def test_a_tombstone_is_a_whole_item_write_under_the_same_condition(records: Records) -> None:
    key = new_key()
    assert records.claim(item(key, status="processed", owner=""), None)
    assert records.delete(item(key, status="deleted", owner="", rev=2), 5) is False  # not the rev read
    assert records.delete(item(key, status="deleted", owner="", rev=2), 1) is True
    got = records.get(key)
    assert got is not None and got["status"] == "deleted"
