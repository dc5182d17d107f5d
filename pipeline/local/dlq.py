"""Operator tools for the dead-letter queue: look at it, and send its messages back."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.queue import Queue

log = logging.getLogger(__name__)


def peek(dlq: Queue, *, limit: int = 100) -> list[dict[str, Any]]:
    """Up to `limit` DLQ messages, made visible again at once so that looking does not consume them."""
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(max(1, limit // 10 + 2)):
        messages = dlq.receive(max_messages=10, wait_s=1)
        if not messages:
            break
        for m in messages:
            seen.setdefault(
                m["MessageId"],
                {
                    "messageId": m["MessageId"],
                    "receiveCount": int(m.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
                    "sentAt": m.get("Attributes", {}).get("SentTimestamp"),
                    "body": m.get("Body", ""),
                },
            )
        dlq.client.change_message_visibility_batch(
            QueueUrl=dlq.url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages)
            ],
        )
        if len(seen) >= limit:
            break
    return list(seen.values())[:limit]


def redrive(dlq: Queue, source: Queue, *, max_messages: int = 100_000) -> int:
    """Move every DLQ message back to the source queue; returns how many were moved (-1: SQS does it async)."""
    try:
        dlq.client.start_message_move_task(SourceArn=dlq.arn(), DestinationArn=source.arn())
        log.info("started an SQS message move task")
        return -1
    except ClientError as e:
        # Emulators without StartMessageMoveTask answer InvalidAction, UnsupportedOperation or a 500.
        log.info(
            "no message move task here (%s); moving by receive/send/delete", e.response.get("Error", {}).get("Code")
        )
    moved = 0
    while moved < max_messages:
        messages = dlq.receive(max_messages=10, wait_s=1)
        if not messages:
            break
        for m in messages:
            source.client.send_message(
                QueueUrl=source.url,
                MessageBody=m.get("Body", ""),
                MessageAttributes=m.get("MessageAttributes", {}),
            )
        dlq.delete([m["ReceiptHandle"] for m in messages])
        moved += len(messages)
    return moved
