"""SQS: receive, delete, count and move messages (the local runner and the CLI use it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pipeline.adapters import CONNECTION_ERRORS, transient

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef


class Queue:
    """One SQS queue, by URL."""

    def __init__(self, client: SQSClient, url: str) -> None:
        self.client = client
        self.url = url

    @classmethod
    def by_name(cls, client: SQSClient, name: str) -> Queue:
        """Look a queue up by name."""
        try:
            return cls(client, client.get_queue_url(QueueName=name)["QueueUrl"])
        except (ClientError, *CONNECTION_ERRORS) as e:
            raise transient(f"sqs get_queue_url {name}", e) from e

    def arn(self) -> str:
        """The queue's ARN."""
        attrs = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def receive(self, *, max_messages: int = 10, wait_s: int = 5) -> list[MessageTypeDef]:
        """Long-poll for up to `max_messages` messages, with every attribute."""
        resp = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(resp.get("Messages", []))

    def delete(self, receipt_handles: Sequence[str]) -> list[str]:
        """Delete messages by receipt handle; returns the handles SQS could not delete."""
        failed: list[str] = []
        for start in range(0, len(receipt_handles), 10):
            chunk = receipt_handles[start : start + 10]
            resp = self.client.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)],
            )
            failed.extend(chunk[int(f["Id"])] for f in resp.get("Failed", []))
        return failed

    def send(self, body: str, *, attributes: dict[str, Any] | None = None) -> str:
        """Send one message; returns its id."""
        resp = self.client.send_message(QueueUrl=self.url, MessageBody=body, MessageAttributes=attributes or {})
        return str(resp["MessageId"])

    def depth(self) -> dict[str, int]:
        """Visible, in-flight and delayed message counts."""
        attrs = self.client.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return {
            "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
        }
