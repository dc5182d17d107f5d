"""The idempotency rules and the processing flow, with in-memory adapters."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from pipeline.domain import Kind
from pipeline.errors import TransientError
from pipeline.events import ObjectRef
from pipeline.process import Outcome, Processor
from pipeline.settings import Settings
from tests.fakes import FakeNotifier, FakeRecords, FakeStore
from tests.images import encode, marked

SETTINGS = Settings.from_env({"NAME_PREFIX": "unit", "ENVIRONMENT": "test"})
IN = SETTINGS.input_bucket


def ref(
    key: str = "uploads/a/x.jpg",
    *,
    seq: str = "0A",
    etag: str = "e1",
    size: int | None = None,
    kind: Kind = Kind.CREATED,
) -> ObjectRef:
    return ObjectRef(IN, key, size, etag, None, seq, kind)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


Env = tuple[Processor, FakeStore, FakeRecords, FakeNotifier, Clock]


@pytest.fixture
def env() -> tuple[Processor, FakeStore, FakeRecords, FakeNotifier, Clock]:
    store, records, notifier, clock = FakeStore(), FakeRecords(), FakeNotifier(), Clock()
    p = Processor(SETTINGS, store, records, notifier, clock)
    return p, store, records, notifier, clock


def put(store: FakeStore, key: str, w: int = 1600, h: int = 1200, *, etag: str = "e1") -> None:
    obj(store, key, encode(marked(w, h), "JPEG"), etag=etag)


def obj(store: FakeStore, key: str, data: bytes, *, etag: str = "e1") -> None:
    """An upload whose ETag is the one the test's events carry (S3 gets it by If-Match, as the fake does)."""
    store.objects[(IN, key)] = (data, "image/jpeg")
    store.etags[(IN, key)] = etag


# ---- the flow ---------------------------------------------------------------------------------------------


def test_processes_stores_records_and_notifies_once(env: Env) -> None:
    p, store, records, notifier, _ = env
    put(store, "uploads/a/x.jpg")
    assert p.process(ref(), "req-1") is Outcome.PROCESSED
    item = records.items["uploads/a/x.jpg"]
    assert item["status"] == "processed" and item["notified"] is True and item["attempts"] == 1
    assert [(r["key"], r["width"], r["height"]) for r in item["renditions"]] == [
        ("large/a/x.jpg.jpg", 800, 600),
        ("medium/a/x.jpg.jpg", 400, 300),
        ("thumb/a/x.jpg.jpg", 150, 113),
    ]
    assert item["original"]["width"] == 1600 and "owner" not in item
    assert (SETTINGS.output_bucket, "thumb/a/x.jpg.jpg") in store.objects
    assert all(r["etag"] == store.etag(SETTINGS.output_bucket, r["key"]) for r in item["renditions"])
    [msg] = notifier.messages
    assert msg["attributes"]["status"] == "processed" and msg["attributes"]["environment"] == "test"
    assert msg["message"]["renditions"][0]["key"] == "large/a/x.jpg.jpg"


def test_duplicate_event_does_nothing(env: Env) -> None:
    p, store, records, notifier, _ = env
    put(store, "uploads/a/x.jpg")
    p.process(ref())
    before = dict(records.items["uploads/a/x.jpg"])
    gets = store.gets
    assert p.process(ref()) is Outcome.DUPLICATE
    assert records.items["uploads/a/x.jpg"] == before and store.gets == gets and len(notifier.messages) == 1


def test_reupload_with_new_content_is_processed_again(env: Env) -> None:
    p, store, records, notifier, _ = env
    put(store, "uploads/a/x.jpg")
    p.process(ref())
    put(store, "uploads/a/x.jpg", 300, 600, etag="e2")
    assert p.process(ref(seq="0B", etag="e2")) is Outcome.PROCESSED
    item = records.items["uploads/a/x.jpg"]
    assert item["etag"] == "e2" and item["original"]["height"] == 600 and len(notifier.messages) == 2
    # ... and the old event, delivered late, changes nothing
    assert p.process(ref()) is Outcome.STALE


def test_bad_image_is_recorded_failed_notified_and_not_retried(env: Env) -> None:
    p, store, records, notifier, _ = env
    obj(store, "uploads/bad.jpg", b"not an image")
    assert p.process(ref("uploads/bad.jpg")) is Outcome.FAILED
    item = records.items["uploads/bad.jpg"]
    assert item["status"] == "failed" and item["error"]["code"] == "unsupported_format" and item["notified"]
    assert notifier.messages[0]["attributes"]["error_code"] == "unsupported_format"
    assert p.process(ref("uploads/bad.jpg")) is Outcome.DUPLICATE and len(notifier.messages) == 1


