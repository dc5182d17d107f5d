"""The idempotency rules and the processing flow: in-memory storage and topic, the records adapter on moto."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
from PIL import Image

from pipeline.adapters.records import ImageRecords
from pipeline.domain import ImageRecord, Kind, Outcome, Status, rendition_key
from pipeline.errors import TransientError
from pipeline.events import ObjectRef
from pipeline.process import Processor
from pipeline.settings import Settings
from tests.fakes import FakePublisher, FakeStore, memory_records, owned, unchanged
from tests.images import encode, marked

SETTINGS = Settings.from_env({"NAME_PREFIX": "unit", "ENVIRONMENT": "test", "FORMATS": "fallback,webp,avif"})
IN, OUT = SETTINGS.names.input_bucket, SETTINGS.names.output_bucket


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


Env = tuple[Processor, FakeStore, ImageRecords, FakePublisher, Clock]


@pytest.fixture
def records() -> Iterator[ImageRecords]:
    with memory_records(SETTINGS) as r:
        yield r


@pytest.fixture
def env(records: ImageRecords) -> Env:
    store, publisher, clock = FakeStore(), FakePublisher(), Clock()
    p = Processor(SETTINGS, store, records, publisher, clock)
    return p, store, records, publisher, clock


def got(records: ImageRecords, key: str = "uploads/a/x.jpg") -> ImageRecord:
    record = records.get(key)
    assert record is not None, f"no record for {key}"
    return record


def code(record: ImageRecord) -> str:
    return record.error.code if record.error else ""


def nothing_stored(records: ImageRecords) -> bool:
    return not list(records.scan())


def put(store: FakeStore, key: str, w: int = 1600, h: int = 1200, *, etag: str = "e1") -> None:
    obj(store, key, encode(marked(w, h), "JPEG"), etag=etag)


def obj(store: FakeStore, key: str, data: bytes, *, etag: str = "e1") -> None:
    """An upload whose ETag is the one the test's events carry (S3 gets it by If-Match, as the fake does)."""
    store.objects[(IN, key)] = (data, "image/jpeg")
    store.etags[(IN, key)] = etag


# ---- the flow ---------------------------------------------------------------------------------------------


def test_processes_stores_records_and_notifies_once(env: Env) -> None:
    p, store, records, publisher, _ = env
    put(store, "uploads/a/x.jpg")
    assert p.process(ref(), "req-1") is Outcome.PROCESSED
    item = got(records)
    assert item.status is Status.PROCESSED and item.published is True and item.attempts == 1
    assert [(r.key, r.width, r.height, r.format, r.content_type) for r in item.renditions] == [
        (rendition_key("uploads/a/x.jpg", "uploads/", name, ext, ref().version), w, h, fmt, ctype)
        for name, w, h in (("large", 800, 600), ("medium", 400, 300), ("thumb", 150, 113))
        for fmt, ext, ctype in (
            ("JPEG", ".jpg", "image/jpeg"),
            ("WEBP", ".webp", "image/webp"),
            ("AVIF", ".avif", "image/avif"),
        )
    ]
    assert {(b, k) for (b, k) in store.objects if b == OUT} == {(OUT, r.key) for r in item.renditions}
    assert item.original is not None and item.original.width == 1600 and item.owner == ""
    thumb = rendition_key("uploads/a/x.jpg", "uploads/", "thumb", ".jpg", ref().version)
    assert thumb.startswith("thumb.v/") and thumb.endswith("/a/x.jpg.jpg")
    assert (SETTINGS.names.output_bucket, thumb) in store.objects
    assert all(r.etag == store.etag(SETTINGS.names.output_bucket, r.key) for r in item.renditions)
    [msg] = publisher.messages
    assert msg["attributes"]["status"] == "processed" and msg["attributes"]["environment"] == "test"
    assert [(r["key"], r["format"]) for r in msg["message"]["renditions"]] == [
        (r.key, r.format) for r in item.renditions
    ]


def test_duplicate_event_does_nothing(env: Env) -> None:
    p, store, records, publisher, _ = env
    put(store, "uploads/a/x.jpg")
    p.process(ref())
    before = got(records)
    gets = store.gets
    assert p.process(ref()) is Outcome.DUPLICATE
    assert got(records) == before and store.gets == gets and len(publisher.messages) == 1


