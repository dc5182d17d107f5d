"""The command line against a real emulator: info, status (and --watch), dlq list, reconcile, upload --wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from PIL import Image

from pipeline import wiring
from pipeline.settings import Settings
from tests.conftest import ROOT, StackFixture, interruptible, run
from tests.e2e.helpers import running_worker


def cli(settings: Settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
        "NAME_PREFIX": settings.names.name_prefix,
        "LOG_LEVEL": "WARNING",
        "VISIBILITY_TIMEOUT_S": str(settings.timing.visibility_timeout_s),
    }
    return run([sys.executable, "-m", "pipeline", *args], env=env, timeout=timeout)


def test_info_status_watch_dlq_and_reconcile(session_stack: StackFixture) -> None:
    settings, _, stack = session_stack
    info = cli(settings, "info", "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["queue_url"] == stack.queue_url and data["endpoint"] == settings.endpoint_url
    assert data["renditions"] == {"large": [800, 600], "medium": [400, 300], "thumb": [150, 150]}
    status = json.loads(cli(settings, "status").stdout)
    assert set(status) == {"items", "queue", "variants", "dlq"} and set(status["items"]) == {
        "processing",
        "processed",
        "failed",
        "deleted",
    }
    watch = cli(settings, "status", "--watch", "--interval", "0.5", "--duration", "2")
    assert watch.returncode == 0 and watch.stdout.count("progress  [") >= 2 and "dlq" in watch.stdout
    # The variants queue is in the view (what "settled" means is tests/unit/test_cli_help.py's).
    assert "variants  waiting" in watch.stdout
    dlq = cli(settings, "dlq", "list")
    assert dlq.returncode == 0 and dlq.stdout.strip().endswith(f"message(s) in {settings.names.dlq_name}")


def test_upload_wait_prints_how_each_image_ended(fresh_stack: StackFixture) -> None:
    settings, clients, _ = fresh_stack
    with running_worker(settings, clients):
        up = cli(
            settings,
            "upload",
            str(ROOT / "samples" / "photo.jpg"),
            str(ROOT / "samples" / "bad" / "text.jpg"),
            "--wait",
            "--timeout",
            "60",
        )
    assert up.returncode == 1, "a failed image makes upload --wait exit 1"
    formats = " ".join(["jpeg", *(v.lower() for v in settings.imaging.variants)])
    sizes = ", ".join(f"{n} ({formats})" for n in ("large 800x600", "medium 400x300", "thumb 150x113"))
    assert f"processed  uploads/photo.jpg: {sizes}" in up.stdout, up.stdout
    assert "failed     uploads/text.jpg: not a supported image format" in up.stdout
    rec = cli(settings, "reconcile")
    report = json.loads(rec.stdout)
    assert rec.returncode == 0 and report["processed"] == 1 and report["failed"] == 1 and report["missing"] == 0


def test_the_same_picture_again_is_a_duplicate_and_similar_lists_it(fresh_stack: StackFixture, tmp_path: Path) -> None:
    settings, clients, _ = fresh_stack
    with running_worker(settings, clients):
        # GIVEN a photo, then the same photo re-encoded smaller under another key, and another picture
        first = cli(settings, "upload", str(ROOT / "samples" / "photo.jpg"), "--wait", "--timeout", "60")
        assert first.returncode == 0, first.stdout + first.stderr
        smaller = Image.open(ROOT / "samples" / "photo.jpg").resize((800, 600))
        copy = tmp_path / "similar-copy.jpg"
        smaller.save(copy, quality=60)
        for path, prefix in ((copy, "copies/"), (ROOT / "samples" / "alpha.png", "others/")):
            up = cli(settings, "upload", str(path), "--prefix", prefix, "--wait", "--timeout", "60")
            assert up.returncode == 0, up.stdout + up.stderr
    # THEN the copy's record names the first as its duplicate (the hash index), and similar lists the copy only
    record = wiring.records(settings, clients).get("uploads/copies/similar-copy.jpg")
    assert record is not None and record.duplicate_of == "uploads/photo.jpg", record
    near = cli(settings, "similar", "uploads/photo.jpg")
    assert near.returncode == 0 and near.stdout.split() == ["0", "uploads/copies/similar-copy.jpg"], near.stdout
    # and a key with no processed picture is one line and exit 2
    missing = cli(settings, "similar", "uploads/none.jpg")
    assert missing.returncode == 2 and "uploads/none.jpg has no processed picture" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_dlq_list_says_how_many_it_shows_of_how_many(fresh_stack: StackFixture) -> None:
    settings, clients, stack = fresh_stack
    for i in range(13):
        clients.sqs.send_message(QueueUrl=stack.dlq_url, MessageBody=f"dead {i}")
    shown = cli(settings, "dlq", "list")
    assert shown.returncode == 0 and shown.stdout.count('"messageId"') == 10
    assert f"10 of 13 message(s) in {settings.names.dlq_name}" in shown.stdout and "--all" in shown.stdout
    every = cli(settings, "dlq", "list", "--all")
    bodies = {json.loads(line)["body"] for line in every.stdout.splitlines() if line.startswith("{")}
    assert bodies == {f"dead {i}" for i in range(13)}
    assert every.stdout.strip().endswith(f"13 of 13 message(s) in {settings.names.dlq_name}")


def test_upload_wait_reports_this_upload_never_the_previous_one(fresh_stack: StackFixture, tmp_path: Path) -> None:
    settings, clients, _ = fresh_stack
    first, second = tmp_path / "a" / "re.jpg", tmp_path / "b" / "re.jpg"
    for path, size in ((first, (1600, 1200)), (second, (400, 600))):
        path.parent.mkdir()
        Image.new("RGB", size, (200, 30, 30)).save(path, "JPEG")
    # GIVEN a key processed once, 800x600 at its largest
    with running_worker(settings, clients):
        done = cli(settings, "upload", str(first), "--wait", "--timeout", "60")
    assert "processed  uploads/re.jpg: large 800x600" in done.stdout, done.stdout
    # WHEN new content is uploaded under the same name while no worker runs, waiting briefly
    waited = cli(settings, "upload", str(second), "--wait", "--timeout", "3")
    # THEN the previous result is not passed off as this upload's (the old code printed it at once, exit 0)
    assert waited.returncode == 1 and "800x600" not in waited.stdout, waited.stdout
    assert "uploads/re.jpg: not finished in time" in waited.stdout, waited.stdout
    # AND once a worker takes it, waiting again for the same bytes reports their own result
    with running_worker(settings, clients):
        again = cli(settings, "upload", str(second), "--wait", "--timeout", "60")
    assert again.returncode == 0 and "processed  uploads/re.jpg: large 400x600" in again.stdout, again.stdout


def test_ctrl_c_while_waiting_is_one_quiet_line(fresh_stack: StackFixture) -> None:
    settings, _, _ = fresh_stack
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
        "NAME_PREFIX": settings.names.name_prefix,
        "LOG_LEVEL": "WARNING",
    }
    # GIVEN an upload waiting for a result that will not come (no worker runs)
    proc = interruptible(
        [sys.executable, "-m", "pipeline", "upload", str(ROOT / "samples" / "photo.jpg"), "--wait", "--timeout", "60"],
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("uploaded "), "the upload never started"
        # WHEN the person presses Ctrl-C
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    # THEN it ends as Ctrl-C ends a program (a shell shows 130 for both: exit 130, or ended by SIGINT, which is
    # what Python does at exit on LocalStack's leg) with one line and no traceback
    assert proc.returncode in (130, -signal.SIGINT), proc.returncode
    assert err.strip() == "pipeline upload: interrupted", err
