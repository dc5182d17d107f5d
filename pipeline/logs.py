"""Structured JSON logs (Powertools' formatter) for the package's loggers."""

from __future__ import annotations

import logging
import sys

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

_configured = False


def setup_logging(level: str = "INFO", service: str = "imgpipe") -> None:
    """Send every `pipeline.*` log line to stderr as one JSON object (idempotent)."""
    global _configured
    root = logging.getLogger("pipeline")
    root.setLevel(level.upper())
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LambdaPowertoolsFormatter(service=service, utc=True))
    root.addHandler(handler)
    # Our handler writes JSON; the Lambda runtime's root handler would print the same line again as text.
    root.propagate = False
    _configured = True
