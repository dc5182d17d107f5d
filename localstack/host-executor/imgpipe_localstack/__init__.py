"""LocalStack's Lambda without Docker: a function version is prepared (it becomes Active, as terraform waits for)
but can never run. Chosen with LAMBDA_RUNTIME_EXECUTOR=imgpipe-host; the local worker consumes the queue instead.
"""

from __future__ import annotations

from typing import Any

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor

REFUSAL = (
    "LocalStack runs here without Docker and cannot run Lambda functions; "
    "the imgpipe worker consumes the queue in their place (make tf-local does this)"
)


class HostExecutor(RuntimeExecutor):
    """Deploys nothing and runs nothing: every start says why."""

    def start(self, env_vars: dict[str, str]) -> None:
        raise RuntimeError(REFUSAL)

    def stop(self) -> None:
        return None

    def get_address(self) -> str:
        raise RuntimeError(REFUSAL)

    def get_endpoint_from_executor(self) -> str:
        raise RuntimeError(REFUSAL)

    def get_runtime_endpoint(self) -> str:
        raise RuntimeError(REFUSAL)

    def invoke(self, payload: dict[str, str]) -> Any:
        raise RuntimeError(REFUSAL)

    def get_logs(self) -> str:
        return REFUSAL

    @classmethod
    def prepare_version(cls, function_version: Any) -> None:
        return None

    @classmethod
    def cleanup_version(cls, function_version: Any) -> None:
        return None

    @classmethod
    def validate_environment(cls) -> bool:
        return True


class HostExecutorPlugin(RuntimeExecutorPlugin):
    """The plugin LocalStack finds by name."""

    name = "imgpipe-host"

    def load(self, *args: Any, **kwargs: Any) -> type[RuntimeExecutor]:
        return HostExecutor
