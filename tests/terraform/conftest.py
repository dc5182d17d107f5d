"""One MiniStack and one terraform apply for every terraform test: the drift, zip and permission tests share them."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.local.emulator import Emulator, free_port, stop_process
from tests.terraform.tf import ROOT, cli_config, tflocal_apply


@dataclass(frozen=True)
class Applied:
    """terraform/ applied with tflocal: where (workdir, endpoint), how (CLI config, variables), and its outputs."""

    endpoint: str
    workdir: Path
    cli_config: str
    variables: dict[str, str]
    outputs: dict[str, Any]


def ministack_python() -> str:
    """MAJOR.MINOR of the Python MiniStack runs on (and runs Lambda functions on)."""
    proc = subprocess.run(
        [str(ROOT / ".venv-ministack" / "bin" / "python"), "-c", "import sys; print(*sys.version_info[:2], sep='.')"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def ministack() -> Iterator[str]:
    """A MiniStack of its own: it runs Lambda functions (Python, no Docker), so the deployed zip can run."""
    bin_dir = ROOT / ".venv-ministack" / "bin"
    if not bin_dir.exists():
        pytest.fail("MiniStack is not installed: run `make emulators` (make test does)")
    emu = Emulator("ministack", bin_dir, port=free_port())
    proc = emu.start(ROOT / ".run" / "test-emulator" / f"tf-ministack-{emu.port}.log")
    try:
        yield emu.url
    finally:
        stop_process(proc.pid)


@pytest.fixture(scope="session")
def applied(ministack: str, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    """terraform/ applied once to the MiniStack, with the zip built for the Python the emulator runs functions on."""
    cfg, why = cli_config()
    if cfg is None:
        pytest.skip(f"the terraform tests need terraform and its provider mirror: {why}")
    tmp = tmp_path_factory.mktemp("tf")
    zip_path = tmp / "lambda.zip"
    # The zip for the Python MiniStack runs functions on: 3.12 (the Lambda runtime's) makes it make build's zip.
    build = [sys.executable, str(ROOT / "scripts/build_zip.py"), "--python-version", ministack_python()]
    subprocess.run([*build, "--arch", "x86_64", "--out", str(zip_path)], check=True, capture_output=True, timeout=600)
    variables = {
        "name_prefix": f"tf{uuid.uuid4().hex[:8]}",
        "lambda_zip_path": str(zip_path),
        "lambda_architecture": "x86_64",
        "force_destroy": "true",
        "deletion_protection": "false",
        "cdn_enabled": "true",  # the permission tests then cover the CDN's path too
        "cors_allow_origin": "https://www.example.com",
        "check_account_quotas": "false",  # MiniStack has no Service Quotas
        "max_concurrency": "2",
    }
    workdir = tmp / "work"
    outputs = tflocal_apply(workdir, ministack, cfg, variables)
    return Applied(ministack, workdir, cfg, variables, outputs)
