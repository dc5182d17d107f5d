"""The upload API's Lambda entry point (`pipeline.api.handler`): wired once per container, then one call per event."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pipeline.http_api import Api, HttpResponse
from pipeline.wiring import build_api, from_environment


@lru_cache(maxsize=1)
def _api() -> Api:
    return build_api(from_environment())


def handler(event: dict[str, Any], context: Any) -> HttpResponse:
    """AWS Lambda entry point for the HTTP API."""
    return _api().handle(event)  # type: ignore[arg-type]
