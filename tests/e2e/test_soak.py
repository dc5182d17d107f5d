"""A smaller `make soak`: a burst of uploads through the real worker, reconciled while it moves and once settled."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
