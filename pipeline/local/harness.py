"""A whole local stack in one context manager: emulator, resources, and a worker process (soak and bench use it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.aws import Clients, make_clients
from pipeline.local.bootstrap import bootstrap
from pipeline.local.emulator import Emulator, free_port, stop_process
from pipeline.settings import Settings


@dataclass
class RunningStack:
    """What a running local stack offers its caller."""

    settings: Settings
    clients: Clients
    env: dict[str, str]
    emulator_pid: int
    worker: subprocess.Popen[bytes]

    def upload(self, folder: str, count: int, body: Callable[[int], bytes], *, threads: int = 4) -> list[str]:
        """Upload `count` objects under the input prefix's `folder/`, in parallel; returns their keys."""
        names = self.settings.names
        keys = [f"{names.input_prefix}{folder}/{i:06d}.jpg" for i in range(count)]
        with ThreadPoolExecutor(threads) as pool:
            list(
                pool.map(
                    lambda i: self.clients.s3.put_object(Bucket=names.input_bucket, Key=keys[i], Body=body(i)),
                    range(count),
                )
            )
        return keys


@contextmanager
def running_stack(
    backend: str, *, root: Path, log_dir: Path, name: str, concurrency: int, visibility_s: int, wait_s: int = 1
) -> Iterator[RunningStack]:
    """Start the embedded emulator on a free port, bootstrap fresh resources, run `pipeline worker`; stop all after.

    Every backend runs as itself (LocalStack too: a soak or bench asked of LocalStack used to run on MiniStack).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    # Stopped by SIGTERM (a `kill`, or a CI runner's timeout), the stack goes down with it: the exit unwinds through
    # the `finally` below instead of leaving the emulator and the worker running.
    previous = signal.signal(signal.SIGTERM, _exit_on_term) if _main_thread() else None
    emu = Emulator(backend, root / f".venv-{backend}" / "bin", port=free_port())
    emu_proc = emu.start(log_dir / f"{backend}.log")
    worker: subprocess.Popen[bytes] | None = None
    try:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": emu.url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "NAME_PREFIX": f"{name}{uuid.uuid4().hex[:6]}",
            "VISIBILITY_TIMEOUT_S": str(visibility_s),
            "WORKER_WAIT_S": str(wait_s),
            "LOG_LEVEL": "WARNING",
        }
        settings = Settings.from_env(env)
        clients = make_clients(settings)
        bootstrap(settings, clients)
        with (log_dir / "worker.log").open("w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "pipeline", "worker", "--concurrency", str(concurrency)],
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        yield RunningStack(settings, clients, env, emu_proc.pid, worker)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
        stop_process(emu_proc.pid)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
