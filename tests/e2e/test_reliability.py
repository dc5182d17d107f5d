"""Bad input, faults and bursts: every image ends, nothing is lost, nothing loops."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from pipeline import wiring
from pipeline.adapters.queue import Queue
from pipeline.aws import make_clients
from pipeline.domain import ImageRecord, Status
from pipeline.e2e import Check, check_rendition
from pipeline.local.bootstrap import bootstrap
from pipeline.local.emulator import Emulator, free_port, port_open, stop_process
from pipeline.ops.dlq import peek, redrive
from pipeline.ops.stack import Stack
from pipeline.settings import Settings
from tests import crafted
from tests.conftest import ROOT, StackFixture, make_settings
from tests.e2e.helpers import ended, read_notifications, running_worker, s3_event, wait_for
from tests.faults import Faults
from tests.images import encode, marked
from tests.peak import peak_growth

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


def _ended_as(clients: Any, item: ImageRecord, exp: dict[str, Any]) -> list[str]:
    """What is wrong with how one corpus file ended, against its expectation (nothing: [])."""
    check = Check(item.source_key, exp["expect"])
    if exp["expect"] == "failed":
        if item.status is not Status.FAILED or item.error is None or item.error.code != exp["code"]:
            check.problems.append(f"ended {item.status.value} {item.error}")
        elif not item.error.message:
            check.problems.append("no reason")
    elif item.status is not Status.PROCESSED:
        check.problems.append(f"ended {item.status.value} {item.error}")
    else:
        for rend in item.renditions:
            check_rendition(clients, rend.as_dict(), exp, check)
        fallback = [r for r in item.renditions if r.format == exp["format"]]
        if exp.get("key_suffix") and not all(r.key.endswith(exp["key_suffix"]) for r in fallback):
            check.problems.append(f"rendition keys {[r.key for r in item.renditions]}")
    if item.attempts != 1:
        check.problems.append(f"{item.attempts} attempts")
    return check.problems


# A visibility timeout well over the slowest hostile file: a redelivery would count as a retry, which is the failure
# this test looks for (under load the 2 s default made it flaky).
@pytest.mark.stack(max_bytes=1_000_000, visibility_timeout_s=30)
def test_bad_input_corpus_each_ends_once_without_retries(fresh_stack: StackFixture) -> None:
    settings, clients, stack = fresh_stack
    records = wiring.records(settings, clients)
    expected = json.loads((CORPUS / "expected.json").read_text())
    base = f"{settings.names.input_prefix}corpus/"
    uploads = {base + name: ((CORPUS / name).read_bytes(), exp) for name, exp in expected.items()}
    # made here rather than committed: a file over the byte limit, and a 900-byte key
    uploads[base + "too-big.jpg"] = (
        os.urandom(settings.imaging.max_bytes + 1),
        {"expect": "failed", "code": "too_large"},
    )
    long_key = base + "long/" + "k" * (900 - len(base) - len("long/") - len(".jpg")) + ".jpg"
    assert len(long_key.encode()) == 900
    small = {
        "expect": "processed",
        "format": "JPEG",
        "sizes": {"large": [320, 240], "medium": [320, 240], "thumb": [150, 113]},
    }
    uploads[long_key] = (encode(marked(320, 240), "JPEG"), small)
    queue = Queue(clients.sqs, stack.queue_url)
    with running_worker(settings, clients) as worker:
        for key, (data, _) in uploads.items():
            clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=data)
        # an event for an object deleted before we got to it, and one outside the input prefix
        gone = base + "deleted-before-processing.jpg"
        queue.send(s3_event(settings.names.input_bucket, gone, "d41d8cd98f00b204e9800998ecf8427e", "0A"))
        queue.send(s3_event(settings.names.input_bucket, "elsewhere/x.jpg", "abc", "0A"))
        items = {k: wait_for(partial(ended, records, k), timeout=90, what=k) for k in [*uploads, gone]}
        wait_for(lambda: queue.depth() == {"visible": 0, "in_flight": 0, "delayed": 0}, what="queue drained")
        assert worker.stats.retried == 0, "a bad input must never be retried"
    problems = [
        f"{key[-60:]}: {found}" for key, (_, exp) in uploads.items() if (found := _ended_as(clients, items[key], exp))
    ]
    assert not problems, "\n".join(problems)
    assert (items[gone].error or pytest.fail("no error")).code == "source_missing"
    assert records.get("elsewhere/x.jpg") is None
    notes = read_notifications(Queue(clients.sqs, stack.audit_queue_url), seconds=4)
    per_key = {k: sum(n["message"]["key"] == k for n in notes) for k in [*uploads, gone]}
    assert set(per_key.values()) == {1}, {k: v for k, v in per_key.items() if v != 1}
    assert all(n["attributes"]["status"]["Value"] in ("processed", "failed") for n in notes)


def test_transient_faults_are_retried_then_dead_lettered_then_redriven(fresh_stack: StackFixture) -> None:
    settings, clients, stack = fresh_stack
    records = wiring.records(settings, clients)
    faults = Faults()
    for client in (clients.s3, clients.dynamodb, clients.sns):
        faults.attach(client)
    base = f"{settings.names.input_prefix}faults/"
    # a few throttles, 5xx and connection resets on every service: more than botocore's own retries absorb
    faults.add("s3.GetObject", "throttle", times=3)
    faults.add("dynamodb.PutItem", "throttle", times=2)
    faults.add("dynamodb.UpdateItem", "5xx", times=2)
    faults.add("sns.Publish", "reset", times=2)
    # and one image whose renditions can never be written until an operator fixes the cause
    faults.add("s3.PutObject", "throttle", match=lambda req: "stuck" in req.url)
    keys = [f"{base}ok-{i}.jpg" for i in range(6)]
    stuck = f"{base}stuck.jpg"
    uploader = make_clients(settings).s3  # the user's uploads do not go through the faulty clients
    with running_worker(settings, clients):
        for key in [*keys, stuck]:
            uploader.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(640, 480), "JPEG"))
        for key in keys:
            assert wait_for(partial(ended, records, key), timeout=60, what=key).status is Status.PROCESSED
        dlq = Queue(clients.sqs, stack.dlq_url)
        landed = wait_for(lambda: peek(dlq), timeout=40, what="the stuck image in the DLQ")
        assert len(landed) == 1 and "stuck.jpg" in landed[0]["body"]
        item = records.get(stuck)
        assert item is not None and item.status is Status.PROCESSING and 1 <= item.attempts <= 3
        assert item.last_error and item.last_error.code == "aws_SlowDown" and "put_object" in item.last_error.message
        # WHEN the cause is fixed and the DLQ redriven THEN the image completes
        faults.clear()
        assert redrive(dlq, Queue(clients.sqs, stack.queue_url)) in (1, -1)
        done = wait_for(lambda: ended(records, stuck), timeout=30, what="the redriven image")
    assert done.status is Status.PROCESSED and done.last_error is None
    notes = read_notifications(Queue(clients.sqs, stack.audit_queue_url), seconds=3)
    assert sorted(n["message"]["key"] for n in notes) == sorted([*keys, stuck])


def test_publish_failing_after_processed_is_retried_not_lost(fresh_stack: StackFixture) -> None:
    settings, clients, stack = fresh_stack
    records = wiring.records(settings, clients)
    faults = Faults()
    faults.attach(clients.sns)
    rule = faults.add("sns.Publish", "throttle", times=2)  # both botocore attempts of the first publish fail
    key = f"{settings.names.input_prefix}notify/x.jpg"
    with running_worker(settings, clients) as worker:
        clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(640, 480), "JPEG"))
        item = wait_for(lambda: ended(records, key), timeout=30, what="processed and notified")
        assert rule.hits == 2, rule
        wait_for(lambda: worker.stats.retried == 1, timeout=10, what="the failed publish to be reported for retry")
    assert item.status is Status.PROCESSED and item.attempts == 1  # processed once; only the publish was retried
    notes = read_notifications(Queue(clients.sqs, stack.audit_queue_url), seconds=3)
    assert [n["message"]["key"] for n in notes] == [key]


def _worker_env(settings: Settings, stack: Stack) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
        "NAME_PREFIX": settings.names.name_prefix,
        "VISIBILITY_TIMEOUT_S": str(settings.timing.visibility_timeout_s),
        "HANDLER_TIMEOUT_S": str(settings.timing.handler_timeout_s),
        "WORKER_WAIT_S": "1",
        "ALARM_INTERVAL_S": "1",
        "RESULTS_TOPIC_ARN": stack.results_topic_arn,
        "ALERTS_TOPIC_ARN": stack.alerts_topic_arn,
        "LOG_LEVEL": "INFO",
    }


@pytest.mark.stack(visibility_timeout_s=4)
def test_sigkill_mid_batch_then_restart_loses_nothing(fresh_stack: StackFixture, tmp_path: Path) -> None:
    settings, clients, stack = fresh_stack
    records = wiring.records(settings, clients)
    keys = [f"{settings.names.input_prefix}kill/{i}.jpg" for i in range(12)]
    for key in keys:  # big enough that a batch takes a while
        clients.s3.put_object(
            Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(3000, 2000), "JPEG", quality=95)
        )
    env = _worker_env(settings, stack)
    log = (tmp_path / "worker-1.log").open("w")
    # A worker killed outright cannot remove its fork server's socket folder (pymp-*): it goes in the test's own.
    (tmp_path / "tmp").mkdir()
    first = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "worker", "--concurrency", "1"],
        cwd=ROOT,
        env={**env, "TMPDIR": str(tmp_path / "tmp")},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # WHEN the worker is killed outright after the first images, in the middle of its batch
        wait_for(lambda: sum(bool(ended(records, k)) for k in keys) >= 2, timeout=60, what="first images")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    done_before = sum(bool(ended(records, k)) for k in keys)
    assert done_before < len(keys), "the kill came too late to test anything"
    # THEN a new worker finishes everything once the messages come back
    second = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "worker"],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "worker-2.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: all(ended(records, k) for k in keys), timeout=120, what="all images after the restart")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, "SIGTERM must stop the worker cleanly"
    for key in keys:
        item = records.get(key)
        assert (
            item is not None
            and item.status is Status.PROCESSED
            and len(item.renditions) == 3 * (1 + len(settings.imaging.variants))
        )
        for r in item.renditions:
            clients.s3.head_object(Bucket=r.bucket, Key=r.key)
    assert len([i for i in records.scan() if i.source_key.startswith(f"{settings.names.input_prefix}kill/")]) == len(
        keys
    )
    # At-least-once: an image whose notification was published just before the kill may be announced twice.
    notes = read_notifications(Queue(clients.sqs, stack.audit_queue_url), seconds=3)
    counts = {k: sum(n["message"]["key"] == k for n in notes) for k in keys}
    assert all(1 <= c <= 2 for c in counts.values()), counts
    assert sum(counts.values()) <= len(keys) + 1


def test_worker_survives_the_emulator_going_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup_logging() (run by an earlier test through the Lambda handler) stops pipeline logs at their JSON
    # handler; let them reach caplog too.
    monkeypatch.setattr(logging.getLogger("pipeline"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="pipeline")
    backend = os.environ.get("EMULATOR", "ministack")
    backend = "ministack" if backend == "localstack" else backend
    emu = Emulator(backend, ROOT / f".venv-{backend}" / "bin", port=free_port())
    proc = emu.start(tmp_path / "emu.log")
    try:
        settings = make_settings(
            emu.url, visibility_timeout_s=2, handler_timeout_s=20, worker_wait_s=1, alarm_interval_s=1
        )
        clients = make_clients(settings, max_attempts=1)
        stack = bootstrap(settings, clients)
        settings = settings.with_(results_topic_arn=stack.results_topic_arn, alerts_topic_arn=stack.alerts_topic_arn)
        records = wiring.records(settings, clients)
        with running_worker(settings, clients) as worker:
            # WHEN the emulator stops under the running worker
            stop_process(proc.pid)
            assert not port_open("127.0.0.1", emu.port)
            wait_for(lambda: "cannot reach the queue" in caplog.text, timeout=20, what="the worker to notice")
            assert worker.threads and all(t.is_alive() for t in worker.threads) and not worker.stop.is_set()
            # THEN it comes back, gets its resources again, and the worker resumes on its own
            proc = emu.start(tmp_path / "emu.log")
            bootstrap(settings, clients)
            key = f"{settings.names.input_prefix}after-restart-{uuid.uuid4().hex[:6]}.jpg"
            clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(640, 480), "JPEG"))
            assert (
                wait_for(lambda: ended(records, key), timeout=60, what="processing after the restart").status
                is Status.PROCESSED
            )
    finally:
        stop_process(proc.pid)


@pytest.mark.stack(visibility_timeout_s=4)
def test_a_slow_animation_ends_inside_its_lease_and_takes_no_healthy_image_with_it(fresh_stack: StackFixture) -> None:
    # GIVEN a queue whose messages come back after 4 s (lease 2 s, so an animation may take 1 s), an animated WebP
    # of 10,000 frames with a profile (a minute of work for the old code: its batch outlived the visibility timeout
    # and healthy images went round with it), and three healthy photos uploaded with it
    settings, clients, stack = fresh_stack
    assert settings.timing.render_s <= settings.timing.lease_s / 2
    records = wiring.records(settings, clients)
    base = f"{settings.names.input_prefix}slow/"
    slow = base + "many-frames.webp"
    uploads = {slow: crafted.animated_webp((4, 4), 10_000, icc=crafted.padded_profile(4000))}
    uploads |= {f"{base}healthy-{i}.jpg": encode(marked(640, 480), "JPEG") for i in range(3)}
    with running_worker(settings, clients) as worker:
        for key, data in uploads.items():
            clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=data)
        # WHEN the worker takes them
        items = {k: wait_for(partial(ended, records, k), timeout=90, what=k) for k in uploads}
        wait_for(lambda: Queue(clients.sqs, stack.queue_url).depth()["in_flight"] == 0, what="queue drained")
        # THEN every image ended processed on its first delivery (the animation animated if its frames were done
        # inside the deadline, else a still that says why: which one depends on this machine's speed)
        assert worker.stats.retried == 0
    assert all(i.status is Status.PROCESSED and i.attempts == 1 for i in items.values()), items
    original = items[slow].original
    assert original is not None and original.animation in ("animated", "still_over_budget")
    assert Queue(clients.sqs, stack.dlq_url).depth()["visible"] == 0


@pytest.mark.stack(worker_concurrency=4, worker_batch_size=1, visibility_timeout_s=30)
def test_the_worker_holds_no_more_than_one_function_would_while_rendering_big_photos_at_once(
    fresh_stack: StackFixture,
) -> None:
    # GIVEN four pollers, one message each, and four 24 MP phone photos uploaded together (each alone plans about
    # 240 MiB, and four rendering at once held about 860 MiB in this process)
    settings, clients, _ = fresh_stack
    records = wiring.records(settings, clients)
    data = (ROOT / "samples" / "phone-24mp.avif").read_bytes()
    keys = [f"{settings.names.input_prefix}big/{i}.avif" for i in range(4)]

    def run_all() -> None:
        with running_worker(settings, clients):
            for key in keys:
                clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=data)
            for key in keys:
                wait_for(partial(ended, records, key), timeout=120, what=key)

    # WHEN the worker renders them
    grew = peak_growth(run_all)
    # THEN every one is processed, and the process's peak grew by about one function's work budget, not four
    assert all((r := records.get(k)) is not None and r.status is Status.PROCESSED for k in keys)
    budget = settings.imaging.work_budget_bytes
    assert grew < budget * 1.25, f"peak grew {grew >> 20} MiB; one function's work budget is {budget >> 20} MiB"
