"""Shared fixtures: markers by folder, the emulator endpoint, and fresh stacks with unique names."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.aws import Clients, make_clients
from pipeline.local.bootstrap import bootstrap
from pipeline.ops.stack import Stack
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# What the fresh_stack and session_stack fixtures give a test.
StackFixture = tuple[Settings, Clients, Stack]
log = logging.getLogger(__name__)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the folder it lives in."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in ("unit", "integration", "e2e", "static", "terraform"):
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """An AWS emulator endpoint: AWS_ENDPOINT_URL if set; with TEST_CONTAINERS=1 the emulator in a container
    (tests/containers.py); otherwise the embedded one (EMULATOR=ministack|moto|localstack) on a free 127.0.0.1 port,
    whether or not a Docker engine answers."""
    given = os.environ.get("AWS_ENDPOINT_URL")
    if given:
        yield given
        return
    from pipeline.local.emulator import DEFAULT_BACKEND
    from tests import containers

    backend = os.environ.get("EMULATOR", DEFAULT_BACKEND)

    if containers.wanted():
        try:
            with containers.emulator_container(backend) as url:
                yield url
        except containers.ContainersError as err:
            pytest.exit(f"containers: {err}", returncode=2)
        return
    from pipeline.local.emulator import Emulator, free_port, stop_process

    bin_dir = Path(os.environ.get("EMULATOR_BIN_DIR", ROOT / f".venv-{backend}" / "bin"))
    if not bin_dir.exists():
        pytest.fail(f"the {backend} emulator is not installed in {bin_dir}: run `make emulators` (make test does)")
    log_dir = ROOT / ".run" / "test-emulator"
    emu = Emulator(backend, bin_dir, port=free_port())
    proc = emu.start(log_dir / f"{backend}-{emu.port}.log", timeout_s=60)
    try:
        yield emu.url
    finally:
        stop_process(proc.pid)


def interruptible(cmd: list[str], *, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start a command a test will press Ctrl-C on: from the repository root, output piped as text, in its own
    session, SIGINT handled as at a terminal whatever this process inherited.

    (A suite started in the background by a shell without job control inherits SIGINT ignored, and Python then
    never raises KeyboardInterrupt: the Ctrl-C tests waited out their timeouts.)
    """
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def run(cmd: list[str], *, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a command from the repository root, output captured as text; the caller checks the exit code."""
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


# The integration and e2e tests count one notification per image and check every format in line: they run
# with WebP only, nothing deferred (the processes they start inherit it too). The deferred AVIF path has tests of
# its own (tests/e2e/test_deferred.py, the Lambda handler's), and `make e2e` (test_make_flow) runs the defaults.
TEST_FORMATS = {"FORMATS": "fallback,webp", "DEFER_FORMATS": ""}


def make_settings(endpoint: str, **changes: object) -> Settings:
    """Settings for a fresh stack with names nobody else uses."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "NAME_PREFIX": prefix,
        "LOG_LEVEL": "WARNING",
        **TEST_FORMATS,
    }
    return Settings.from_env(env).with_(**changes)


@pytest.fixture(scope="session", autouse=True)
def _aws_credentials() -> None:
    # Never let a test reach a real account: emulator placeholders only.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name, value in TEST_FORMATS.items():
        os.environ.setdefault(name, value)


@pytest.fixture(scope="session")
def session_stack(endpoint: str) -> tuple[Settings, Clients, Stack]:
    """One bootstrapped stack shared by the integration tests of a session."""
    settings = make_settings(endpoint)
    clients = make_clients(settings, max_attempts=2)
    return settings, clients, bootstrap(settings, clients)


@pytest.fixture
def fresh_stack(endpoint: str, request: pytest.FixtureRequest) -> tuple[Settings, Clients, Stack]:
    """A stack of its own for one test, with short timeouts (visibility 2 s) so retries happen quickly."""
    marker = request.node.get_closest_marker("stack")
    changes: dict[str, object] = {
        "visibility_timeout_s": 2,
        "handler_timeout_s": 20,
        "worker_wait_s": 1,
        "alarm_interval_s": 1,
        "worker_concurrency": 2,
    }
    if marker:
        changes.update(marker.kwargs)
    settings = make_settings(endpoint, **changes)
    clients = make_clients(settings, max_attempts=2)
    stack = bootstrap(settings, clients)
    settings = settings.with_(results_topic_arn=stack.results_topic_arn, alerts_topic_arn=stack.alerts_topic_arn)
    return settings, clients, stack
