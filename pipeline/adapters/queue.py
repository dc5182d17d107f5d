"""SQS: receive, delete, send, count and move messages (the local worker, the CLI and the operator tools use it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from pipeline.adapters import CONNECTION_ERRORS, error_code, transient
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef


class MoveNotSupportedError(PipelineError):
    """The backend has no SQS message move task (emulators): move by receive, send and delete instead."""

    code = "move_not_supported"


class Queue:
    """One SQS queue, by URL (or by name, looked up at its first use). Every call raises TransientError when SQS or
    the network fails."""

    def __init__(self, client: SQSClient, url: str = "", *, name: str = "") -> None:
        if not (url or name):
            raise ValueError("a queue needs its URL or its name")
        self.client = client
        self._url = url
        self.name = name

    @property
    def url(self) -> str:
        """The queue's URL; looked up by name the first time when only the name was given (never at a cold start)."""
        if not self._url:
            try:
                self._url = self.client.get_queue_url(QueueName=self.name)["QueueUrl"]
            except (ClientError, *CONNECTION_ERRORS) as e:
                raise transient(f"sqs get_queue_url {self.name}", e) from e
        return self._url

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, op)(**kwargs)
        except (ClientError, *CONNECTION_ERRORS) as e:
            raise transient(f"sqs {op}", e) from e

    @classmethod
    def by_name(cls, client: SQSClient, name: str) -> Queue:
        """Look a queue up by name now (a missing queue fails here, not at its first use)."""
        queue = cls(client, name=name)
        _ = queue.url
        return queue

    def arn(self) -> str:
        """The queue's ARN."""
        attrs = self._call("get_queue_attributes", QueueUrl=self.url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def receive(self, *, max_messages: int = 10, wait_s: int = 5) -> list[MessageTypeDef]:
        """Long-poll for up to `max_messages` messages, with every attribute."""
        resp = self._call(
            "receive_message",
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
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
            resp = self._call("delete_message_batch", QueueUrl=self.url, Entries=entries)
            failed.extend(chunk[int(f["Id"])] for f in resp.get("Failed", []))
        return failed

    def release(self, receipt_handles: Sequence[str]) -> None:
        """Make received messages visible again at once (visibility 0): looked at, not consumed."""
        for start in range(0, len(receipt_handles), 10):
            chunk = receipt_handles[start : start + 10]
            entries = [{"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0} for n, h in enumerate(chunk)]
            self._call("change_message_visibility_batch", QueueUrl=self.url, Entries=entries)

    def send(self, body: str, *, attributes: dict[str, Any] | None = None, delay_s: int = 0) -> str:
        """Send one message (visible after delay_s); returns its id."""
        resp = self._call(
            "send_message",
            QueueUrl=self.url,
            MessageBody=body,
            MessageAttributes=attributes or {},
            DelaySeconds=delay_s,
        )
        return str(resp["MessageId"])

    def move_to(self, destination: Queue) -> None:
        """Start SQS's own move of every message to destination; MoveNotSupportedError where there is none."""
        try:
            self.client.start_message_move_task(SourceArn=self.arn(), DestinationArn=destination.arn())
        except ClientError as e:
            # Emulators without StartMessageMoveTask answer InvalidAction, UnsupportedOperation or a 500.
            raise MoveNotSupportedError(f"no message move task here ({error_code(e)})") from e
        except CONNECTION_ERRORS as e:
            raise transient("sqs start_message_move_task", e) from e

    def depth(self) -> dict[str, int]:
        """Visible, in-flight and delayed message counts."""
        attrs = self._call(
            "get_queue_attributes",
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
