"""The Docker paths, checked statically here (no Docker engine): compose, Dockerfile, init hooks, CI workflow."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.containers import LOCALSTACK_IMAGE, docker_engine_reason

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
WORKFLOW_PATH = ROOT / ".github" / "workflows" / "ci.yml"
WORKFLOW = yaml.safe_load(WORKFLOW_PATH.read_text())
MAKEFILE = (ROOT / "Makefile").read_text()


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("path", ["docker-compose.yml", "docker-compose.lambda.yml"])
def test_compose_files_match_the_compose_spec(path: str) -> None:
    proc = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_matches_the_github_schema() -> None:
    proc = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW_PATH))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_passes_hadolint() -> None:
    proc = run(str(BIN / "hadolint"), "--failure-threshold", "warning", "Dockerfile")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_config_with_the_docker_cli() -> None:
    why = docker_engine_reason()
    if shutil.which("docker") is None or why or run("docker", "compose", "version").returncode != 0:
        pytest.skip(
            f"`docker compose config` needs the compose plugin and an engine here ({why or 'no plugin'}); "
            "the compose-spec schema check above covers the file"
        )
    proc = run("docker", "compose", "--profile", "localstack", "--profile", "tests", "config", "-q")
    assert proc.returncode == 0, proc.stderr


def test_localstack_service_is_pinned_local_healthy_and_bootstraps() -> None:
    ls = COMPOSE["services"]["localstack"]
    image = ls["image"]
    assert image == "${LOCALSTACK_IMAGE:-" + LOCALSTACK_IMAGE + "}" and not image.endswith(":latest}")
    assert ls["ports"] == ["127.0.0.1:4566:4566"]
    assert ls["environment"]["LOCALSTACK_AUTH_TOKEN"] == "${LOCALSTACK_AUTH_TOKEN:-}"
    assert "/_localstack/init/ready" in " ".join(ls["healthcheck"]["test"])
    assert "./localstack/init/ready.d:/etc/localstack/init/ready.d:ro" in ls["volumes"]
    env = (ROOT / "localstack" / "localstack.env").read_text()
    assert "PERSISTENCE=0" in env and re.search(r"^SERVICES=.*sqs.*dynamodb", env, re.M)
    hook = ROOT / "localstack" / "init" / "ready.d" / "10-bootstrap.sh"
    assert hook.stat().st_mode & 0o111 and "pipeline.local.bootstrap" in hook.read_text()


def test_every_port_binds_to_loopback_only() -> None:
    for name, svc in COMPOSE["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_worker_waits_for_the_bootstrap_and_profiles_cover_every_emulator() -> None:
    services = COMPOSE["services"]
    assert {"localstack", "ministack", "moto"} <= set(services)
    worker = services["worker"]
    assert set(worker["profiles"]) == {"localstack", "ministack", "moto"}
    assert worker["depends_on"]["localstack"]["condition"] == "service_healthy"
    assert worker["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    assert services["bootstrap"]["command"] == ["bootstrap"]
    assert services["tests"]["build"]["target"] == "tests"
    for name in ("ministack", "moto"):
        assert ":latest" not in services[name]["image"] and "healthcheck" in services[name]


def test_dockerfile_runs_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    app = text.split("FROM app AS tests")[0]
    assert re.search(r"^USER imgpipe$", app, re.M) and "useradd" in app
    assert text.rstrip().splitlines()[-2].startswith("ENTRYPOINT") or "USER imgpipe" in text.split("AS tests")[1]


def test_workflow_uses_only_make_targets_that_exist_and_pinned_actions() -> None:
    targets = set(re.findall(r"^([a-z0-9-]+):", MAKEFILE, re.M))
    steps = [s for job in WORKFLOW["jobs"].values() for s in job["steps"]]
    used = {m for s in steps for m in re.findall(r"\bmake ([a-z0-9-]+)", s.get("run", ""))}
    assert used and used <= targets, used - targets
    for s in steps:
        if "uses" in s:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", s["uses"]), s["uses"]


def test_make_up_chooses_compose_only_with_docker_or_when_asked() -> None:
    # Without an engine every emulator runs embedded, LocalStack included; with one (DOCKER_OK=yes stands in for
    # `docker info` answering) EMULATOR=localstack is the compose stack.
    embedded = run("make", "-n", "up", "EMULATOR=ministack")
    assert "pipeline emulator start --backend ministack" in embedded.stdout
    embedded_ls = run("make", "-n", "up", "EMULATOR=localstack", "DOCKER_OK=")
    assert "pipeline emulator start --backend localstack" in embedded_ls.stdout and "docker" not in embedded_ls.stdout
    compose = run("make", "-n", "up", "EMULATOR=localstack", "DOCKER_OK=yes")
    assert "docker compose -f docker-compose.yml --profile localstack up -d --build --wait" in compose.stdout
    lam = run("make", "-n", "up", "EMULATOR=localstack", "LAMBDA=1", "DOCKER_OK=yes")
    assert "-f docker-compose.lambda.yml" in lam.stdout and "TF_LOCAL_E2E=0" in lam.stdout
