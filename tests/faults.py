"""Fault injection for tests: botocore `before-send` hooks that fail chosen AWS calls the way AWS does."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ConnectionClosedError


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


# What each kind of fault looks like on the wire, per protocol.
_S3_SLOWDOWN = (503, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
_DDB_THROTTLE = (
    400,
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}',
)
_SNS_THROTTLE = (
    400,
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"</ErrorResponse>",
)
_5XX = (500, b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>")


@dataclass
class Rule:
    """Fail `times` calls (None: every call) of an operation whose request matches `match`."""

    event: str
    kind: str
    times: int | None
    match: Callable[[Any], bool] | None = None
    hits: int = 0


@dataclass
class Faults:
    """Rules attached to boto3 clients; thread-safe, because the worker calls from many threads."""

    rules: list[Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> None:
        """Let this injector see every request the client sends."""
        client.meta.events.register_first("before-send", self._hook)

    def add(
        self, event: str, kind: str, *, times: int | None = None, match: Callable[[Any], bool] | None = None
    ) -> Rule:
        """event like 's3.PutObject'; kind: throttle, 5xx or reset."""
        rule = Rule(f"before-send.{event}", kind, times, match)
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Drop every rule: the cause is fixed."""
        with self.lock:
            self.rules.clear()

    def _hook(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        with self.lock:
            rule = next(
                (
                    r
                    for r in self.rules
                    if event_name.startswith(r.event)
                    and (r.times is None or r.hits < r.times)
                    and (r.match is None or r.match(request))
                ),
                None,
            )
            if rule is None:
                return None
            rule.hits += 1
        if rule.kind == "reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        if rule.kind == "5xx":
            status, body = _5XX
        elif event_name.startswith("before-send.s3"):
            status, body = _S3_SLOWDOWN
        elif event_name.startswith("before-send.dynamodb"):
            status, body = _DDB_THROTTLE
        else:
            status, body = _SNS_THROTTLE
        ctype = "application/x-amz-json-1.0" if event_name.startswith("before-send.dynamodb") else "text/xml"
        headers = HTTPHeaders()
        headers["Content-Type"] = ctype
        return AWSResponse(request.url, status, headers, _Raw(body))
