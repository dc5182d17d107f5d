"""A smaller `make soak`: a burst of uploads through the real worker, reconciled while it moves and once settled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT


def test_burst_is_reconciled_with_nothing_missing() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/soak.py", "--count", "200", "--backend", os.environ.get("EMULATOR", "ministack")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["processed"] == 200 and result["missing"] == 0 and result["renditions_missing"] == 0
    assert result["processing"] == 0 and result["failed"] == 0
    # reconcile run while the burst was moving (deferred variants in flight) found no damage, and it settled
    assert result["damage_during"] == {} and result["settled"]
    assert 0 < result["worker_peak_rss_mb"] < 1024
    # and the person waiting saw where it was (a 10,000 burst is half an hour)
    said = [line.split(": ", 1)[1] for line in proc.stderr.splitlines() if line.startswith("soak ")]
    assert said[0].startswith("uploading 200 images") and said[1].startswith("uploaded 200 in"), said
    assert any(line.startswith("reconciling while") for line in said), said
    # including before the last reconcile, which reads every item and rendition (minutes at 10,000, silent before)
    assert said[-1].startswith("settled after") and said[-1].endswith("reconciling once more"), said


def _children(pid: int) -> set[int]:
    """Every live descendant of pid (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_a_soak_stopped_by_sigterm_takes_its_emulator_and_worker_with_it() -> None:
    # A 10,000 soak killed with `kill` (SIGTERM) left LocalStack, DynamoDB Local and the worker running.
    backend = os.environ.get("EMULATOR", "ministack")
    proc = subprocess.Popen(
        [sys.executable, "scripts/soak.py", "--count", "2000", "--backend", backend],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        # GIVEN a soak whose stack is up and uploading
        assert "uploading 2000 images" in proc.stderr.readline()
        started = _children(proc.pid)
        assert started, "no emulator or worker under the soak"
        # WHEN it is sent SIGTERM
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        proc.kill()
    # THEN it exits as terminated, and nothing it started is left
    assert proc.returncode == 128 + signal.SIGTERM
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert {pid for pid in started if _alive(pid)} == set()


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to read its status is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
