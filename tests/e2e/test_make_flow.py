"""`make up && make e2e && make down`, exactly as a user runs it, on a free port."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

from pipeline.local.emulator import free_port, port_open
from tests.conftest import run
from tests.e2e.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]


def make(target: str, port: int, run_dir: Path, timeout: float, api_port: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VISIBILITY_TIMEOUT_S": "3", "ALARM_INTERVAL_S": "2", "DEFER_DELAY_S": "1"}
    # The user's defaults: every format, AVIF deferred to the variants queue (the other tests run WebP only).
    for name in ("AWS_ENDPOINT_URL", "FORMATS", "DEFER_FORMATS"):
        env.pop(name, None)
    emulator = os.environ.get("EMULATOR", "ministack")
    # The embedded path (the containers leg of make test runs the compose one), whatever engine answers.
    args = [f"PORT={port}", f"RUN_DIR={run_dir}", f"EMULATOR={emulator}", f"API_PORT={api_port or free_port()}"]
    args.append("MODE=embedded")
    return run(["make", "--no-print-directory", target, *args], env=env, timeout=timeout)


def test_make_up_e2e_down(tmp_path: Path) -> None:
    port, api_port = free_port(), free_port()
    try:
        up = make("up", port, tmp_path, 180, api_port)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "embedded" in up.stdout and (tmp_path / "worker.pid").exists()
        page = wait_for(lambda: _get(f"http://127.0.0.1:{api_port}/"), timeout=20, what="the page")
        assert "<title>imgpipe</title>" in page
        e2e = make("e2e", port, tmp_path, 300)
        assert e2e.returncode == 0, e2e.stdout + e2e.stderr
        expected = len(json.loads((ROOT / "samples" / "manifest.json").read_text())["samples"]) + 1  # + the poison
        assert f"e2e: {expected} passed, 0 failed" in e2e.stdout, e2e.stdout
        assert "(poison message)" in e2e.stdout
    finally:
        down = make("down", port, tmp_path, 60, api_port)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not port_open("127.0.0.1", port), "make down left the emulator running"
    assert not (tmp_path / "worker.pid").exists() and not port_open("127.0.0.1", api_port)


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return str(resp.read().decode())
    except OSError:
        return ""