def test_size_from_event_is_refused_without_download(env: Env) -> None:
    p, store, records, _, _ = env
    assert p.process(ref(size=SETTINGS.max_bytes + 1)) is Outcome.FAILED
    assert records.items["uploads/a/x.jpg"]["error"]["code"] == "too_large" and store.gets == 0


def test_deleted_source_fails_cleanly(env: Env) -> None:
    p, _, records, _, _ = env
    assert p.process(ref("uploads/gone.jpg")) is Outcome.FAILED
    assert records.items["uploads/gone.jpg"]["error"]["code"] == "source_missing"


def test_transient_error_raises_and_releases_the_lease_with_a_reason(env: Env) -> None:
    p, store, records, notifier, _ = env
    put(store, "uploads/a/x.jpg")
    store.fail_puts = 1
    with pytest.raises(TransientError):
        p.process(ref())
    item = records.items["uploads/a/x.jpg"]
    assert item["status"] == "processing" and item["leaseUntil"] == 0
    assert item["lastError"]["code"] == "aws_SlowDown" and not notifier.messages
    # the retry claims at once, counts the attempt, and completes
    assert p.process(ref()) is Outcome.PROCESSED
    assert records.items["uploads/a/x.jpg"]["attempts"] == 2


def test_failed_publish_is_retried_not_lost(env: Env) -> None:
    p, store, records, notifier, _ = env
    put(store, "uploads/a/x.jpg")
    notifier.fail = 1
    with pytest.raises(TransientError):
        p.process(ref())
    item = records.items["uploads/a/x.jpg"]
    assert item["status"] == "processed" and item["notified"] is False and not notifier.messages
    gets = store.gets
    assert p.process(ref()) is Outcome.DUPLICATE  # the retry publishes without processing again
    assert len(notifier.messages) == 1 and records.items["uploads/a/x.jpg"]["notified"] is True
    assert store.gets == gets


def test_same_version_under_live_lease_is_acknowledged(env: Env) -> None:
    p, store, records, _notifier, clock = env
    records.items["uploads/a/x.jpg"] = {
        "sourceKey": "uploads/a/x.jpg",
        "status": "processing",
        "version": ref().version.token,
        "sequencer": ref().version.sequencer,
        "etag": "e1",
        "owner": "other",
        "leaseUntil": int(clock.now) + 30,
        "rev": 1,
    }
    assert p.process(ref(), message_id="another-message") is Outcome.BUSY
    records.items["uploads/a/x.jpg"]["messageId"] = "m-1"
    with pytest.raises(TransientError):  # the holder's own message, delivered again: never acknowledged
        p.process(ref(), message_id="m-1")
    with pytest.raises(TransientError):  # a newer version waits for the older one
        p.process(ref(seq="0B", etag="e2"))
    clock.now += 31  # the holder died: its lease expires and the event takes over
    put(store, "uploads/a/x.jpg")
    assert p.process(ref()) is Outcome.PROCESSED


def test_key_outside_input_prefix_is_skipped(env: Env) -> None:
    p, _, records, notifier, _ = env
    assert p.process(ref("elsewhere/x.jpg")) is Outcome.SKIPPED
    assert not records.items and not notifier.messages


