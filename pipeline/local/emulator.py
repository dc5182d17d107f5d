"""Start and stop the embedded AWS emulator: a real server process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parents[2]


def _ministack(em: Emulator, run_dir: Path, env: dict[str, str]) -> list[str]:
    env.update({"BIND_HOST": em.host, "GATEWAY_PORT": str(em.port), "LOG_LEVEL": "WARNING"})
    return [str(em.bin_dir / "ministack")]


def _moto(em: Emulator, run_dir: Path, env: dict[str, str]) -> list[str]:
    return [str(em.bin_dir / "moto_server"), "-H", em.host, "-p", str(em.port)]


def _localstack(em: Emulator, run_dir: Path, env: dict[str, str]) -> list[str]:
    from pipeline.local import localstack  # its DynamoDB Local and filesystem layout: only when it runs

    lib = localstack.provision(em.bin_dir.parent / "localstack-lib")
    root = localstack.filesystem_root(run_dir, lib, PROJECT / "localstack" / "init")
    env.update(localstack.environment(em.host, em.port, root, sys.executable, PROJECT))
    return [str(em.bin_dir / "python"), "-m", "localstack.runtime.main"]


def _provision_localstack(bin_dir: Path) -> str:
    from pipeline.local import localstack

    # Our host executor runs inside LocalStack's runtime (its Lambda functions on this machine's Python).
    subprocess.run(
        [str(bin_dir / "pip"), "install", "-q", "--no-deps", str(PROJECT / "localstack" / "host-executor")],
        check=True,
        timeout=300,
    )
    return f"{localstack.provision(bin_dir.parent / 'localstack-lib')} is ready for LocalStack"


@dataclass(frozen=True)
class Backend:
    """One emulator the pipeline runs on: embedded from its own virtualenv, or in compose under its profile."""

    name: str
    python: str  # the Python its virtualenv runs, and its lock (requirements/<name>.lock) is resolved for
    # The command line that starts its server bound to the emulator's host:port (it may add to the environment).
    server: Callable[[Emulator, Path, dict[str, str]], list[str]]
    init_hooks: bool = False  # it runs our bootstrap as init hooks once ready: wait for them too
    # What its virtualenv needs beyond its lock, laid out once by `make` (offline parts): says what it made.
    provision: Callable[[Path], str] | None = None


# The emulators, one entry each: the CLI, the fixtures, the bench, the container profiles and the Makefile (its list,
# virtualenvs and `make lock`) read this table; the compose profiles and CI's matrix are held to it by
# tests/static/test_makefile.py. The first is the default. The Makefile reads it with sed, before any virtualenv
# exists: keep each entry on one line, `Backend("name", "3.x", ...)`.
BACKEND_TABLE = (
    Backend("ministack", "3.12", _ministack),
    Backend("moto", "3.11", _moto),
    Backend("localstack", "3.13", _localstack, init_hooks=True, provision=_provision_localstack),
)
BACKENDS = tuple(b.name for b in BACKEND_TABLE)
BY_NAME = {b.name: b for b in BACKEND_TABLE}
DEFAULT_BACKEND = BACKENDS[0]


class EmulatorError(RuntimeError):
    """An emulator could not be started: the port is taken, or it exited or failed before it was ready."""


class PortTakenError(EmulatorError):
    """Something already answers on the emulator's port."""


@dataclass(frozen=True)
class Emulator:
    """One emulator backend, run from its own virtualenv's bin folder."""

    backend: str
    bin_dir: Path
    host: str = "127.0.0.1"
    port: int = 4566

    @property
    def url(self) -> str:
        """The endpoint URL the pipeline talks to."""
        return f"http://{self.host}:{self.port}"

    def command(self, run_dir: Path) -> tuple[list[str], dict[str, str]]:
        """The command line and environment that start this backend bound to host:port only."""
        if self.backend not in BY_NAME:
            raise ValueError(f"unknown emulator backend {self.backend!r}; choose one of {BACKENDS}")
        env = dict(os.environ)
        return BY_NAME[self.backend].server(self, run_dir, env), env

    def start(self, log_path: Path, *, timeout_s: float = 60.0) -> subprocess.Popen[bytes]:
        """Start the server and wait (bounded) until it answers; raises if it does not."""
        if port_open(self.host, self.port):
            raise PortTakenError(f"{self.host}:{self.port} is already in use")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd, env = self.command(log_path.parent)
        env.update(private_tmp(log_path.parent / f"{self.backend}-{self.port}.tmp"))
        with log_path.open("ab") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_ready(self.url, timeout_s=timeout_s, proc=proc)
            if BY_NAME[self.backend].init_hooks:
                # Its init hooks (our bootstrap) run once it is ready: wait for them, so that nothing races them.
                wait_init_hooks(self.url, timeout_s=timeout_s, proc=proc)
        except BaseException:
            stop_process(proc.pid)
            raise
        return proc