def test_reupload_with_new_content_is_processed_again(env: Env) -> None:
    p, store, records, publisher, _ = env
    put(store, "uploads/a/x.jpg")
    p.process(ref())
    put(store, "uploads/a/x.jpg", 300, 600, etag="e2")
    assert p.process(ref(seq="0B", etag="e2")) is Outcome.PROCESSED
    item = got(records)
    assert item.version.etag == "e2" and item.original and item.original.height == 600
    assert len(publisher.messages) == 2
    # ... and the old event, delivered late, changes nothing
    assert p.process(ref()) is Outcome.STALE


def test_bad_image_is_recorded_failed_notified_and_not_retried(env: Env) -> None:
    p, store, records, publisher, _ = env
    obj(store, "uploads/bad.jpg", b"not an image")
    assert p.process(ref("uploads/bad.jpg")) is Outcome.FAILED
    item = got(records, "uploads/bad.jpg")
    assert item.status is Status.FAILED and code(item) == "unsupported_format" and item.published
    assert publisher.messages[0]["attributes"]["error_code"] == "unsupported_format"
    assert p.process(ref("uploads/bad.jpg")) is Outcome.DUPLICATE and len(publisher.messages) == 1


def test_size_from_event_is_refused_without_download(env: Env) -> None:
    p, store, records, _, _ = env
    assert p.process(ref(size=SETTINGS.imaging.max_bytes + 1)) is Outcome.FAILED
    assert code(got(records)) == "too_large" and store.gets == 0


def test_deleted_source_fails_cleanly(env: Env) -> None:
    p, _, records, _, _ = env
    assert p.process(ref("uploads/gone.jpg")) is Outcome.FAILED
    assert code(got(records, "uploads/gone.jpg")) == "source_missing"


def first_delivery_raises(env: Env) -> ImageRecord:
    """Upload x.jpg and deliver its event once, with the caller's fault in place: it raises, for SQS to retry."""
    p, store, records, _, _ = env
    put(store, "uploads/a/x.jpg")
    with pytest.raises(TransientError):
        p.process(ref())
    return got(records)


def test_transient_error_raises_and_releases_the_lease_with_a_reason(env: Env) -> None:
    p, store, records, publisher, _ = env
    store.fail_puts = 1
    item = first_delivery_raises(env)
    assert item.status is Status.PROCESSING and item.lease_until == 0
    assert item.last_error and item.last_error.code == "aws_SlowDown" and not publisher.messages
    # the retry claims at once, counts the attempt, and completes
    assert p.process(ref()) is Outcome.PROCESSED
    assert got(records).attempts == 2


def test_failed_publish_is_retried_not_lost(env: Env) -> None:
    p, store, records, publisher, _ = env
    publisher.fail = 1
    item = first_delivery_raises(env)
    assert item.status is Status.PROCESSED and item.published is False and not publisher.messages
    gets = store.gets
    assert p.process(ref()) is Outcome.DUPLICATE  # the retry publishes without processing again
    assert len(publisher.messages) == 1 and got(records).published is True
    assert store.gets == gets


