"""`pipeline stop` (what `make down` runs): what it says, what counts as running, and what it leaves behind."""

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


def _sleeper(env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Writes a file where the temporary folder is (as MiniStack unpacks a function's zip), then waits to be stopped.
    code = "import pathlib, tempfile, time; pathlib.Path(tempfile.mkdtemp(prefix='fn-'), 'code.zip').write_bytes(b'x');"
    code += " print('ready', flush=True); time.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env={**os.environ, **env}, stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc


def test_a_stopped_emulator_takes_its_temporary_files_with_it(tmp_path: Path) -> None:
    # MiniStack left each function's unpacked zip (113 MB) in /tmp at every stop: 6 GB in a day, and CI's disk full.
    from pipeline.local.emulator import private_tmp, stop_process

    folder = tmp_path / "ministack-4566.tmp"
    env = private_tmp(folder)
    assert env["TMPDIR"] == str(folder.resolve())
    assert f"-Djava.io.tmpdir={folder.resolve()}" in env["JAVA_TOOL_OPTIONS"]  # DynamoDB Local's native library
    proc = _sleeper(env)
    [unpacked] = folder.glob("fn-*/code.zip")
    assert stop_process(proc.pid, timeout_s=10)
    assert not folder.exists()
    assert not unpacked.exists()


def test_a_fresh_private_folder_drops_what_a_killed_run_left(tmp_path: Path) -> None:
    from pipeline.local.emulator import private_tmp

    folder = tmp_path / "moto-5000.tmp"
    private_tmp(folder)
    (folder / "left-by-a-killed-run").write_bytes(b"x" * 1000)
    private_tmp(folder)
    assert sorted(p.name for p in folder.iterdir()) == [".imgpipe-private-tmp"]


def test_stop_never_removes_a_folder_it_did_not_make(tmp_path: Path) -> None:
    # The variable alone is not enough: a folder without private_tmp's mark (the shared /tmp, say) stays.
    from pipeline.local.emulator import TMP_VAR, stop_process

    shared = tmp_path / "shared"
    shared.mkdir()
    proc = _sleeper({"TMPDIR": str(shared), TMP_VAR: str(shared)})
    assert stop_process(proc.pid, timeout_s=10)
    assert [p.name for p in shared.glob("fn-*")]
