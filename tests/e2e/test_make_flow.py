"""`make up && make e2e && make down`, exactly as a user runs it, on a free port."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

from pipeline.local.emulator import free_port, port_open
from tests.conftest import interruptible, run
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
        _readme_commands_as_written(port, api_port)
    finally:
        down = make("down", port, tmp_path, 60, api_port)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not port_open("127.0.0.1", port), "make down left the emulator running"
    assert not (tmp_path / "worker.pid").exists() and not port_open("127.0.0.1", api_port)


def test_make_up_with_a_taken_api_port_fails_and_says_so(tmp_path: Path) -> None:
    # It once exited 0 and announced a URL that served another program; the error was only in api.log.
    port = free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        try:
            up = make("up", port, tmp_path, 180, taken)
            assert up.returncode != 0, up.stdout
            said = [line for line in up.stderr.splitlines() if line.startswith("make up:")]
            assert len(said) == 1 and f"port {taken} is taken" in said[0], up.stderr
            assert f"http://127.0.0.1:{taken}/" not in up.stdout
        finally:
            down = make("down", port, tmp_path, 60)
    assert down.returncode == 0 and not port_open("127.0.0.1", port)


def test_make_up_on_a_running_stack_names_the_api_port_it_really_has(tmp_path: Path) -> None:
    port, api_port = free_port(), free_port()
    try:
        assert make("up", port, tmp_path, 180, api_port).returncode == 0
        again = make("up", port, tmp_path, 180, free_port())
        assert again.returncode == 0, again.stderr
        assert (
            f"the API is already running (pid {(tmp_path / 'api.pid').read_text().strip()}, port {api_port})"
            in again.stdout
        )
        assert f"page and API on http://127.0.0.1:{api_port}/" in again.stdout
    finally:
        make("down", port, tmp_path, 60)


def _readme_block(first: str) -> list[str]:
    """The commands of the README's bash block that starts with `first`, continuations joined, comments kept apart."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    block: str = next(b for b in blocks if b.startswith(first))
    return block.replace("\\\n", "").strip().splitlines()


def _readme_commands_as_written(port: int, api_port: int) -> None:
    # The README's quick start, run as a newcomer types it (only its ports swapped for this test's free ones).
    # The user's shell: no endpoint yet, and the default formats the worker runs with (the AVIF deferred).
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "FORMATS", "DEFER_FORMATS")}
    export, upload, watch = (line.replace("4566", str(port)) for line in _readme_block("export AWS_ENDPOINT_URL"))
    command, _, said = upload.partition("#")
    done = run(["bash", "-c", f"{export}\n{command}"], env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert said.strip().removesuffix("...").strip() in done.stdout, done.stdout
    live = interruptible(["bash", "-c", f"{export}\nexec {watch.partition('#')[0]}"], env=env)
    try:
        frames = live.stdout
        assert frames is not None
        seen = wait_for(lambda: "settled" in (line := frames.readline()) and line, timeout=60, what="settled")
        assert "settled" in seen
    finally:
        live.send_signal(signal.SIGINT)
        _, err = live.communicate(timeout=20)
    # Ctrl-C is how a watch ends: exit 0, nothing on stderr.
    assert live.returncode == 0 and not err.strip(), err
    posted, listed = (line.replace("8080", str(api_port)).partition("#")[0] for line in _readme_block("curl"))
    created = json.loads(run(["bash", "-c", posted], env=env, timeout=30).stdout)
    assert created["id"] and created["upload"]["url"], created
    images = json.loads(run(["bash", "-c", listed], env=env, timeout=30).stdout)
    assert 0 < len(images["items"]) <= 5 and {i["status"] for i in images["items"]} == {"processed"}, images


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return str(resp.read().decode())
    except OSError:
        return ""
