"""awslocal (awscli-local) against whichever emulator is up: the everyday commands of docs/emulators.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from pipeline import wiring
from pipeline.domain import Status
from tests.conftest import StackFixture
from tests.e2e.helpers import running_worker, wait_for

ROOT = Path(__file__).resolve().parents[2]
# Beside the interpreter running the tests: .venv/bin here, /usr/local/bin in the test image.
AWSLOCAL = Path(sys.executable).parent / "awslocal"


def awslocal(endpoint: str, *args: str) -> str:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([str(AWSLOCAL), *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_readme_commands(fresh_stack: StackFixture, endpoint: str, tmp_path: Path) -> None:
    settings, clients, stack = fresh_stack
    records = wiring.records(settings, clients)
    key = f"{settings.names.input_prefix}cli/{uuid.uuid4().hex}.jpg"
    # list the buckets
    assert settings.names.input_bucket in awslocal(endpoint, "s3", "ls")
    with running_worker(settings, clients):
        # copy a photo into uploads/
        awslocal(endpoint, "s3", "cp", str(ROOT / "samples" / "photo.jpg"), f"s3://{settings.names.input_bucket}/{key}")
        wait_for(lambda: (i := records.get(key)) and i.status is Status.PROCESSED, what="the upload")
    # read its item
    item = json.loads(
        awslocal(
            endpoint,
            "dynamodb",
            "get-item",
            "--table-name",
            settings.names.table_name,
            "--key",
            json.dumps({"sourceKey": {"S": key}}),
        )
    )["Item"]
    assert item["status"] == {"S": "processed"} and len(item["renditions"]["L"]) == 3 * (
        1 + len(settings.imaging.variants)
    )
    # look at the DLQ
    attrs = json.loads(
        awslocal(endpoint, "sqs", "get-queue-attributes", "--queue-url", stack.dlq_url, "--attribute-names", "All")
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
