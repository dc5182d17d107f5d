"""Adapters: each wraps one AWS service, takes its client in the constructor, and raises our errors."""

from __future__ import annotations

from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

from pipeline.errors import TransientError

# The network failing (no connection, timeouts, a connection or a body cut short): retrying may help. Not all
# of botocore's errors: ParamValidationError, NoCredentialsError, NoRegionError and the like are programming or
# configuration errors, which no retry fixes; they surface as unexpected errors, logged with their traceback.
CONNECTION_ERRORS = (BotoConnectionError, HTTPClientError, IncompleteReadError)


def error_code(err: ClientError) -> str:
    """The AWS error code of a ClientError ('' when there is none)."""
    return str(err.response.get("Error", {}).get("Code", ""))


def transient(what: str, err: Exception) -> TransientError:
    """Wrap an AWS or connection error that retrying may fix."""
    code = error_code(err) if isinstance(err, ClientError) else type(err).__name__
    return TransientError(f"{what} failed: {code}: {err}", code=f"aws_{code or 'error'}")
