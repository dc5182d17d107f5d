"""The layering of docs/architecture.md is a lint rule (ruff TID251), not a habit: each forbidden import is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = ROOT / ".venv" / "bin" / "ruff"


def _ruff(path: str, source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUFF), "check", "--select", "TID251", "--stdin-filename", path, "-"],
        input=source,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("pipeline/imaging.py", "import boto3\n"),  # the imaging core never touches AWS
        ("pipeline/domain.py", "from botocore.exceptions import ClientError\n"),
        ("pipeline/process.py", "import boto3\n"),  # only through the adapters
        ("pipeline/handler.py", "from pipeline.local import worker\n"),  # the Lambda path never imports local/
        ("pipeline/handler.py", "from pipeline.e2e import run\n"),
        ("pipeline/api.py", "import pipeline.cli\n"),  # nothing imports the CLI
        ("pipeline/adapters/storage.py", "from pipeline.ops.dlq import peek\n"),
    ],
)
def test_forbidden_imports_are_lint_errors(path: str, source: str) -> None:
    proc = _ruff(path, source)
    assert proc.returncode != 0 and "TID251" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("pipeline/adapters/storage.py", "import boto3\n"),
        ("pipeline/aws.py", "import boto3\n"),
        ("pipeline/cli.py", "from pipeline.local import worker\n"),
        ("pipeline/local/worker.py", "import boto3\n"),
        ("tests/unit/test_x.py", "from pipeline.local import worker\nimport boto3\n"),
    ],
)
def test_allowed_imports_pass(path: str, source: str) -> None:
    proc = _ruff(path, source)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_whole_tree_keeps_the_layering() -> None:
    proc = subprocess.run(
        [str(RUFF), "check", "--select", "TID251,C90", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
