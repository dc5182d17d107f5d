"""testcontainers: an emulator in a container, for machines with a Docker engine."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# The last LocalStack image that runs without an account (newer ones need LOCALSTACK_AUTH_TOKEN).
LOCALSTACK_IMAGE = "localstack/localstack:4.14.0"
MINISTACK_IMAGE = "ministackorg/ministack:1.5.33"


def docker_engine_reason() -> str:
    """'' when a Docker engine answers, else why not (fast: a 2 s ping, DockerException caught)."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as e:  # testcontainers brings the docker SDK; without it there is no container path
        return f"docker SDK not installed: {e}"
    try:
        docker.from_env(timeout=2).ping()
    except DockerException as e:
        return f"no Docker engine: {e}"
    except Exception as e:  # a half-configured DOCKER_HOST raises plain connection errors too
        return f"no Docker engine: {type(e).__name__}: {e}"
    return ""


@contextmanager
def emulator_container(backend: str) -> Iterator[str]:
    """Start a pinned LocalStack (or MiniStack) container; yields its endpoint URL and stops it after."""
    if backend == "ministack":
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        container = DockerContainer(os.environ.get("MINISTACK_IMAGE", MINISTACK_IMAGE)).with_exposed_ports(4566)
        with container:
            wait_for_logs(container, "Running on", timeout=60)
            yield f"http://{container.get_container_host_ip()}:{container.get_exposed_port(4566)}"
        return
    from testcontainers.localstack import LocalStackContainer

    image = os.environ.get("LOCALSTACK_IMAGE", LOCALSTACK_IMAGE)
    container = LocalStackContainer(image=image).with_services("s3", "sqs", "sns", "dynamodb", "cloudwatch", "sts")
    token = os.environ.get("LOCALSTACK_AUTH_TOKEN")
    if token:
        container = container.with_env("LOCALSTACK_AUTH_TOKEN", token)
    with container:
        yield container.get_url()
