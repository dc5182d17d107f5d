"""Every failure a user can expect from the CLI is one line saying what to do, with a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.local.emulator import free_port
from tests.conftest import ROOT


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env={**base, "LOG_LEVEL": "WARNING", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def start_emulator(port: int, pidfile: Path, log: Path) -> subprocess.CompletedProcess[str]:
    """`pipeline emulator start` as `make up` runs it."""
    bin_dir = str(ROOT / ".venv-moto" / "bin")
    args = [
        "--backend",
        "moto",
        "--bin-dir",
        bin_dir,
        "--port",
        str(port),
        "--pidfile",
        str(pidfile),
        "--log",
        str(log),
    ]
    return run({}, "emulator", "start", *args)


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program holds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_no_stack_running() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line(run({"AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1"}, "status"))
    assert f"nothing answers at {url}" in line and "make up" in line
    # and the e2e command the Makefile runs
    assert "make up" in one_line(run({"AWS_ENDPOINT_URL": url}, "e2e", "--samples", "samples"))


def test_debug_shows_the_traceback() -> None:
    proc = run({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}, "--debug", "status")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "EndpointConnectionError" in proc.stderr


def test_missing_credentials(tmp_path: Path) -> None:
    env = {
        "AWS_REGION": "eu-west-1",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    line = one_line(run(env, "status"))
    # Without AWS_ENDPOINT_URL it once spoke of AWS profiles only: a new user's shell needs the local stack's line.
    assert "no AWS credentials" in line and "AWS_PROFILE" in line
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:4566" in line


def test_a_resource_that_does_not_exist(endpoint: str) -> None:
    line = one_line(run({"AWS_ENDPOINT_URL": endpoint, "NAME_PREFIX": "no-such-stack"}, "status"))
    assert "does not exist" in line and "make up" in line and "NAME_PREFIX" in line


def test_emulator_port_taken_by_another_program(held_port: int, tmp_path: Path) -> None:
    proc = start_emulator(held_port, tmp_path / "emu.pid", tmp_path / "emu.log")
    line = one_line(proc)
    assert f"port {held_port} is taken" in line and "PORT=" in line
    assert not (tmp_path / "emu.pid").exists()


def test_emulator_already_running_says_so_and_succeeds(held_port: int, tmp_path: Path) -> None:
    # GIVEN a pid file whose process is alive and a server answering on the port (make up ran before)
    pidfile = tmp_path / "emu.pid"
    pidfile.write_text(str(os.getpid()))
    proc = start_emulator(held_port, pidfile, tmp_path / "emu.log")
    assert proc.returncode == 0, proc.stderr
    assert "already running" in proc.stdout and "make down" in proc.stdout


def test_api_port_taken(held_port: int, endpoint: str) -> None:
    line = one_line(run({"AWS_ENDPOINT_URL": endpoint}, "api", "--port", str(held_port)))
    assert f"port {held_port} is taken" in line and "API_PORT" in line


def test_stop_ends_processes_by_pid_file_group_leader_or_not(tmp_path: Path) -> None:
    # GIVEN what make up starts: the emulator in a session of its own, the worker and the API as plain children
    leader = subprocess.Popen(["sleep", "60"], start_new_session=True)
    child = subprocess.Popen(["sleep", "60"])
    (tmp_path / "emulator.pid").write_text(str(leader.pid))
    (tmp_path / "worker.pid").write_text(str(child.pid))
    # WHEN make down stops them (and a pid file that is not there is fine)
    proc = run({}, "stop", str(tmp_path / "worker.pid"), str(tmp_path / "api.pid"), str(tmp_path / "emulator.pid"))
    # THEN both are gone, their pid files too
    assert proc.returncode == 0, proc.stderr
    assert leader.wait(timeout=15) is not None and child.wait(timeout=15) is not None
    assert "worker: stopped" in proc.stdout and "emulator: stopped" in proc.stdout
    assert not list(tmp_path.glob("*.pid"))


@pytest.mark.parametrize("key", ["", "   "])
def test_similar_without_a_key_says_what_to_give(key: str) -> None:
    # GIVEN an empty key (the old code sent it to DynamoDB and printed a traceback)
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    # WHEN the user asks for pictures like it
    line = one_line(run(env, "similar", key))
    # THEN one line says what a key looks like, before any request is made
    assert "give an image's key" in line


def test_upload_of_a_missing_file_or_a_folder_uploads_nothing_and_says_so_in_one_line(tmp_path: Path) -> None:
    # GIVEN a good file followed by a missing one, or by a folder (the old code uploaded the good one, then crashed)
    good = tmp_path / "good.jpg"
    good.write_bytes(b"\xff\xd8\xff")
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    missing = one_line(run(env, "upload", str(good), str(tmp_path / "nope.jpg")))
    folder = one_line(run(env, "upload", str(good), str(tmp_path)))
    # THEN one line each says what is wrong, before anything is sent (nothing answers at that endpoint)
    assert missing.endswith(f"no such file: {tmp_path / 'nope.jpg'}")
    assert f"{tmp_path} is a folder: give image files" in folder
