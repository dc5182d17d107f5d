"""Reading terraform/ with python-hcl2, and running terraform / tflocal for tests."""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
# The mutation tool (tests/terraform/mutate.py) points the static tests at its mutated copy.
TF_DIR = Path(os.environ.get("IMGPIPE_TF_DIR") or ROOT / "terraform")


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string quotes (and ${} around expressions); take them off, recursively."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        return value
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


FUNCTION_MODULE = TF_DIR / "modules" / "function"


def load(name: str, directory: Path = TF_DIR) -> dict[str, Any]:
    """One .tf file as plain data (parsed once per content: python-hcl2 takes about 0.2 s a file)."""
    return copy.deepcopy(_parsed((directory / name).read_text()))


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> dict[str, Any]:
    return unquote(hcl2.loads(text))  # type: ignore[no-any-return]


def blocks(kind: str, directory: Path = TF_DIR) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every block of a kind across a module's *.tf: ('aws_x', 'name') -> body (variables/outputs/modules: (name,))."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for entry in load(path.name, directory).get(kind, []):
            for k1, v1 in entry.items():
                if kind in ("resource", "data"):
                    for k2, body in v1.items():
                        out[(k1, k2)] = body
                else:
                    out[(k1,)] = v1
    return out


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy document's statements, the dynamic ones' content included."""
    dynamic = [d["statement"]["content"][0] for d in doc.get("dynamic", []) if "statement" in d]
    return [*doc.get("statement", []), *dynamic]


def cli_config() -> tuple[str | None, str]:
    """(TF_CLI_CONFIG_FILE, '') when terraform and the provider mirror are here, else (None, why not)."""
    if shutil.which("terraform") is None:
        return None, "terraform is not installed"
    proc = subprocess.run(
        [str(ROOT / "scripts" / "tf-cli-config.sh"), str(ROOT / ".tfcli" / "terraformrc")],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None, proc.stderr.strip()
    return proc.stdout.strip(), ""


def _tflocal_env(endpoint: str, cli_cfg: str) -> dict[str, str]:
    return {
        **os.environ,
        "TF_CLI_CONFIG_FILE": cli_cfg,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "S3_HOSTNAME": "127.0.0.1",
        "DISABLE_DEPRECATION_NOTICE": "1",
    }


def _tflocal(workdir: Path, env: dict[str, str], args: list[str], timeout: float) -> None:
    tflocal = str(ROOT / ".venv" / "bin" / "tflocal")
    proc = subprocess.run(
        [tflocal, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"tflocal {args[0]} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")


def copy_config(source: Path, workdir: Path) -> None:
    """The configuration terraform reads: the *.tf files, the lock, and the folders they name (modules, cdn)."""
    for f in [*source.glob("*.tf"), source / ".terraform.lock.hcl"]:
        shutil.copy(f, workdir / f.name)
    for folder in ("modules", "cdn"):
        if (source / folder).is_dir():  # an older configuration (test_upgrade's) may have no cdn folder
            shutil.rmtree(workdir / folder, ignore_errors=True)
            shutil.copytree(source / folder, workdir / folder)


def tflocal_apply(
    workdir: Path,
    endpoint: str,
    cli_cfg: str,
    variables: dict[str, str],
    timeout: float = 600,
    *,
    source: Path = TF_DIR,
) -> dict[str, Any]:
    """Copy terraform/ (or source) to workdir, `tflocal init && tflocal apply` it to the emulator; the outputs."""
    workdir.mkdir(parents=True, exist_ok=True)
    if source != workdir:
        copy_config(source, workdir)
    env = _tflocal_env(endpoint, cli_cfg)
    args = [f"-var={k}={v}" for k, v in variables.items()]
    _tflocal(workdir, env, ["init", "-input=false", "-no-color"], timeout)
    _tflocal(workdir, env, ["apply", "-auto-approve", "-input=false", "-no-color", *args], timeout)
    out = subprocess.run(
        ["terraform", "output", "-json"], cwd=workdir, env=env, capture_output=True, text=True, check=True
    )
    return {k: v["value"] for k, v in json.loads(out.stdout).items()}


def tflocal_plan(
    workdir: Path, endpoint: str, cli_cfg: str, variables: dict[str, str], timeout: float = 300
) -> dict[str, Any]:
    """`terraform show -json` of a plan of workdir's configuration against its applied state (nothing applied)."""
    env = _tflocal_env(endpoint, cli_cfg)
    args = [f"-var={k}={v}" for k, v in variables.items()]
    _tflocal(
        workdir,
        env,
        ["plan", "-refresh=false", "-input=false", "-no-color", "-lock=false", "-out=tfplan", *args],
        timeout,
    )
    out = subprocess.run(
        ["terraform", "show", "-json", "tfplan"], cwd=workdir, env=env, capture_output=True, text=True, check=True
    )
    plan: dict[str, Any] = json.loads(out.stdout)
    return plan


def tflocal_reapply(
    workdir: Path, endpoint: str, cli_cfg: str, variables: dict[str, str], timeout: float = 300
) -> dict[str, Any]:
    """Apply workdir's (changed) configuration over its state, refreshing nothing; `terraform show -json` after."""
    env = _tflocal_env(endpoint, cli_cfg)
    args = [f"-var={k}={v}" for k, v in variables.items()]
    _tflocal(workdir, env, ["apply", "-auto-approve", "-refresh=false", "-input=false", "-no-color", *args], timeout)
    out = subprocess.run(
        ["terraform", "show", "-json"], cwd=workdir, env=env, capture_output=True, text=True, check=True
    )
    state: dict[str, Any] = json.loads(out.stdout)
    return state
