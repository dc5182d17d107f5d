"""SNS: publish results and alerts."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pipeline.adapters import CONNECTION_ERRORS, transient

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

_SUBJECT_UNSAFE = re.compile(r"[^\x20-\x7e]")


def safe_subject(text: str) -> str:
    """An SNS Subject that is always valid: printable ASCII, no line breaks, under 100 characters."""
    cleaned = _SUBJECT_UNSAFE.sub("?", text).strip() or "imgpipe"
    return cleaned[:99]


class Topic:
    """Publish JSON messages with filterable attributes to one topic."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def publish(self, message: dict[str, Any], *, subject: str, attributes: dict[str, str]) -> str:
        """Publish one message; returns its message id, raises TransientError when SNS fails."""
        try:
            resp = self.client.publish(
                TopicArn=self.topic_arn,
                Message=json.dumps(message, ensure_ascii=False, sort_keys=True),
                Subject=safe_subject(subject),
                MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v},
            )
        except (ClientError, *CONNECTION_ERRORS) as e:
            raise transient("sns publish", e) from e
        return str(resp["MessageId"])
