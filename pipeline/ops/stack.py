"""The names, URLs and ARNs of a running stack, looked up (AWS or an emulator; nothing is created)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from botocore.exceptions import ClientError

from pipeline.aws import Clients
from pipeline.settings import Settings


@dataclass(frozen=True)
class Stack:
    """Names, URLs and ARNs of one running set of resources."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    audit_queue_url: str
    results_topic_arn: str
    alerts_topic_arn: str

    def as_dict(self) -> dict[str, str]:
        """The stack as a plain dict."""
        return dict(self.__dict__)


def describe(settings: Settings, clients: Clients) -> Stack:
    """Look up the running stack's URLs and ARNs (reads only: a missing audit queue stays missing)."""
    sqs = clients.sqs

    def queue(name: str) -> tuple[str, str]:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    queue_url, queue_arn = queue(settings.names.queue_name)
    dlq_url, dlq_arn = queue(settings.names.dlq_name)
    topics = {
        t["TopicArn"].rsplit(":", 1)[-1]: t["TopicArn"]
        for page in clients.sns.get_paginator("list_topics").paginate()
        for t in page.get("Topics", [])
    }
    results_arn = settings.names.results_topic_arn or topics.get(settings.names.results_topic_name, "")
    alerts_arn = settings.names.alerts_topic_arn or topics.get(settings.names.alerts_topic_name, "")
    audit_url = ""
    with contextlib.suppress(ClientError):
        audit_url, _ = queue(settings.names.audit_queue_name)
    return Stack(
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        audit_queue_url=audit_url,
        results_topic_arn=results_arn,
        alerts_topic_arn=alerts_arn,
    )
