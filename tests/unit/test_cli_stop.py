"""`pipeline stop` (what `make down` runs) says when it finds nothing to stop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stop_with_no_pid_files_says_where_it_looked(tmp_path: Path) -> None:
    # `make down` with another RUN_DIR than `make up`'s once printed nothing and left the stack running.
    files = [str(tmp_path / f"{name}.pid") for name in ("api", "worker", "emulator")]
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "stop", *files], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert proc.stdout == f"nothing to stop: no pid files in {tmp_path} (started with RUN_DIR=...? give the same one)\n"


def test_a_process_that_exited_but_was_not_reaped_is_not_alive() -> None:
    # `make down` waited its whole timeout for each such process (a zombie still answers kill(pid, 0))
    from pipeline.local.emulator import alive

    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "Z" not in Path(f"/proc/{child.pid}/stat").read_text().split(")")[-1]:
            time.sleep(0.05)
        assert not alive(child.pid)
        assert alive(os.getpid())
    finally:
        child.wait(timeout=10)
    assert not alive(child.pid)
