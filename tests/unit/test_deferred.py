"""AVIF made later: the in-line job sends a variants job, which adds the AVIF renditions, safely, at any time."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from PIL import Image

from pipeline.adapters.records import ImageRecords
from pipeline.domain import Kind, Outcome, Status, StoredRendition
from pipeline.errors import PermanentError, TransientError
from pipeline.events import VariantsJob
from pipeline.handler import handle_batch
from pipeline.process import Processor
from pipeline.settings import Settings
from tests.fakes import FakeJobQueue, FakePublisher, FakeStore, memory_records
from tests.images import encode, marked
from tests.unit.test_handler import Ctx, record
from tests.unit.test_process import Clock, got, obj, put, ref

SETTINGS = Settings.from_env({"NAME_PREFIX": "unit", "ENVIRONMENT": "test"})  # the defaults: AVIF deferred
OUT = SETTINGS.names.output_bucket
KEY = "uploads/a/x.jpg"


class Env:
    def __init__(self, records: ImageRecords) -> None:
        self.store, self.publisher, self.clock, self.jobs = FakeStore(), FakePublisher(), Clock(), FakeJobQueue()
        self.records = records
        self.p = Processor(SETTINGS, self.store, records, self.publisher, self.clock, variants_queue=self.jobs)

    def job(self, n: int = -1) -> VariantsJob:
        job = VariantsJob.from_body(self.jobs.sent[n][0])
        assert job is not None
        return job

    def outputs(self) -> set[str]:
        return {k for (b, k) in self.store.objects if b == OUT}


@pytest.fixture
def env() -> Iterator[Env]:
    with memory_records(SETTINGS) as records:
        yield Env(records)


def test_the_defaults_defer_avif() -> None:
    assert SETTINGS.imaging.variants == ("WEBP", "AVIF") and SETTINGS.imaging.deferred == ("AVIF",)


def test_in_line_makes_fallback_and_webp_and_asks_for_avif_later(env: Env) -> None:
    put(env.store, KEY)
    assert env.p.process(ref(KEY)) is Outcome.PROCESSED
    item = got(env.records, KEY)
    # THEN the record and the first message have the fallback and WebP of every size, no AVIF
    assert {r.format for r in item.renditions} == {"JPEG", "WEBP"} and len(item.renditions) == 6
    assert item.published and len(env.publisher.messages) == 1
    # AND one job was sent, delayed, for exactly this version
    [(_, delay)] = env.jobs.sent
    job = env.job()
    assert delay == SETTINGS.timing.defer_delay_s and job.formats == ("AVIF",)
    assert job.source_key == KEY and job.version.same_as(item.version) and job.version.token == item.version.token


def test_the_job_adds_avif_renditions_and_publishes_all_of_them(env: Env) -> None:
    put(env.store, KEY)
    env.p.process(ref(KEY))
    before = env.outputs()
    assert env.p.add_variants(env.job()) is Outcome.PROCESSED
    item = got(env.records, KEY)
    avif = [r for r in item.renditions if r.format == "AVIF"]
    # THEN every size has an AVIF of its size, in the output bucket under a key of this version alone
    assert [(r.name, r.width, r.height) for r in avif] == [
        ("large", 800, 600),
        ("medium", 400, 300),
        ("thumb", 150, 113),
    ]
    for r in avif:
        assert r.key.startswith(f"{r.name}.v/") and r.key.endswith("/a/x.jpg.avif")
        data, ctype = env.store.objects[(OUT, r.key)]
        with Image.open(io.BytesIO(data)) as im:
            assert (im.format, im.size, ctype) == ("AVIF", (r.width, r.height), "image/avif")
            red = im.convert("RGB").getpixel((2, 2))
            assert isinstance(red, tuple) and red[0] > 200  # the red block, top left
    assert env.outputs() == before | {r.key for r in avif}
    # AND the record is published again, with all nine renditions
    assert item.status is Status.PROCESSED and item.published and len(item.renditions) == 9
    second = env.publisher.messages[-1]
    assert len(env.publisher.messages) == 2 and second["attributes"]["status"] == "processed"
    assert sorted(r["format"] for r in second["message"]["renditions"]) == ["AVIF"] * 3 + ["JPEG"] * 3 + ["WEBP"] * 3


def test_the_messages_say_what_the_api_and_page_say_complete_or_what_is_still_coming(env: Env) -> None:
    # The first message once looked final to a subscriber: nothing said AVIF was still to come.
    put(env.store, KEY)
    env.p.process(ref(KEY))
    first = env.publisher.messages[-1]
    assert first["message"]["complete"] is False and first["message"]["pendingFormats"] == ["AVIF"]
    assert first["attributes"]["complete"] == "false"  # for a subscription's filter policy
    env.p.add_variants(env.job())
    second = env.publisher.messages[-1]
    assert second["message"]["complete"] is True and second["message"]["pendingFormats"] == []
    assert second["attributes"]["complete"] == "true"
    assert got(env.records, KEY).complete(SETTINGS.imaging.deferred)


def _failing(env: Env, err: Exception) -> None:
    def fails(job: VariantsJob) -> list[StoredRendition]:
        raise err

    env.p.work.make_variants = fails  # type: ignore[method-assign]


def test_an_avif_that_fails_for_good_ends_the_wait_and_says_why(env: Env) -> None:
    # The record once waited for variants that never came: upload --wait, the page and the API never saw it done.
    put(env.store, KEY)
    env.p.process(ref(KEY))
    _failing(env, PermanentError("the encoder refused it", code="corrupt"))
    assert env.p.add_variants(env.job()) is Outcome.FAILED
    item = got(env.records, KEY)
    assert item.complete(SETTINGS.imaging.deferred) and item.pending_formats(SETTINGS.imaging.deferred) == ()
    assert item.variants_error is not None and item.variants_error.code == "corrupt"
    last = env.publisher.messages[-1]["message"]
    assert last["complete"] is True and last["variantsError"]["code"] == "corrupt" and len(env.publisher.messages) == 2


def test_an_avif_that_keeps_failing_is_given_up_on_its_last_receive_and_still_reaches_the_dlq(env: Env) -> None:
    put(env.store, KEY)
    env.p.process(ref(KEY))
    _failing(env, TransientError("s3 500", code="aws_InternalError"))
    for receive in range(1, SETTINGS.timing.max_receive_count):
        with pytest.raises(TransientError):
            env.p.add_variants(env.job(), receive_count=receive)
        assert not got(env.records, KEY).complete(SETTINGS.imaging.deferred)  # still coming: it may yet work
    with pytest.raises(TransientError):  # the last receive: to the DLQ (the alarm), and the record says so
        env.p.add_variants(env.job(), receive_count=SETTINGS.timing.max_receive_count)
    item = got(env.records, KEY)
    assert item.complete(SETTINGS.imaging.deferred) and item.variants_error is not None
    # AND a redrive that works adds the AVIF and clears the error
    del env.p.work.make_variants  # the fault cleared
    assert env.p.add_variants(env.job()) is Outcome.PROCESSED
    item = got(env.records, KEY)
    assert item.variants_error is None and {r.format for r in item.renditions} == {"JPEG", "WEBP", "AVIF"}


def test_a_job_again_is_a_duplicate_and_writes_nothing(env: Env) -> None:
    put(env.store, KEY)
    env.p.process(ref(KEY))
    env.p.add_variants(env.job())
    objects, rev = dict(env.store.objects), got(env.records, KEY).rev
    assert env.p.add_variants(env.job()) is Outcome.DUPLICATE
    assert env.store.objects == objects and got(env.records, KEY).rev == rev and len(env.publisher.messages) == 2


def test_a_job_before_the_first_result_went_out_comes_back_later(env: Env) -> None:
    # GIVEN the first publish failed: the record is processed, its result not yet out
    put(env.store, KEY)
    env.publisher.fail = 1
    with pytest.raises(TransientError):
        env.p.process(ref(KEY))
    assert not got(env.records, KEY).published
    # THEN the job waits (subscribers see the first result first), and writes nothing
    outputs = env.outputs()
    with pytest.raises(TransientError) as e:
        env.p.add_variants(env.job())
    assert e.value.code == "variants_early" and env.outputs() == outputs
    # AND once the event's retry published, the job goes through
    assert env.p.process(ref(KEY)) is Outcome.DUPLICATE
    assert env.p.add_variants(env.job()) is Outcome.PROCESSED


def test_a_job_for_a_replaced_version_writes_nothing_that_stays(env: Env) -> None:
    put(env.store, KEY)
    env.p.process(ref(KEY))
    old = env.job()
    # GIVEN the source replaced and processed again before the old version's job runs
    obj(env.store, KEY, encode(marked(1000, 500), "JPEG"), etag="e2")
    assert env.p.process(ref(KEY, seq="0B", etag="e2")) is Outcome.PROCESSED
    # THEN the old job ends stale and the new version's job still adds its own AVIF
    assert env.p.add_variants(old) is Outcome.STALE
    assert env.p.add_variants(env.job()) is Outcome.PROCESSED
    item = got(env.records, KEY)
    assert {(r.format, r.width, r.height) for r in item.renditions if r.name == "large"} == {
        ("JPEG", 800, 400),
        ("WEBP", 800, 400),
        ("AVIF", 800, 400),
    }
    assert env.outputs() == {r.key for r in item.renditions}


def test_a_version_replaced_while_its_job_renders_leaves_no_object_behind(env: Env) -> None:
    put(env.store, KEY)
    env.p.process(ref(KEY))
    old = env.job()
    make = env.p.work.make_variants

    def replaced_meanwhile(job: VariantsJob) -> list[StoredRendition]:
        made = make(job)  # the old version's AVIF is written ...
        obj(env.store, KEY, encode(marked(1000, 500), "JPEG"), etag="e2")  # ... and the source replaced
        assert env.p.process(ref(KEY, seq="0B", etag="e2")) is Outcome.PROCESSED
        return made

    env.p.work.make_variants = replaced_meanwhile  # type: ignore[method-assign]
    # THEN the old job loses its write, removes what it wrote, and the new version's record is whole
    assert env.p.add_variants(old) is Outcome.STALE
    item = got(env.records, KEY)
    assert item.version.etag == "e2" and {r.format for r in item.renditions} == {"JPEG", "WEBP"}
    assert env.outputs() == {r.key for r in item.renditions}


def test_a_removed_source_takes_its_deferred_renditions_with_it(env: Env) -> None:
    put(env.store, KEY)
    env.p.process(ref(KEY))
    job = env.job()
    env.p.add_variants(job)
    # WHEN the source is removed THEN every rendition goes, AVIF included
    del env.store.objects[(SETTINGS.names.input_bucket, KEY)]
    assert env.p.process(ref(KEY, seq="0C", etag="", kind=Kind.REMOVED)) is Outcome.DELETED
    assert env.outputs() == set()
    # AND a late job for it writes nothing
    assert env.p.add_variants(job) is Outcome.STALE and env.outputs() == set()


def test_an_animation_asks_for_no_avif(env: Env) -> None:
    frames = [marked(320, 240).rotate(180 * i).convert("P") for i in range(2)]
    obj(env.store, "uploads/a/m.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    assert env.p.process(ref("uploads/a/m.gif")) is Outcome.PROCESSED
    assert env.jobs.sent == []


def test_the_handler_routes_a_job_and_fails_a_broken_one(env: Env) -> None:
    put(env.store, KEY)
    env.p.process(ref(KEY))
    body = env.jobs.sent[0][0]
    broken = json.dumps({**json.loads(body), "formats": ["GIF"]})
    event = {"Records": [record("m1", body), record("m2", broken)]}
    response = handle_batch(event, Ctx(), env.p)
    assert response["batchItemFailures"] == [{"itemIdentifier": "m2"}]
    assert {r.format for r in got(env.records, KEY).renditions} == {"JPEG", "WEBP", "AVIF"}


def test_a_job_that_cannot_render_ends_the_wait_and_keeps_the_renditions(env: Env) -> None:
    # GIVEN a processed image whose bytes, under the same ETag, no longer decode (a corrupted store, say)
    put(env.store, KEY)
    env.p.process(ref(KEY))
    before = got(env.records, KEY)
    env.store.objects[(SETTINGS.names.input_bucket, KEY)] = (b"not an image", "image/jpeg")
    # THEN the job is acknowledged as failed: the record keeps its in-line renditions, says why the AVIF is not
    # coming, and is published again, complete (it once stayed "AVIF coming" for ever)
    assert env.p.add_variants(env.job()) is Outcome.FAILED
    after = got(env.records, KEY)
    assert after.renditions == before.renditions and after.variants_error is not None
    assert after.complete(SETTINGS.imaging.deferred) and len(env.publisher.messages) == 2


@pytest.mark.parametrize("formats", [("AVIF",), ("WEBP",), ("JPEG",)])
def test_a_forged_job_adds_nothing_to_an_animation_or_outside_the_deferred_formats(
    env: Env, formats: tuple[str, ...]
) -> None:
    # GIVEN an animation, processed: its WebP is animated and it has no AVIF, on purpose
    frames = [Image.new("RGB", (120, 80), c) for c in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    obj(env.store, KEY, encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0))
    assert env.p.process(ref(KEY)) is Outcome.PROCESSED
    item = got(env.records, KEY)
    assert item.original is not None and item.original.animation == "animated" and not env.jobs.sent
    before = env.outputs()
    # WHEN someone who can write to the variants queue sends a job for it (AVIF stills, or any other format)
    forged = VariantsJob(ref(KEY).bucket, KEY, item.version, formats)
    outcome = env.p.add_variants(forged)
    # THEN nothing is written, the record keeps its renditions, and nothing is published again
    assert outcome is Outcome.SKIPPED
    assert env.outputs() == before and got(env.records, KEY).renditions == item.renditions
    assert len(env.publisher.messages) == 1


def test_a_job_for_a_format_that_is_not_deferred_adds_nothing_to_a_still(env: Env) -> None:
    # GIVEN a still, processed; WHEN a job asks for WebP, which is made in line, not deferred
    put(env.store, KEY)
    env.p.process(ref(KEY))
    item = got(env.records, KEY)
    outcome = env.p.add_variants(VariantsJob(ref(KEY).bucket, KEY, item.version, ("WEBP",)))
    # THEN it is skipped: no second set of WebP renditions
    assert outcome is Outcome.SKIPPED and got(env.records, KEY).renditions == item.renditions
