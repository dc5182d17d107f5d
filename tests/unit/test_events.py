"""Event parsing: URL-decoded keys, test events skipped, malformed bodies refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.events import MalformedMessageError, parse_body

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
    assert ref.key == decoded


def test_sample_event_files() -> None:
    [ref] = parse_body((EVENTS / "s3_put.json").read_text())
    assert ref.key == "uploads/holiday photos/beach+sunset ü.jpg"
    assert ref.etag == "0123456789abcdef0123456789abcdef" and ref.size == 1024
    assert parse_body((EVENTS / "s3_test_event.json").read_text()) == []


def test_test_event_is_skipped() -> None:
    assert parse_body(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "in"})) == []


def test_sns_envelope_is_unwrapped() -> None:
    envelope = json.dumps({"Type": "Notification", "Message": s3_body("uploads/x.jpg")})
    [ref] = parse_body(envelope)
    assert ref.key == "uploads/x.jpg"


def test_non_create_events_are_skipped() -> None:
    assert parse_body(s3_body("uploads/x.jpg", event="ObjectRemoved:Delete")) == []


@pytest.mark.parametrize("body", ["not json", "[]", '{"foo": 1}', '{"Records": [{"eventSource": "aws:s3"}]}'])
def test_malformed_bodies_raise(body: str) -> None:
    with pytest.raises(MalformedMessageError):
        parse_body(body)


def test_order_compares_sequencers_of_different_length_as_hex() -> None:
    [short] = parse_body(s3_body("uploads/x.jpg", sequencer="FF"))
    [long] = parse_body(s3_body("uploads/x.jpg", sequencer="0100"))
    assert short.order < long.order  # 0xFF < 0x100, though "FF" > "0100" as plain text