def test_a_publishing_right_that_could_not_be_given_back_is_waited_for_not_acknowledged(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, store, records, publisher, clock = env
    put(store, "uploads/a/x.jpg")
    # GIVEN a publish that failed, and the table failing too when the right to publish is given back
    publisher.fail = 1
    monkeypatch.setattr(records, "release_publish", lambda record: None)  # best effort: its failure is swallowed
    with pytest.raises(TransientError):
        p.process(ref())
    # WHEN the event arrives again (S3's duplicate, or this one) while that right is still held THEN it is not
    # acknowledged: it was, and if the first delivery then went to the DLQ the result was never published
    with pytest.raises(TransientError) as e:
        p.process(ref())
    assert e.value.code == "publish_in_flight" and not publisher.messages
    # and once the right has expired, the retry publishes it
    clock.now += SETTINGS.timing.lease_s + 1
    assert p.process(ref()) is Outcome.DUPLICATE
    assert len(publisher.messages) == 1 and got(records).published


def test_a_failed_write_of_published_is_tried_again_not_published_twice(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, store, records, publisher, _ = env
    put(store, "uploads/a/x.jpg")
    # GIVEN the table failing the write that records the publish, twice (each call after the client's retries)
    real, failures = records.mark_published, [TransientError("ddb 500", code="aws_InternalServerError")] * 2

    def flaky(record: ImageRecord) -> bool:
        if failures:
            raise failures.pop()
        return real(record)

    monkeypatch.setattr(records, "mark_published", flaky)
    p.sleep = lambda s: None
    # WHEN processed THEN it is recorded published on the third try, and the result went out once
    assert p.process(ref()) is Outcome.PROCESSED
    assert got(records).published and len(publisher.messages) == 1
    assert p.process(ref()) is Outcome.DUPLICATE and len(publisher.messages) == 1


def test_same_version_under_live_lease_is_acknowledged(env: Env) -> None:
    p, store, records, _publisher, clock = env
    held = ImageRecord(
        "uploads/a/x.jpg", IN, Status.PROCESSING, ref().version, owner="other", lease_until=int(clock.now) + 30
    )
    assert records.write(unchanged(held, None))
    assert p.process(ref(), message_id="another-message") is Outcome.BUSY
    assert records.write(owned(replace(held, rev=2, message_id="m-1"), "other"))
    with pytest.raises(TransientError):  # the holder's own message, delivered again: never acknowledged
        p.process(ref(), message_id="m-1")
    with pytest.raises(TransientError):  # a newer version waits for the older one
        p.process(ref(seq="0B", etag="e2"))
    clock.now += 31  # the holder died: its lease expires and the event takes over
    put(store, "uploads/a/x.jpg")
    assert p.process(ref()) is Outcome.PROCESSED


def test_key_outside_input_prefix_is_skipped(env: Env) -> None:
    p, _, records, publisher, _ = env
    assert p.process(ref("elsewhere/x.jpg")) is Outcome.SKIPPED
    assert nothing_stored(records) and not publisher.messages


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
    return {k for (b, k) in store.objects if b == SETTINGS.names.output_bucket}


def test_delete_removes_renditions_marks_deleted_and_notifies(env: Env) -> None:
    p, store, records, publisher, _ = env
    put(store, "uploads/a/x.jpg")
    p.process(ref())
    assert len(rendition_objects(store)) == 9  # 3 sizes x (JPEG, WebP, AVIF)
    del store.objects[(IN, "uploads/a/x.jpg")]
    assert p.process(ref(seq="0B", etag="", kind=Kind.REMOVED)) is Outcome.DELETED
    item = got(records)
    assert item.status is Status.DELETED and item.published and not rendition_objects(store)
    assert [m["attributes"]["status"] for m in publisher.messages] == ["processed", "deleted"]
    # the create event delivered late is stale; the delete delivered again is a duplicate
    assert p.process(ref()) is Outcome.STALE
    assert p.process(ref(seq="0B", etag="", kind=Kind.REMOVED)) is Outcome.DUPLICATE
    assert len(publisher.messages) == 2 and not rendition_objects(store)


def test_delete_before_the_create_is_processed_makes_the_create_stale(env: Env) -> None:
    p, store, records, publisher, _ = env
    assert p.process(ref(seq="0B", etag="", kind=Kind.REMOVED)) is Outcome.DUPLICATE
    put(store, "uploads/a/x.jpg")  # S3 may still hand out the old version by id: it must not be rendered
    assert p.process(ref()) is Outcome.STALE
    assert got(records).status is Status.DELETED and not rendition_objects(store)
    assert not publisher.messages  # nothing was ever published for it


def test_object_deleted_after_the_event_is_not_rendered(env: Env) -> None:
    p, store, records, _, _ = env
    assert records is env[2]
    # GIVEN an event for an object that is gone by the time we read it
    assert p.process(ref("uploads/gone.jpg")) is Outcome.FAILED
    assert code(got(records, "uploads/gone.jpg")) == "source_missing"
    assert not rendition_objects(store)


def test_failed_newer_version_removes_the_older_renditions(env: Env) -> None:
    p, store, records, _, _ = env
    put(store, "uploads/a/x.jpg")
    p.process(ref())
    obj(store, "uploads/a/x.jpg", b"garbage now", etag="e2")
    assert p.process(ref(seq="0B", etag="e2")) is Outcome.FAILED
    item = got(records)
    assert item.status is Status.FAILED and not item.renditions and not item.stale_renditions
    assert not rendition_objects(store)


def test_new_version_in_another_format_replaces_the_old_renditions(env: Env) -> None:
    p, store, _records, _, _ = env
    put(store, "uploads/a/x")
    p.process(ref("uploads/a/x"))
    obj(store, "uploads/a/x", encode(marked(640, 480), "PNG"), etag="e2")
    second = ref("uploads/a/x", seq="0B", etag="e2")
    assert p.process(second) is Outcome.PROCESSED
    assert rendition_objects(store) == {
        rendition_key("uploads/a/x", "uploads/", n, e, second.version)
        for n in ("large", "medium", "thumb")
        for e in (".png", ".webp", ".avif")
    }


def test_localstack_overwrite_with_the_same_sequencer_is_processed(env: Env) -> None:
    p, store, records, _publisher, _ = env
    seq = "0055AED6DCD90281E5"
    put(store, "uploads/a/x.jpg")
    assert p.process(ref(seq=seq, etag="e1")) is Outcome.PROCESSED
    put(store, "uploads/a/x.jpg", 300, 600, etag="e2")
    assert p.process(ref(seq=seq, etag="e2")) is Outcome.PROCESSED  # was taken for a duplicate
    assert (got(records).original or pytest.fail("no original")).height == 600
    assert p.process(ref(seq=seq, etag="e1")) is Outcome.STALE  # the first event, late: S3 says it is not current


def test_folder_marker_is_skipped_not_failed(env: Env) -> None:
    p, _, records, publisher, _ = env
    assert p.process(ref("uploads/dir/", size=0)) is Outcome.SKIPPED
    assert nothing_stored(records) and not publisher.messages


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


def test_unexpected_error_is_retried_with_last_error_then_failed_on_the_last_receive(
    kept: Kept, records: ImageRecords
) -> None:
    store, publisher, clock = Boom(), FakePublisher(), Clock()
    p = Processor(SETTINGS, store, records, publisher, clock)
    # GIVEN an error that is neither bad input nor an AWS fault
    with pytest.raises(TransientError) as e:
        p.process(ref(), receive_count=1)
    item = got(records)
    # THEN it is logged with its type and stack, and written on the item, which is not left leased
    assert e.value.code == "internal_error" and item.last_error and "KeyError" in item.last_error.message
    assert item.status is Status.PROCESSING and item.lease_until == 0 and not publisher.messages
    assert any("unexpected KeyError" in r.getMessage() and r.exc_info for r in kept.records)
    # WHEN it happens on the last allowed receive THEN the item ends failed, notified once, and is acknowledged
    assert p.process(ref(), receive_count=SETTINGS.timing.max_receive_count) is Outcome.FAILED
    item = got(records)
    assert item.status is Status.FAILED and code(item) == "internal_error" and item.published
    assert [m["attributes"]["error_code"] for m in publisher.messages] == ["internal_error"]


# ---- placeholders and identity ----------------------------------------------------------------------------


def test_a_second_upload_of_the_same_picture_says_which_it_duplicates(env: Env) -> None:
    p, store, records, publisher, clock = env
    # GIVEN a picture processed under one key
    put(store, "uploads/a/first.jpg", 1600, 1200)
    assert p.process(ref("uploads/a/first.jpg")) is Outcome.PROCESSED
    first = got(records, "uploads/a/first.jpg")
    assert first.blurhash and first.dominant_color.startswith("#") and len(first.phash) == 16
    assert first.duplicate_of == ""
    # WHEN the same picture arrives later under another key, re-encoded at another size
    clock.now += 60
    put(store, "uploads/b/again.jpg", 800, 600)
    assert p.process(ref("uploads/b/again.jpg")) is Outcome.PROCESSED
    # THEN its record and its message name the first (found through the hash index, not a scan)
    again = got(records, "uploads/b/again.jpg")
    assert again.phash == first.phash and again.duplicate_of == "uploads/a/first.jpg"
    message = publisher.messages[-1]["message"]
    assert message["duplicateOf"] == "uploads/a/first.jpg" and message["blurhash"] == again.blurhash
    assert message["dominantColor"] == again.dominant_color and message["phash"] == again.phash


def test_duplicate_of_always_points_to_an_earlier_existing_picture_and_never_forms_a_cycle(env: Env) -> None:
    p, store, records, _, clock = env
    a, b, c = "uploads/dup/a.jpg", "uploads/dup/b.jpg", "uploads/dup/c.jpg"

    def check() -> None:
        # Every pointer names a processed record first created strictly before the pointing one: no cycle.
        by_key = {r.source_key: r for r in records.scan()}
        for r in by_key.values():
            if r.duplicate_of:
                target = by_key.get(r.duplicate_of)
                assert target is not None and target.status is Status.PROCESSED, (r.source_key, r.duplicate_of)
                assert (target.created_at, target.source_key) < (r.created_at, r.source_key)

    # GIVEN A, then B with the same picture (B points to A)
    put(store, a, 1600, 1200)
    assert p.process(ref(a, seq="01")) is Outcome.PROCESSED
    clock.now += 60
    put(store, b, 800, 600)
    assert p.process(ref(b, seq="01")) is Outcome.PROCESSED
    assert got(records, b).duplicate_of == a
    check()
    # WHEN A is uploaded again: the same pixels, other bytes (the old code then pointed A at B: a cycle)
    clock.now += 60
    obj(store, a, encode(marked(1600, 1200), "PNG"), etag="e2")
    assert p.process(ref(a, seq="02", etag="e2")) is Outcome.PROCESSED
    # THEN A, the earliest, points nowhere; B still points to A
    assert got(records, a).duplicate_of == "" and got(records, b).duplicate_of == a
    check()
    # AND once A is deleted, a new copy C points to B, the earliest picture that still exists
    assert p.process(ref(a, seq="03", etag="", kind=Kind.REMOVED)) is Outcome.DELETED
    clock.now += 60
    put(store, c, 400, 300)
    assert p.process(ref(c, seq="01")) is Outcome.PROCESSED
    assert got(records, c).duplicate_of == b
    check()


def test_flat_pictures_are_not_called_duplicates_of_each_other(env: Env) -> None:
    p, store, records, _, _ = env
    for key in ("uploads/grey-1.png", "uploads/grey-2.png"):
        obj(store, key, encode(Image.new("RGB", (300, 200), (120, 120, 120)), "PNG"))
        assert p.process(ref(key)) is Outcome.PROCESSED
    assert got(records, "uploads/grey-2.png").duplicate_of == ""


# ---- animation --------------------------------------------------------------------------------------------


def test_an_animation_is_recorded_and_published_as_animated_or_as_why_not(env: Env) -> None:
    p, store, records, publisher, _ = env
    frames = [marked(640, 480).rotate(180 * i).convert("P") for i in range(3)]
    obj(store, "uploads/a/moving.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=90))
    assert p.process(ref("uploads/a/moving.gif")) is Outcome.PROCESSED
    item = got(records, "uploads/a/moving.gif")
    # THEN the record says the animation was kept, each WebP has its frames, and there is no AVIF
    assert item.original is not None and item.original.animated and item.original.animation == "animated"
    assert {(r.format, r.frames) for r in item.renditions} == {("PNG", 1), ("WEBP", 3)}
    message = publisher.messages[-1]["message"]
    assert message["original"]["animation"] == "animated"
    assert sorted({(r["format"], r["frames"]) for r in message["renditions"]}) == [("PNG", 1), ("WEBP", 3)]
    # AND past the budget the same upload is stills only, and the record says why
    tight = Processor(SETTINGS.with_(animation_decode_pixels=640 * 480), store, records, publisher, p.clock)
    obj(store, "uploads/a/long.gif", store.objects[(IN, "uploads/a/moving.gif")][0])
    assert tight.process(ref("uploads/a/long.gif")) is Outcome.PROCESSED
    long = got(records, "uploads/a/long.gif")
    assert long.original is not None and long.original.animation == "still_over_budget"
    assert {(r.format, r.frames) for r in long.renditions} == {("PNG", 1), ("WEBP", 1), ("AVIF", 1)}
