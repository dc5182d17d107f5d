"""testcontainers: the emulator in a container, when asked (TEST_CONTAINERS=1: the containers leg of make test).

Without TEST_CONTAINERS=1 the tests use the embedded emulator whether or not a Docker engine answers: which path a
run takes never depends on what else the machine has. With it, the image comes from the same resolution as
`make up`'s compose mode (the *_IMAGE variable, upstream's image if here, the `make images` stand-in if here, else
a pull), and a missing engine or image stops the session in one line that says what to do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.local.containers import IMAGES, ContainersError, engine_reason, runnable
from pipeline.local.emulator import BACKENDS, free_port, wait_ready

__all__ = ["ContainersError", "emulator_container", "image_for", "wanted"]

log = logging.getLogger(__name__)

LOCALSTACK_IMAGE = IMAGES["localstack"].upstream
MINISTACK_IMAGE = IMAGES["ministack"].upstream
CONTAINER_BACKENDS = BACKENDS
# LocalStack offline in a container: no DNS server, no certificate download, no analytics; queue URLs on the
# published address (the default host name resolves only online).
LOCALSTACK_ENV = {
    "SERVICES": "s3,sqs,sns,dynamodb,cloudwatch,sts,iam,logs,kms",
    "SQS_ENDPOINT_STRATEGY": "off",
    "DNS_ADDRESS": "0",
    "SKIP_SSL_CERT_DOWNLOAD": "1",
    "DISABLE_EVENTS": "1",
}


def wanted() -> bool:
    """Whether this session runs its emulator in a container (TEST_CONTAINERS=1)."""
    return os.environ.get("TEST_CONTAINERS", "") == "1"


def image_for(backend: str) -> str:
    """The image to run for backend, pulled if need be; ContainersError (one line) when there is none."""
    why = engine_reason()
    if why:
        raise ContainersError(f"TEST_CONTAINERS=1 but {why}: start Docker, or unset TEST_CONTAINERS (embedded)")
    return runnable(backend, os.environ, "unset TEST_CONTAINERS for the embedded emulator", say=log.info)


@contextmanager
def emulator_container(backend: str) -> Iterator[str]:
    """Run backend's image on a network of its own, its port published on 127.0.0.1; yields the endpoint URL."""
    # Ryuk, testcontainers' reaper, is an image of its own that cannot be pulled offline; every container here is
    # stopped by its context manager, and the containers leg checks that nothing is left.
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    if backend not in CONTAINER_BACKENDS:
        raise ContainersError(f"no container for EMULATOR={backend}: choose one of {', '.join(CONTAINER_BACKENDS)}")
    image = image_for(backend)
    port = free_port()
    container = DockerContainer(image)
    if backend == "localstack":
        container = container.with_envs(**LOCALSTACK_ENV, LOCALSTACK_HOST=f"127.0.0.1:{port}")
        token = os.environ.get("LOCALSTACK_AUTH_TOKEN")
        if token:
            container = container.with_env("LOCALSTACK_AUTH_TOKEN", token)
    elif backend == "moto":
        container = container.with_env("MOTO_PORT", "4566")
    # The engine here runs without its default bridge: a network of the test's own, as compose makes one.
    with Network() as network:
        container = container.with_network(network)
        # Published on loopback only (the SDK takes (host, port)); testcontainers' own setter takes a port alone.
        container.ports["4566/tcp"] = ("127.0.0.1", port)  # type: ignore[assignment]
        with container:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, timeout_s=120)
            yield url
