"""The Docker paths, checked statically here (no Docker engine): compose, Dockerfile, init hooks, CI workflow."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.local.containers import engine_reason
from tests.containers import LOCALSTACK_IMAGE
from tests.fake_docker import calls, fake_docker

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


@pytest.mark.parametrize(
    "path", ["Dockerfile", *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("containers/*/Dockerfile"))]
)
def test_dockerfiles_pass_hadolint(path: str) -> None:
    proc = run(str(BIN / "hadolint"), "--failure-threshold", "warning", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_config_with_the_docker_cli() -> None:
    why = engine_reason()
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
    assert ls["ports"] == ["127.0.0.1:${PORT:-4566}:4566"]
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
    # The Dockerfile's last stage is the test runner: every other service built from it names the app stage.
    for name in ("bootstrap", "worker", "api"):
        assert services[name]["build"]["target"] == "app", name
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


def test_make_up_chooses_compose_where_an_engine_answers_unless_told() -> None:
    # DOCKER_OK=yes stands in for `docker info` answering; MODE=compose|embedded decides without asking.
    embedded = run("make", "-n", "up", "EMULATOR=localstack", "DOCKER_OK=")
    assert "pipeline emulator start --backend localstack" in embedded.stdout and "docker" not in embedded.stdout
    for emulator in ("ministack", "moto", "localstack"):
        compose = run("make", "-n", "up", f"EMULATOR={emulator}", "DOCKER_OK=yes")
        assert "pipeline.local.containers resolve --profile " + emulator in compose.stdout
        assert f"--env-file .run/compose.env --profile {emulator} up -d --build --wait" in compose.stdout
    forced = run("make", "-n", "up", "EMULATOR=moto", "MODE=embedded", "DOCKER_OK=yes")
    assert "pipeline emulator start --backend moto" in forced.stdout and "compose" not in forced.stdout
    asked = run("make", "-n", "up", "EMULATOR=moto", "MODE=compose", "DOCKER_OK=")
    assert "--profile moto up -d --build --wait" in asked.stdout
    bad = run("make", "-n", "up", "MODE=docker")
    assert bad.returncode != 0 and "choose compose, embedded or auto" in bad.stderr
    lam = run("make", "-n", "up", "EMULATOR=localstack", "LAMBDA=1", "DOCKER_OK=yes")
    assert "-f docker-compose.lambda.yml" in lam.stdout and "TF_LOCAL_E2E=0" in lam.stdout


@pytest.mark.parametrize("run_dir", ["/tmp/imgpipe-abs-run", "rel-run"])
def test_lambda_mode_keeps_its_terraform_state_in_the_run_dir_given(run_dir: str) -> None:
    # RUN_DIR=/abs/path once became <repo>//abs/path/tf-local, and `make up LAMBDA=1` failed after terraform applied.
    lam = run("make", "-n", "up", "MODE=compose", "EMULATOR=ministack", "LAMBDA=1", f"RUN_DIR={run_dir}")
    expected = run_dir if run_dir.startswith("/") else str(ROOT / run_dir)
    assert f"TF_LOCAL_DIR={expected}/tf-local " in lam.stdout, lam.stdout
    assert "up -d --wait ministack" in lam.stdout and "TF_LOCAL_MODE=lambda" in lam.stdout


def test_make_up_on_an_engine_without_images_says_what_to_do(tmp_path: Path) -> None:
    # An engine that answers, holds no image and reaches no registry (tests/fake_docker.py): one line, no compose.
    env = fake_docker(tmp_path / "bin")
    for name in ("PYTHON_IMAGE", "LOCALSTACK_IMAGE", "MINISTACK_IMAGE", "MOTO_IMAGE", "MAKEFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    proc = subprocess.run(
        ["make", "--no-print-directory", "up", "EMULATOR=moto", f"RUN_DIR={tmp_path / 'run'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "docker compose" in proc.stdout.splitlines()[0] and "MODE=embedded" in proc.stdout.splitlines()[0]
    said = [line for line in proc.stderr.splitlines() if line.startswith("make up:")]
    assert len(said) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "is not here and cannot be pulled" in said[0] and "run `make images`" in said[0]
    assert not any("compose" in c for c in calls(tmp_path / "bin"))