def evaluates_alarms(url: str | None) -> bool:
    """Whether the emulator at url evaluates CloudWatch alarms itself (LocalStack does; MiniStack and moto not).

    MiniStack answers LocalStack's /_localstack/health too, so LocalStack is told by /_localstack/info, which only
    LocalStack serves.
    """
    if not url:
        return True  # real AWS
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/_localstack/info", timeout=2) as resp:  # noqa: S310
            info = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return isinstance(info, dict) and "version" in info


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, *, timeout_s: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until an emulator answers HTTP at url, at most timeout_s; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EmulatorError(f"emulator exited with code {proc.returncode} before it was ready")
        try:
            # An SQS ListQueues answers on every backend once its routes are up.
            req = urllib.request.Request(f"{url}/?Action=ListQueues", method="GET")  # noqa: S310 - local URL
            with urllib.request.urlopen(req, timeout=2):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # it answered, even if not with 200
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.2)
    raise TimeoutError(f"emulator at {url} not ready after {timeout_s}s: {last}")


def wait_init_hooks(url: str, *, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until LocalStack reports its READY-stage init scripts done; raise if one failed or time ran out."""
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EmulatorError(f"LocalStack exited with code {proc.returncode} while its init hooks ran")
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
            with urllib.request.urlopen(f"{url}/_localstack/init/ready", timeout=2) as resp:  # noqa: S310
                state = json.loads(resp.read())
            failed = [s for s in state.get("scripts", []) if isinstance(s, dict) and s.get("state") == "ERROR"]
            if failed:
                raise EmulatorError(f"LocalStack init hook failed: {failed} (see the emulator log)")
            if state.get("completed") is True:
                return
        time.sleep(0.3)
    raise TimeoutError(f"LocalStack init hooks not done after {timeout_s}s: {state}")


# The emulators write to the temporary folder and do not clean up when stopped: MiniStack unpacks each function's zip
# there (113 MB for ours, per function and run) and DynamoDB Local its native library; a day of test runs left 6 GB
# in /tmp and the next CI run found the disk full. Each emulator gets a folder of its own, marked, and stop_process
# removes it with the process.
TMP_VAR = "IMGPIPE_PRIVATE_TMP"
TMP_MARK = ".imgpipe-private-tmp"


def private_tmp(folder: Path) -> dict[str, str]:
    """A fresh, marked temporary folder for a process about to start: the variables that point it there."""
    shutil.rmtree(folder, ignore_errors=True)  # a previous run on this port that was killed before it could clean
    folder.mkdir(parents=True)
    (folder / TMP_MARK).touch()
    path = str(folder.resolve())
    java = f"{os.environ.get('JAVA_TOOL_OPTIONS', '')} -Djava.io.tmpdir={path}".strip()
    return {"TMPDIR": path, TMP_VAR: path, "JAVA_TOOL_OPTIONS": java}


def _private_tmp_of(pid: int) -> Path | None:
    """The private temporary folder a running process was given, if any (Linux: read from /proc)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{TMP_VAR}=".encode()
    for entry in environ:
        if entry.startswith(prefix):
            folder = Path(os.fsdecode(entry[len(prefix) :]))
            # Only a folder private_tmp made: never the shared /tmp, whatever the variable says.
            return folder if (folder / TMP_MARK).is_file() else None
    return None


def stop_process(pid: int, *, timeout_s: float = 10.0) -> bool:
    """Stop a process (its whole group when it leads one, as start_new_session makes): SIGTERM, then SIGKILL.

    The one way this project stops what it started: `make down` and `pipeline stop` use it for the emulator, the
    worker and the API alike; a private temporary folder the process was given goes with it. False when there was no
    such process.
    """
    try:
        leads_group = os.getpgid(pid) == pid
    except ProcessLookupError:
        return False
    tmp = _private_tmp_of(pid)
    try:
        return _stop(pid, leads_group, timeout_s)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _stop(pid: int, leads_group: bool, timeout_s: float) -> bool:
    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if leads_group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    send(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            # Reap it when it is our child; otherwise just probe it.
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return True
        except ChildProcessError:
            if not alive(pid):
                return True
        time.sleep(0.1)
    send(signal.SIGKILL)
    return True


def alive(pid: int) -> bool:
    """Whether a process still runs: an exited one its parent has not reaped yet (a zombie) does not.

    (A zombie still answers kill(pid, 0): `make down` waited the whole timeout for each one, where the process
    that would reap them, PID 1 of a container or the shell that started them, does not.)
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # The state is the field after the command name, which is in parentheses and may hold anything.
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): what kill() said
    return state not in ("Z", "X")


def process_tree(pid: int) -> list[int]:
    """The process and every process below it (the worker's fork server and render processes), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):  # ended meanwhile
            parents[int(stat.parent.name)] = int(stat.read_text().rpartition(")")[2].split()[1])
    tree = [pid]
    for p in tree:  # grows as it goes: each process's children after it
        tree += [child for child, parent in parents.items() if parent == p]
    return tree
