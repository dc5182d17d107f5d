"""Upgrading a deployed stack to this configuration destroys nothing: a refactor moves state, never remakes it."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.terraform.conftest import Applied
from tests.terraform.tf import ROOT, TF_DIR, copy_config, tflocal_apply, tflocal_plan

# The configuration a deployment may be running: the last one that landed before terraform/ was restructured.
# (Move it forward when a release ships; a restructuring after it must plan no destroy from it.)
DEPLOYED = "f713c66"


def _checkout(rev: str, into: Path) -> Path:
    """terraform/ as it was at rev, unpacked into a folder of its own."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "terraform"], cwd=ROOT, capture_output=True, timeout=60, check=False
    )
    if archive.returncode != 0:
        pytest.fail(f"git archive {rev} failed (a shallow clone? the test needs the history): {archive.stderr!r}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "terraform"


def test_upgrading_from_the_deployed_configuration_destroys_nothing(applied: Applied, tmp_path: Path) -> None:
    # GIVEN the stack as the deployed configuration made it (the queues and buckets' settings one resource each)
    old = _checkout(DEPLOYED, tmp_path / "old")
    variables = {**applied.variables, "name_prefix": applied.variables["name_prefix"][:6] + "up"}
    workdir = tmp_path / "work"
    tflocal_apply(workdir, applied.endpoint, applied.cli_config, variables, source=old)
    # WHEN this configuration is planned over its state
    for f in workdir.glob("*.tf"):
        f.unlink()
    copy_config(TF_DIR, workdir)
    plan = tflocal_plan(workdir, applied.endpoint, applied.cli_config, variables)
    # THEN nothing is destroyed or replaced (a queue made again loses its messages, a bucket its objects)
    changes = plan["resource_changes"]
    destroyed = [c["address"] for c in changes if "delete" in c["change"]["actions"]]
    assert destroyed == []
    # and what was restructured is moved, not made again
    moved = {c["previous_address"]: c["address"] for c in changes if c.get("previous_address")}
    assert moved.get("aws_sqs_queue.variants") == 'aws_sqs_queue.this["variants"]', moved