def test_results_are_counted_as_emf_metrics(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    p, store, _, _, _ = env
    put(store, "uploads/a/x.jpg")
    obj(store, "uploads/bad.jpg", b"nope")
    p.process(ref())
    p.process(ref("uploads/bad.jpg"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    ok, bad = lines
    assert ok["ImagesProcessed"] == [1.0] and ok["environment"] == "test" and ok["BytesOut"][0] > 0
    assert ok["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "imgpipe"
    assert bad["ImagesFailed"] == [1.0] and bad["reason"] == "unsupported_format"


# ---- renditions always show the current object, or do not exist -----------------------------------------


def rendition_objects(store: FakeStore) -> set[str]:
    return {k for (b, k) in store.objects if b == SETTINGS.output_bucket}


def test_delete_removes_renditions_marks_deleted_and_notifies(env: Env) -> None:
    p, store, records, notifier, _ = env
    put(store, "uploads/a/x.jpg")
    p.process(ref())
    assert len(rendition_objects(store)) == 3
    del store.objects[(IN, "uploads/a/x.jpg")]
    assert p.process(ref(seq="0B", etag="", kind=Kind.REMOVED)) is Outcome.DELETED
    item = records.items["uploads/a/x.jpg"]
    assert item["status"] == "deleted" and item["notified"] and not rendition_objects(store)
    assert [m["attributes"]["status"] for m in notifier.messages] == ["processed", "deleted"]
    # the create event delivered late is stale; the delete delivered again is a duplicate
    assert p.process(ref()) is Outcome.STALE
    assert p.process(ref(seq="0B", etag="", kind=Kind.REMOVED)) is Outcome.DUPLICATE
    assert len(notifier.messages) == 2 and not rendition_objects(store)


def test_delete_before_the_create_is_processed_makes_the_create_stale(env: Env) -> None:
    p, store, records, notifier, _ = env
    assert p.process(ref(seq="0B", etag="", kind=Kind.REMOVED)) is Outcome.DUPLICATE
    put(store, "uploads/a/x.jpg")  # S3 may still hand out the old version by id: it must not be rendered
    assert p.process(ref()) is Outcome.STALE
    assert records.items["uploads/a/x.jpg"]["status"] == "deleted" and not rendition_objects(store)
    assert not notifier.messages  # nothing was ever published for it


def test_object_deleted_after_the_event_is_not_rendered(env: Env) -> None:
    p, store, records, _, _ = env
    assert records is env[2]
    # GIVEN an event for an object that is gone by the time we read it
    assert p.process(ref("uploads/gone.jpg")) is Outcome.FAILED
    assert records.items["uploads/gone.jpg"]["error"]["code"] == "source_missing"
    assert not rendition_objects(store)


def test_failed_newer_version_removes_the_older_renditions(env: Env) -> None:
    p, store, records, _, _ = env
    put(store, "uploads/a/x.jpg")
    p.process(ref())
    obj(store, "uploads/a/x.jpg", b"garbage now", etag="e2")
    assert p.process(ref(seq="0B", etag="e2")) is Outcome.FAILED
    item = records.items["uploads/a/x.jpg"]
    assert item["status"] == "failed" and "renditions" not in item and "staleRenditions" not in item
    assert not rendition_objects(store)


def test_new_version_in_another_format_replaces_the_old_renditions(env: Env) -> None:
    p, store, _records, _, _ = env
    put(store, "uploads/a/x")
    p.process(ref("uploads/a/x"))
    obj(store, "uploads/a/x", encode(marked(640, 480), "PNG"), etag="e2")
    assert p.process(ref("uploads/a/x", seq="0B", etag="e2")) is Outcome.PROCESSED
    assert rendition_objects(store) == {f"{n}/a/x.png" for n in ("large", "medium", "thumb")}


def test_localstack_overwrite_with_the_same_sequencer_is_processed(env: Env) -> None:
    p, store, records, _notifier, _ = env
    seq = "0055AED6DCD90281E5"
    put(store, "uploads/a/x.jpg")
    assert p.process(ref(seq=seq, etag="e1")) is Outcome.PROCESSED
    put(store, "uploads/a/x.jpg", 300, 600, etag="e2")
    assert p.process(ref(seq=seq, etag="e2")) is Outcome.PROCESSED  # was taken for a duplicate
    assert records.items["uploads/a/x.jpg"]["original"]["height"] == 600
    assert p.process(ref(seq=seq, etag="e1")) is Outcome.STALE  # the first event, late: S3 says it is not current


def test_folder_marker_is_skipped_not_failed(env: Env) -> None:
    p, _, records, notifier, _ = env
    assert p.process(ref("uploads/dir/", size=0)) is Outcome.SKIPPED
    assert not records.items and not notifier.messages


# ---- errors nobody expected -------------------------------------------------------------------------------


class Boom(FakeStore):
    def get(self, bucket: str, key: str, *, max_bytes: int, etag: str = "") -> bytes:
        raise KeyError("a bug")


class Kept(logging.Handler):
    """Keeps records of one logger, whatever handlers and propagation the package's log setup installed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[Kept]:
    handler = Kept()
    logging.getLogger("pipeline.process").addHandler(handler)
    yield handler
    logging.getLogger("pipeline.process").removeHandler(handler)


def test_unexpected_error_is_retried_with_last_error_then_failed_on_the_last_receive(kept: Kept) -> None:
    store, records, notifier, clock = Boom(), FakeRecords(), FakeNotifier(), Clock()
    p = Processor(SETTINGS, store, records, notifier, clock)
    # GIVEN an error that is neither bad input nor an AWS fault
    with pytest.raises(TransientError) as e:
        p.process(ref(), receive_count=1)
    item = records.items["uploads/a/x.jpg"]
    # THEN it is logged with its type and stack, and written on the item, which is not left leased
    assert e.value.code == "internal_error" and "KeyError" in item["lastError"]["message"]
    assert item["status"] == "processing" and item["leaseUntil"] == 0 and not notifier.messages
    assert any("unexpected KeyError" in r.getMessage() and r.exc_info for r in kept.records)
    # WHEN it happens on the last allowed receive THEN the item ends failed, notified once, and is acknowledged
    assert p.process(ref(), receive_count=SETTINGS.max_receive_count) is Outcome.FAILED
    item = records.items["uploads/a/x.jpg"]
    assert item["status"] == "failed" and item["error"]["code"] == "internal_error" and item["notified"]
    assert [m["attributes"]["error_code"] for m in notifier.messages] == ["internal_error"]
