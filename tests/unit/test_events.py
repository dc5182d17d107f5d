"""Event parsing: URL-decoded keys, test events skipped, malformed bodies refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import Kind, Order, Version, compare
from pipeline.events import VARIANTS_JOB, MalformedMessageError, VariantsJob, parse_body

EVENTS = Path(__file__).resolve().parent.parent / "events"


def s3_body(
    key: str, *, sequencer: str = "0055AED6DCD90281E5", etag: str = "abc", event: str = "ObjectCreated:Put"
) -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": event,
                    "eventTime": "2026-11-22T10:00:00.000Z",
                    "s3": {
                        "bucket": {"name": "in"},
                        "object": {"key": key, "size": 10, "eTag": etag, "sequencer": sequencer},
                    },
                }
            ]
        }
    )


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("uploads/with+space.jpg", "uploads/with space.jpg"),
        ("uploads/plus%2Bsign.jpg", "uploads/plus+sign.jpg"),
        ("uploads/%C3%BCn%C3%AF.jpg", "uploads/ünï.jpg"),
        ("uploads%2Fa%2Fb.jpg", "uploads/a/b.jpg"),  # moto encodes the slashes too
        ("uploads/100%25.jpg", "uploads/100%.jpg"),
    ],
)
def test_keys_are_url_decoded(raw: str, decoded: str) -> None:
    [ref] = parse_body(s3_body(raw))
    assert ref.source_key == decoded


def test_sample_event_files() -> None:
    [ref] = parse_body((EVENTS / "s3_put.json").read_text())
    assert ref.source_key == "uploads/holiday photos/beach+sunset ü.jpg"
    assert ref.etag == "0123456789abcdef0123456789abcdef" and ref.size == 1024
    assert parse_body((EVENTS / "s3_test_event.json").read_text()) == []


def test_test_event_is_skipped() -> None:
    assert parse_body(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "in"})) == []


def test_sns_envelope_is_unwrapped() -> None:
    envelope = json.dumps({"Type": "Notification", "Message": s3_body("uploads/x.jpg")})
    [ref] = parse_body(envelope)
    assert ref.source_key == "uploads/x.jpg"


@pytest.mark.parametrize("event", ["ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated"])
def test_removal_events_are_parsed_as_removals(event: str) -> None:
    [ref] = parse_body(s3_body("uploads/x.jpg", event=event))
    assert (ref.source_key, ref.kind) == ("uploads/x.jpg", Kind.REMOVED)


def test_other_events_are_skipped() -> None:
    assert parse_body(s3_body("uploads/x.jpg", event="ObjectRestore:Completed")) == []


def _with(record_changes: dict[str, object]) -> str:
    body = json.loads(s3_body("uploads/x.jpg"))
    body["Records"][0]["s3"]["object"].update(record_changes)
    return json.dumps(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (json.dumps({"Records": [json.loads(s3_body("uploads/x.jpg"))["Records"][0]] * 11}), "11 records"),
        (_with({"key": 12}), "must be strings"),
        (_with({"key": ["a"]}), "must be strings"),
        (_with({"size": "ten"}), "not a whole number"),
        (_with({"size": -1}), "not a whole number"),
        (json.dumps({"Type": "Notification", "Message": "not json"}), "Message is not JSON"),
        (json.dumps({"Type": "Notification", "Message": "[1]"}), "not a JSON object"),
        (json.dumps({"Records": ["x"]}), "not an S3 event record"),
        (_with({"key": "uploads/\ud800x"}), "not valid UTF-8"),  # a lone surrogate: JSON allows it, S3 never
        (_with({"key": ""}), "1 to 1024 bytes"),
        (_with({"key": "uploads/" + "k" * 1100}), "1 to 1024 bytes"),
    ],
)
def test_messages_that_cannot_be_s3_events_say_why(body: str, reason: str) -> None:
    with pytest.raises(MalformedMessageError, match=reason):
        parse_body(body)


@pytest.mark.parametrize("body", ["not json", "[]", '{"foo": 1}', '{"Records": [{"eventSource": "aws:s3"}]}'])
def test_malformed_bodies_raise(body: str) -> None:
    with pytest.raises(MalformedMessageError):
        parse_body(body)


def test_sequencers_of_different_length_compare_as_hex() -> None:
    [short] = parse_body(s3_body("uploads/x.jpg", sequencer="FF"))
    [long] = parse_body(s3_body("uploads/x.jpg", sequencer="0100"))
    assert compare(long.version, short.version) is Order.NEWER  # 0xFF < 0x100, though "FF" > "0100" as text


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25,
)
# Near-misses of a real record: each field replaced by any JSON value.
RECORD_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "eventSource": st.just("aws:s3") | JSON_VALUES,
        "eventName": st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete"]) | JSON_VALUES,
        "s3": st.fixed_dictionaries(
            {},
            optional={
                "bucket": st.fixed_dictionaries({}, optional={"name": st.text(max_size=5) | JSON_VALUES}),
                "object": st.fixed_dictionaries(
                    {},
                    optional={
                        "key": st.text(st.characters(), max_size=20) | JSON_VALUES,
                        "size": st.integers() | JSON_VALUES,
                        "eTag": JSON_VALUES,
                        "versionId": JSON_VALUES,
                        "sequencer": JSON_VALUES,
                    },
                ),
            },
        )
        | JSON_VALUES,
    },
)
BODIES = (
    JSON_VALUES.map(json.dumps)
    | st.lists(RECORD_FIELDS, max_size=12).map(lambda rs: json.dumps({"Records": rs}))
    | st.lists(RECORD_FIELDS, max_size=3).map(
        lambda rs: json.dumps({"Type": "Notification", "Message": json.dumps({"Records": rs})})
    )
    | st.text(max_size=50)
)


@settings(max_examples=500)
@given(body=BODIES)
def test_any_body_parses_or_is_malformed_with_a_reason(body: str) -> None:
    try:
        refs = parse_body(body)
    except MalformedMessageError as e:
        assert str(e)
        return
    for ref in refs:
        assert isinstance(ref.source_key, str) and isinstance(ref.bucket, str)
        assert 0 < len(ref.source_key.encode("utf-8")) <= 1024
        assert ref.size is None or ref.size >= 0


JOB_FIELDS = st.fixed_dictionaries(
    {"type": st.just(VARIANTS_JOB)},
    optional={
        "bucket": st.text(max_size=5) | JSON_VALUES,
        "key": st.text(st.characters(), max_size=20) | JSON_VALUES,
        "sequencer": JSON_VALUES,
        "etag": JSON_VALUES,
        "versionId": JSON_VALUES,
        "formats": st.lists(st.sampled_from(["WEBP", "AVIF", "GIF", ""]) | JSON_VALUES, max_size=3) | JSON_VALUES,
    },
)


@settings(max_examples=300)
@given(body=JOB_FIELDS.map(json.dumps) | BODIES)
def test_any_body_is_a_variants_job_or_none_or_malformed(body: str) -> None:
    try:
        job = VariantsJob.from_body(body)
    except MalformedMessageError as e:
        assert str(e) and VARIANTS_JOB in body
        return
    if job is not None:
        assert all(isinstance(v, str) for v in (job.bucket, job.source_key, job.version.etag, job.version.version_id))
        assert job.formats and set(job.formats) <= {"WEBP", "AVIF"}


@given(
    job=st.builds(
        VariantsJob,
        st.text(),
        st.text(),
        st.builds(Version, st.just(Kind.CREATED), st.text(), st.text(), st.text()),
        st.lists(st.sampled_from(["WEBP", "AVIF"]), min_size=1, max_size=2).map(tuple),
    )
)
def test_a_variants_job_reads_back_from_its_body(job: VariantsJob) -> None:
    assert VariantsJob.from_body(job.to_body()) == job
