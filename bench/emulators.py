"""The three embedded emulators side by side: time to ready, and memory once a stack is bootstrapped and used.

    python bench/emulators.py [ministack moto localstack]

Each is started on a free 127.0.0.1 port from its own virtualenv, bootstrapped (LocalStack: by its own init hook,
which `start` waits for), then sent one DynamoDB write (LocalStack starts DynamoDB Local's JVM at the first call);
memory is the resident set of its whole process group.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.aws import make_clients  # noqa: E402
from pipeline.local.bootstrap import bootstrap  # noqa: E402
from pipeline.local.emulator import BACKENDS, Emulator, free_port, stop_process  # noqa: E402
from pipeline.settings import Settings  # noqa: E402


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in a process group, in MiB."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # field 5 of stat: the process group
                status = (stat.parent / "status").read_text()
                total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return total / 1024


def measure(backend: str) -> str:
    """Start, bootstrap, write once, measure, stop: one line of results."""
    emu = Emulator(backend, ROOT / f".venv-{backend}" / "bin", port=free_port())
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = emu.start(Path(tmp) / "emulator.log", timeout_s=120)
        ready_s = time.perf_counter() - started
        try:
            settings = Settings.from_env({"AWS_ENDPOINT_URL": emu.url, "NAME_PREFIX": f"m{backend[:4]}"})
            clients = make_clients(settings)
            bootstrap(settings, clients)
            clients.dynamodb.put_item(TableName=settings.names.table_name, Item={"sourceKey": {"S": "x"}})
            time.sleep(1)
            rss = group_rss_mb(proc.pid)
        finally:
            stop_process(proc.pid)
    return f"{backend:10} ready in {ready_s:5.1f} s   {rss:6.0f} MiB resident after bootstrap and a first write"


def main() -> int:
    """Entry point."""
    for backend in sys.argv[1:] or BACKENDS:
        print(measure(backend))
    return 0


if __name__ == "__main__":
    sys.exit(main())
