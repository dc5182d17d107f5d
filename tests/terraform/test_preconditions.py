"""The plan-time guards (variable validations, preconditions, `terraform test` assertions) catch what they guard.

`terraform test` (terraform/tests/*.tftest.hcl, offline with a mock provider) proves that bad inputs are refused;
here each guard is taken out of a copy of terraform/ in turn, and `terraform test` must then fail, so a guard
cannot be deleted, or weakened into one that refuses nothing, without `make test` saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.terraform.tf import TF_DIR, cli_config, copy_config

# name: (file, pattern, replacement); every one breaks a real deployment or lets a bad input through.
MUTATIONS = {
    "renditions_move_to_glacier": (
        "storage.tf",
        r'(id     = "expire-renditions"\n(\s*)status = "Enabled"\n\s*filter \{\}\n)',
        r'\1\2transition {\n\2  days          = 90\n\2  storage_class = "GLACIER"\n\2}\n',
    ),
    "renditions_outlive_originals": (
        "storage.tf",
        r"(expire-renditions(?:.|\n)*?days = )var\.retention_days",
        r"\g<1>3650",
    ),
    "items_outlive_originals": ("function.tf", r"tostring\(var\.retention_days\)", "tostring(90)"),
    "visibility_guard_removed": (
        "function.tf",
        r"local\.visibility_s >= 6 \* var\.lambda_timeout_s \+ var\.batching_window_s",
        "true",
    ),
    "reserved_concurrency_guard_removed": (
        "function.tf",
        r"var\.reserved_concurrency == -1 \|\| var\.reserved_concurrency >= var\.max_concurrency",
        "true",
    ),
    "jwt_guard_removed": (
        "api.tf",
        r"var\.jwt_issuer != null && length\(var\.jwt_audience\) > 0",
        "true",
    ),
    "name_prefix_guard_removed": ("variables.tf", r'!startswith\(var\.name_prefix, "xn--"\) && ', ""),
    "table_unprotected": (
        "table.tf",
        r"deletion_protection_enabled = var\.deletion_protection",
        "deletion_protection_enabled = false",
    ),
    "force_destroy_guard_removed": ("storage.tf", r"!\(var\.deletion_protection && var\.force_destroy\)", "true"),
    "renditions_guard_removed": ("variables.tf", r'can\(regex\("\^\[a-z\]\[a-z0-9_-\]\*:[^\n]*, size\)\)', "true"),
    "origin_guard_removed": ("variables.tf", r'can\(regex\("\^https\?://[^\n]*var\.cors_allow_origin\)\)', "true"),
    "signer_header_dropped": ("api.tf", r' "x-amz-content-sha256",', ""),
    "account_quota_guard_removed": (
        "function.tf",
        r"var\.max_concurrency \+ var\.variants_max_concurrency <= local\.concurrency_ceiling",
        "true",
    ),
    "unreserved_100_guard_removed": (
        "function.tf",
        r"var\.reserved_concurrency <= local\.concurrency_ceiling - 100",
        "true",
    ),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    cfg, why = cli_config()
    if cfg is None:
        pytest.skip(f"terraform test needs terraform and its provider mirror: {why}")
    work = tmp_path_factory.mktemp("tftest")
    copy_config(TF_DIR, work)
    shutil.copytree(TF_DIR / "tests", work / "tests")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": cfg}
    subprocess.run(
        ["terraform", "init", "-backend=false", "-input=false", "-no-color"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return work, env


def _terraform_test(work: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The guards' own runs: half the time of every file (variables.tftest.hcl's bounds run in make tf-check and in
    # the mutation tool), once a mutation.
    return subprocess.run(
        ["terraform", "test", "-no-color", "-filter=tests/preconditions.tftest.hcl"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_terraform_test_passes_on_the_configuration(workdir: tuple[Path, dict[str, str]]) -> None:
    proc = _terraform_test(*workdir)
    assert proc.returncode == 0 and "0 failed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_guard_removed_fails_terraform_test(name: str, workdir: tuple[Path, dict[str, str]]) -> None:
    work, env = workdir
    file, pattern, replacement = MUTATIONS[name]
    path = work / file
    original = path.read_text()
    mutated, n = re.subn(pattern, replacement, original, count=1)
    assert n == 1, f"the mutation {name} no longer applies to {file}: update it with the code"
    path.write_text(mutated)
    try:
        proc = _terraform_test(work, env)
    finally:
        path.write_text(original)
    assert proc.returncode != 0, f"{name} was not caught by terraform test:\n{proc.stdout[-2000:]}"
