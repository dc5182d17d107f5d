"""Settings, SNS subjects and the local worker's Lambda-shaped events."""

from __future__ import annotations

import pytest

from pipeline.adapters.topic import safe_subject
from pipeline.local.worker import to_lambda_event
from pipeline.settings import Settings, parse_renditions


def test_renditions_parse_and_sort_largest_first() -> None:
    r = parse_renditions("thumb:150x150, large:800x600,medium:400x300")
    assert [x.name for x in r] == ["large", "medium", "thumb"]
    with pytest.raises(ValueError):
        parse_renditions("big:0x10")
    with pytest.raises(ValueError):
        parse_renditions("a:1x1,a:2x2")


def test_names_from_prefix_and_overrides() -> None:
    s = Settings.from_env({"NAME_PREFIX": "p", "OUTPUT_BUCKET": "out", "INPUT_PREFIX": "in"})
    assert (s.names.input_bucket, s.names.output_bucket, s.names.queue_name, s.names.dlq_name) == (
        "p-input",
        "out",
        "p-jobs",
        "p-jobs-dlq",
    )
    assert s.names.input_prefix == "in/" and s.endpoint_url is None


def test_visibility_is_six_times_the_timeout_and_lease_is_under_it() -> None:
    s = Settings.from_env({"HANDLER_TIMEOUT_S": "60"})
    assert s.timing.queue_visibility_timeout_s == 360 and s.timing.lease_s == 60
    short = Settings.from_env({"HANDLER_TIMEOUT_S": "60", "VISIBILITY_TIMEOUT_S": "10"})
    assert short.timing.lease_s == 5 < short.timing.queue_visibility_timeout_s


def test_bad_integer_setting_says_which() -> None:
    with pytest.raises(ValueError, match="MAX_BYTES"):
        Settings.from_env({"MAX_BYTES": "lots"})


@pytest.mark.parametrize("text", ["imgpipe processed: ünïcödé 写真.jpg", "a\nb\rc", "x" * 300, "", "   "])
def test_sns_subject_is_always_valid(text: str) -> None:
    s = safe_subject(text)
    assert 0 < len(s) < 100 and s.isascii() and "\n" not in s and "\r" not in s and s.isprintable()


def test_lambda_shaped_event() -> None:
    msg = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": "{}",
        "MD5OfBody": "x",
        "Attributes": {"ApproximateReceiveCount": "2"},
        "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}},
    }
    [rec] = to_lambda_event([msg], "arn:aws:sqs:us-east-1:1:q", "us-east-1")["Records"]  # type: ignore[list-item]
    assert rec["eventSource"] == "aws:sqs" and rec["eventSourceARN"].endswith(":q")
    assert rec["attributes"]["ApproximateReceiveCount"] == "2"
    assert rec["messageAttributes"]["a"]["stringValue"] == "v"


def test_reconcile_sees_renditions_that_do_not_belong_and_orphans() -> None:
    from pipeline.domain import ImageRecord, Kind, Status, StoredRendition, Version
    from pipeline.ops.reconcile import reconcile

    def rec(key: str, status: Status, *renditions: tuple[str, str]) -> ImageRecord:
        made = tuple(StoredRendition("large", "out", k, 8, 8, 8, "image/jpeg", e) for k, e in renditions)
        kind = Kind.REMOVED if status is Status.DELETED else Kind.CREATED
        return ImageRecord(key, "in", status, Version(kind, "", "", ""), renditions=made)

    items = [
        rec("uploads/a", Status.PROCESSED, ("large/a.jpg", "ea")),
        rec("uploads/b", Status.PROCESSED, ("large/b.jpg", "eb")),
        rec("uploads/gone", Status.DELETED),
    ]
    # GIVEN b's key now holds another image's bytes, and a rendition of a deleted source was left behind
    outputs = {"large/a.jpg": "ea", "large/b.jpg": "e-other", "large/gone.jpg": "eg"}
    report = reconcile({"uploads/a", "uploads/b"}, items, outputs)
    assert report["renditions_foreign"] == 1 and report["foreign_keys"] == ["large/b.jpg"]
    assert report["orphans"] == 1 and report["orphan_keys"] == ["large/gone.jpg"]
    assert (report["processed"], report["deleted"], report["missing"]) == (2, 1, 0)


def test_wiring_the_processor_makes_no_aws_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # Wiring runs at every cold start: a lookup there (the variants queue by name) costs every container a round
    # trip, and fails the whole function when SQS is slow. GIVEN the Lambda's environment without the queue's URL
    from botocore.client import BaseClient

    from pipeline.wiring import build_processor

    calls: list[str] = []

    def call(self: BaseClient, op: str, params: dict[str, object]) -> dict[str, str]:
        calls.append(op)
        return {"QueueUrl": "https://sqs/1/q", "MessageId": "m"}

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    env = {"RESULTS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:r", "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:a"}
    processor = build_processor(Settings.from_env(env))
    # THEN nothing was called, and the queue is looked up when the first job is sent
    assert calls == [] and processor.variants_queue is not None
    processor.variants_queue.send("{}")
    assert calls == ["GetQueueUrl", "SendMessage"]


def test_the_client_config_works_on_a_botocore_without_the_checksum_options(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Lambda runtime's own botocore (1.34) refuses `request_checksum_calculation` (TypeError at the cold start)
    from botocore.config import Config

    from pipeline.aws import client_config

    old = {k: v for k, v in Config.OPTION_DEFAULTS.items() if "checksum" not in k}
    monkeypatch.setattr(Config, "OPTION_DEFAULTS", old)
    config = client_config(Settings.from_env({}))
    assert getattr(config, "connect_timeout") == 5 and not hasattr(config, "request_checksum_calculation")  # noqa: B009
    monkeypatch.undo()
    assert getattr(client_config(Settings.from_env({})), "request_checksum_calculation") == "when_required"  # noqa: B009


def test_dlq_times_are_shown_as_a_person_reads_them() -> None:
    from pipeline.ops.dlq import _iso

    # SQS gives SentTimestamp as epoch milliseconds in text; `dlq list` printed that number as it came
    assert _iso("1796437870685") == "2026-12-05T02:31:10Z"
    assert _iso(None) is None and _iso("") == ""
