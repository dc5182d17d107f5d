"""Logs of the package's loggers: structured JSON (Powertools' formatter) for services, plain lines for people."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

_configured = False


class ContextLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger adapter that adds its context to each call's own `extra` instead of replacing it."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """The call's own extra, on top of the adapter's context."""
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class HumanFormatter(logging.Formatter):
    """One plain line a person reads at a terminal: the message, with the level in front unless it is INFO."""

    def format(self, record: logging.LogRecord) -> str:
        """The message, `warning: ...` style below or above INFO."""
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()}: {text}"


def setup_logging(level: str = "INFO", service: str = "imgpipe", *, human: bool = False) -> None:
    """Send every `pipeline.*` log line to stderr: one JSON object (services), or a plain line (human=True, the
    commands a person runs at a terminal). Idempotent: the first call decides the format."""
    global _configured
    root = logging.getLogger("pipeline")
    root.setLevel(level.upper())
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HumanFormatter() if human else LambdaPowertoolsFormatter(service=service, utc=True))
    root.addHandler(handler)
    # Our handler writes the line; the Lambda runtime's root handler would print the same line again as text.
    root.propagate = False
    _configured = True
