"""An embedded emulator writes its temporary files to a folder of its own, gone when it stops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.local.emulator import DEFAULT_BACKEND, Emulator, free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]


def test_an_emulator_stopped_leaves_no_temporary_files(tmp_path: Path) -> None:
    if os.environ.get("AWS_ENDPOINT_URL"):
        pytest.skip("the emulator was started outside this test session (AWS_ENDPOINT_URL): no embedded one here")
    # MiniStack unpacked each function's zip into /tmp and left it at every stop (55 folders, 6 GB, a full disk).
    backend = os.environ.get("EMULATOR", DEFAULT_BACKEND)
    emu = Emulator(backend, ROOT / f".venv-{backend}" / "bin", port=free_port())
    proc = emu.start(tmp_path / "emu.log", timeout_s=120)
    try:
        environ = dict(
            entry.split("=", 1) for entry in Path(f"/proc/{proc.pid}/environ").read_text().split("\0") if "=" in entry
        )
        folder = Path(environ["TMPDIR"])
        assert folder == (tmp_path / f"{backend}-{emu.port}.tmp").resolve()
        assert folder.is_dir()
    finally:
        stop_process(proc.pid)
    assert not folder.exists()
