"""Logs: JSON objects from the services, plain lines from the commands a person runs."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = """
import logging, sys
from pipeline.logs import setup_logging
setup_logging("INFO", human=sys.argv[1] == "human")
log = logging.getLogger("pipeline.e2e")
log.info("uploaded 22 samples")
log.warning("the DLQ has 1 message")
"""


def _stderr(mode: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", SNIPPET, mode], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stderr.splitlines()


def test_a_persons_commands_log_plain_lines() -> None:
    # `make e2e`, bootstrap and `dlq redrive` once mixed JSON log objects into what a person reads.
    assert _stderr("human") == ["uploaded 22 samples", "warning: the DLQ has 1 message"]


def test_services_log_one_json_object_per_line() -> None:
    lines = [json.loads(line) for line in _stderr("json")]
    assert [(x["level"], x["message"], x["service"]) for x in lines] == [
        ("INFO", "uploaded 22 samples", "imgpipe"),
        ("WARNING", "the DLQ has 1 message", "imgpipe"),
    ]


def test_only_the_worker_and_the_api_are_services() -> None:
    # A new command is a person's unless it says otherwise: grep the CLI for the two that log JSON.
    source = (ROOT / "pipeline" / "cli.py").read_text()
    services = [block.split("(")[0] for block in source.split("\ndef cmd_")[1:] if "_env(service=True)" in block]
    assert services == ["worker", "api"]


def test_make_e2e_says_how_far_it_is_while_it_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    # `make e2e` was silent for about 30 s between the upload and the table.
    from pipeline import e2e

    clock = itertools.chain([0.0, 1.0, 2.0, 6.0, 7.0, 8.0], itertools.repeat(60.0))
    monkeypatch.setattr("pipeline.e2e.time.monotonic", lambda: next(clock))
    said: list[str] = []
    monkeypatch.setattr(e2e.log, "info", lambda msg, *args: said.append(msg % args))
    progress = e2e._every(5.0)
    for done in (0, 3, 9, 9, 22):
        progress(done, 22)
    # at most every 5 s while it moves, and always the end
    assert said == ["9/22 complete", "22/22 complete"]
