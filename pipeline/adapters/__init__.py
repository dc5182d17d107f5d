"""Adapters: each wraps one AWS service, takes its client in the constructor, and raises our errors."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from pipeline.errors import TransientError

CONNECTION_ERRORS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, BotoCoreError)


def error_code(err: ClientError) -> str:
    """The AWS error code of a ClientError ('' when there is none)."""
    return str(err.response.get("Error", {}).get("Code", ""))


def transient(what: str, err: Exception) -> TransientError:
    """Wrap an AWS or connection error that retrying may fix."""
    code = error_code(err) if isinstance(err, ClientError) else type(err).__name__
    return TransientError(f"{what} failed: {code}: {err}", code=f"aws_{code or 'error'}")
