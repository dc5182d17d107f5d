"""Operator tools for the dead-letter queue: look at it, and send its messages back."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pipeline.adapters.queue import MoveNotSupportedError, Queue

log = logging.getLogger(__name__)


def peek(dlq: Queue, *, limit: int = 100) -> list[dict[str, Any]]:
    """Up to `limit` DLQ messages, made visible again at the end so that looking does not consume them.

    Messages stay hidden while we look (their visibility timeout), so each receive brings new ones; releasing
    each batch at once would let the next receive return the same messages and never reach the rest.
    """
    seen: dict[str, dict[str, Any]] = {}
    handles: list[str] = []
    try:
        while len(seen) < limit:
            messages = dlq.receive(max_messages=min(10, limit - len(seen)), wait_s=1)
            if not messages:
                break
            for m in messages:
                handles.append(m["ReceiptHandle"])
                seen.setdefault(
                    m["MessageId"],
                    {
                        "messageId": m["MessageId"],
                        "receiveCount": int(m.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
                        "sentAt": _iso(m.get("Attributes", {}).get("SentTimestamp")),
                        "body": m.get("Body", ""),
                    },
                )
    finally:
        dlq.release(handles)
    return list(seen.values())[:limit]


def _iso(epoch_ms: str | None) -> str | None:
    """SQS's SentTimestamp (epoch milliseconds, as text) as an ISO 8601 UTC time a person can read."""
    if not epoch_ms or not epoch_ms.isdigit():
        return epoch_ms
    return datetime.fromtimestamp(int(epoch_ms) / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def redrive(dlq: Queue, source: Queue, *, max_messages: int = 100_000) -> int:
    """Move every DLQ message back to the source queue; returns how many were moved (-1: SQS does it async)."""
    try:
        dlq.move_to(source)
        log.info("started an SQS message move task")
        return -1
    except MoveNotSupportedError as e:
        log.info("%s; moving by receive/send/delete", e)
    moved = 0
    while moved < max_messages:
        messages = dlq.receive(max_messages=10, wait_s=1)
        if not messages:
            break
        for m in messages:
            source.send(m.get("Body", ""), attributes=dict(m.get("MessageAttributes", {})))
        dlq.delete([m["ReceiptHandle"] for m in messages])
        moved += len(messages)
    return moved
