"""The idempotency rules and the processing flow, with in-memory adapters."""

from __future__ import annotations

import json

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
    return ObjectRef(IN, key, size, etag, None, seq, "2026-11-22T10:00:00.000Z", kind)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env() -> tuple[Processor, FakeStore, FakeRecords, FakeNotifier, Clock]:
    store, records, notifier, clock = FakeStore(), FakeRecords(), FakeNotifier(), Clock()
    p = Processor(SETTINGS, store, records, notifier, clock)  # type: ignore[arg-type]
    return p, store, records, notifier, clock


def put(store: FakeStore, key: str, w: int = 1600, h: int = 1200) -> None:
    store.objects[(IN, key)] = (encode(marked(w, h), "JPEG"), "image/jpeg")


# ---- the flow ---------------------------------------------------------------------------------------------


def test_processes_stores_records_and_notifies_once(env) -> None:
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


def test_duplicate_event_does_nothing(env) -> None:
    p, store, records, notifier, _ = env
    put(store, "uploads/a/x.jpg")
    p.process(ref())
    before = dict(records.items["uploads/a/x.jpg"])
    gets = store.gets
    assert p.process(ref()) is Outcome.DUPLICATE
    assert records.items["uploads/a/x.jpg"] == before and store.gets == gets and len(notifier.messages) == 1


def test_reupload_with_new_content_is_processed_again(env) -> None:
    p, store, records, notifier, _ = env
    put(store, "uploads/a/x.jpg")
    p.process(ref())
    put(store, "uploads/a/x.jpg", 300, 600)
    assert p.process(ref(seq="0B", etag="e2")) is Outcome.PROCESSED
    item = records.items["uploads/a/x.jpg"]
    assert item["etag"] == "e2" and item["original"]["height"] == 600 and len(notifier.messages) == 2
    # ... and the old event, delivered late, changes nothing
    assert p.process(ref()) is Outcome.STALE


def test_bad_image_is_recorded_failed_notified_and_not_retried(env) -> None:
    p, store, records, notifier, _ = env
    store.objects[(IN, "uploads/bad.jpg")] = (b"not an image", "image/jpeg")
    assert p.process(ref("uploads/bad.jpg")) is Outcome.FAILED
    item = records.items["uploads/bad.jpg"]
    assert item["status"] == "failed" and item["error"]["code"] == "unsupported_format" and item["notified"]
    assert notifier.messages[0]["attributes"]["error_code"] == "unsupported_format"
    assert p.process(ref("uploads/bad.jpg")) is Outcome.DUPLICATE and len(notifier.messages) == 1


def test_size_from_event_is_refused_without_download(env) -> None:
    p, store, records, _, _ = env
    assert p.process(ref(size=SETTINGS.max_bytes + 1)) is Outcome.FAILED
    assert records.items["uploads/a/x.jpg"]["error"]["code"] == "too_large" and store.gets == 0


def test_deleted_source_fails_cleanly(env) -> None:
    p, _, records, _, _ = env
    assert p.process(ref("uploads/gone.jpg")) is Outcome.FAILED
    assert records.items["uploads/gone.jpg"]["error"]["code"] == "source_missing"


def test_transient_error_raises_and_releases_the_lease_with_a_reason(env) -> None:
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


def test_failed_publish_is_retried_not_lost(env) -> None:
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


def test_same_version_under_live_lease_is_acknowledged(env) -> None:
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


def test_key_outside_input_prefix_is_skipped(env) -> None:
    p, _, records, notifier, _ = env
    assert p.process(ref("elsewhere/x.jpg")) is Outcome.SKIPPED
    assert not records.items and not notifier.messages


def test_results_are_counted_as_emf_metrics(env, capsys) -> None:
    p, store, _, _, _ = env
    put(store, "uploads/a/x.jpg")
    store.objects[(IN, "uploads/bad.jpg")] = (b"nope", "image/jpeg")
    p.process(ref())
    p.process(ref("uploads/bad.jpg"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    ok, bad = lines
    assert ok["ImagesProcessed"] == [1.0] and ok["environment"] == "test" and ok["BytesOut"][0] > 0
    assert ok["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "imgpipe"
    assert bad["ImagesFailed"] == [1.0] and bad["reason"] == "unsupported_format"
