"""Which failures the adapters call transient: the network's, never a programming or configuration error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
    UnknownServiceError,
)

from pipeline.adapters.records import ImageRecords
from pipeline.adapters.storage import ObjectStore
from pipeline.adapters.topic import Topic
from pipeline.errors import TransientError


class Raising:
    """A client whose every call raises the given error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*_: Any, **__: Any) -> Any:
            raise self.error

        return call


CALLS: dict[str, Callable[[Any], Any]] = {
    "s3 get": lambda c: ObjectStore(c).get("b", "k", max_bytes=10),
    "s3 put": lambda c: ObjectStore(c).put("b", "k", b"x", content_type="image/png", source_key="s"),
    "dynamodb get": lambda c: ImageRecords(c, "t").get("k"),
    "sns publish": lambda c: Topic(c, "arn:aws:sns:us-east-1:1:t").publish({}, subject="s", attributes={}),
}

NETWORK = [
    EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
    ConnectTimeoutError(endpoint_url="https://s3.amazonaws.com"),
    ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
    ConnectionClosedError(endpoint_url="https://s3.amazonaws.com"),
]
MISTAKES = [
    ParamValidationError(report="Invalid type for parameter Key"),
    NoCredentialsError(),
    NoRegionError(),
    UnknownServiceError(service_name="s4", known_service_names="s3"),
]


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("error", NETWORK, ids=lambda e: type(e).__name__)
def test_network_failures_are_transient(call: str, error: Exception) -> None:
    with pytest.raises(TransientError):
        CALLS[call](Raising(error))


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("error", MISTAKES, ids=lambda e: type(e).__name__)
def test_programming_and_configuration_errors_are_not_retried_as_transient(call: str, error: Exception) -> None:
    # Three quiet retries and the DLQ would hide them: they surface as they are (the processor logs them loudly).
    with pytest.raises(type(error)):
        CALLS[call](Raising(error))
