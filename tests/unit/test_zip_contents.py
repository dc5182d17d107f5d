"""The Lambda zip carries the Lambda path and nothing else of ours: no local tools, operator tools, e2e or CLI."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _package_files() -> set[str]:
    spec = importlib.util.spec_from_file_location("build_zip", ROOT / "scripts" / "build_zip.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name for _, name in module.package_files()}


def test_the_zip_keeps_out_what_lambda_never_runs() -> None:
    names = _package_files()
    assert not {n for n in names if n.startswith(("pipeline/local/", "pipeline/ops/"))}
    assert not names & {"pipeline/cli.py", "pipeline/__main__.py", "pipeline/e2e.py"}
    # and carries all the Lambda path needs
    needed = {
        "pipeline/handler.py",
        "pipeline/api.py",
        "pipeline/wiring.py",
        "pipeline/process.py",
        "pipeline/domain.py",
    }
    assert needed | {"pipeline/imaging.py", "pipeline/ports.py", "pipeline/adapters/storage.py"} <= names


def test_the_lambda_entry_points_import_nothing_the_zip_leaves_out() -> None:
    probe = (
        "import sys, pipeline.handler, pipeline.api\n"
        "bad = [m for m in sys.modules if m.startswith(('pipeline.local', 'pipeline.ops')) "
        "or m in ('pipeline.cli', 'pipeline.e2e')]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
