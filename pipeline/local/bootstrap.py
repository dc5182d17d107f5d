"""Create every resource the pipeline needs, idempotently, with the attributes terraform gives them."""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters import error_code
from pipeline.aws import Clients
from pipeline.ops.stack import Stack
from pipeline.settings import Settings

log = logging.getLogger(__name__)

DLQ_RETENTION_S = 14 * 86400
QUEUE_RETENTION_S = 86400
LONG_POLL_S = 20


def queue_attributes(settings: Settings, dlq_arn: str) -> dict[str, str]:
    """The job queue's attributes: the same numbers terraform's sqs.tf sets."""
    return {
        "VisibilityTimeout": str(settings.timing.queue_visibility_timeout_s),
        "MessageRetentionPeriod": str(QUEUE_RETENTION_S),
        "ReceiveMessageWaitTimeSeconds": str(LONG_POLL_S),
        "SqsManagedSseEnabled": "true",
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.timing.max_receive_count}
        ),
    }


def dlq_attributes() -> dict[str, str]:
    """The dead-letter queue's attributes."""
    return {"MessageRetentionPeriod": str(DLQ_RETENTION_S), "SqsManagedSseEnabled": "true"}


def _queue(clients: Clients, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    sqs = clients.sqs
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
    except ClientError as e:
        if error_code(e) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _bucket(clients: Clients, settings: Settings, name: str, *, versioned: bool) -> None:
    s3 = clients.s3
    try:
        kwargs: dict[str, Any] = {"Bucket": name}
        if settings.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
        s3.create_bucket(**kwargs)
    except ClientError as e:
        if error_code(e) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    # Originals are versioned (events name a version); renditions are derived data and are not.
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled" if versioned else "Suspended"})


def _send_policy(queue_arn: str, sid: str, service: str, source_arn: str) -> str:
    """A queue policy: one AWS service may send to the queue, and only on behalf of one source."""
    statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def queue_policy(queue_arn: str, bucket: str) -> str:
    """Only the input bucket may send to the job queue."""
    return _send_policy(queue_arn, "AllowInputBucket", "s3.amazonaws.com", f"arn:aws:s3:::{bucket}")


def _sns_queue_policy(queue_arn: str, topic_arn: str) -> str:
    return _send_policy(queue_arn, "AllowResultsTopic", "sns.amazonaws.com", topic_arn)


def ensure_audit_queue(settings: Settings, clients: Clients, results_topic_arn: str) -> str:
    """An SQS queue subscribed to the results topic, so checks can read every notification (local only)."""
    url, arn = _queue(clients, settings.names.audit_queue_name, {"SqsManagedSseEnabled": "true"})
    clients.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": _sns_queue_policy(arn, results_topic_arn)})
    existing = clients.sns.list_subscriptions_by_topic(TopicArn=results_topic_arn).get("Subscriptions", [])
    if not any(s.get("Endpoint") == arn for s in existing):
        clients.sns.subscribe(TopicArn=results_topic_arn, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True)
    return url


def table_definition(settings: Settings) -> dict[str, Any]:
    """The image table: key on the source key, a status index, on-demand billing."""
    return {
        "TableName": settings.names.table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "sourceKey", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
            {"AttributeName": "updatedAt", "AttributeType": "S"},
            {"AttributeName": "phash", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "sourceKey", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": settings.names.status_index,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "updatedAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": settings.names.phash_index,
                "KeySchema": [{"AttributeName": "phash", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["createdAt"]},
            },
        ],
        "SSESpecification": {"Enabled": True},
    }


def _table(clients: Clients, settings: Settings) -> None:
    ddb = clients.dynamodb
    try:
        ddb.create_table(**table_definition(settings))
        ddb.get_waiter("table_exists").wait(
            TableName=settings.names.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    except ClientError as e:
        if error_code(e) != "ResourceInUseException":
            raise
    ttl = ddb.describe_time_to_live(TableName=settings.names.table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(
            TableName=settings.names.table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
        )
    try:
        ddb.update_continuous_backups(
            TableName=settings.names.table_name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    except ClientError as e:  # Not every emulator has point-in-time recovery; AWS does (terraform sets it).
        log.info("point-in-time recovery not set: %s", error_code(e))


def bootstrap(settings: Settings, clients: Clients) -> Stack:
    """Create or update every resource; safe to run again at any time."""
    sqs, sns = clients.sqs, clients.sns
    _bucket(clients, settings, settings.names.input_bucket, versioned=True)
    _bucket(clients, settings, settings.names.output_bucket, versioned=False)
    # Browsers POST uploads straight to the input bucket (as terraform's aws_s3_bucket_cors_configuration allows).
    # MiniStack and moto ignore CORS; LocalStack and AWS enforce it, so without this the page cannot upload.
    clients.s3.put_bucket_cors(
        Bucket=settings.names.input_bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["POST"],
                    "AllowedOrigins": list(settings.api.cors_allow_origins),
                    "AllowedHeaders": ["*"],
                    "MaxAgeSeconds": 300,
                }
            ]
        },
    )

    dlq_url, dlq_arn = _queue(clients, settings.names.dlq_name, dlq_attributes())
    queue_url, queue_arn = _queue(clients, settings.names.queue_name, queue_attributes(settings, dlq_arn))
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": queue_policy(queue_arn, settings.names.input_bucket)}
    )
    # The deferred variants (AVIF): the same visibility and DLQ, sent to by the function alone (no policy).
    _queue(clients, settings.names.variants_queue_name, queue_attributes(settings, dlq_arn))

    _table(clients, settings)

    results_arn = sns.create_topic(Name=settings.names.results_topic_name)["TopicArn"]
    alerts_arn = sns.create_topic(Name=settings.names.alerts_topic_name)["TopicArn"]
    audit_url = ensure_audit_queue(settings, clients, results_arn)

    clients.s3.put_bucket_notification_configuration(
        Bucket=settings.names.input_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "images-to-queue",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": settings.names.input_prefix}]}},
                }
            ]
        },
    )

    clients.cloudwatch.put_metric_alarm(
        AlarmName=settings.names.dlq_alarm_name,
        AlarmDescription="Jobs are failing repeatedly and landing in the dead-letter queue",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": settings.names.dlq_name}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[alerts_arn],
        OKActions=[alerts_arn],
    )
    stack = Stack(queue_url, queue_arn, dlq_url, dlq_arn, audit_url, results_arn, alerts_arn)
    log.info("bootstrapped", extra={"stack": stack.as_dict()})
    return stack


def main() -> int:
    """Bootstrap from the environment with plain logging (what LocalStack's init hook runs)."""
    from pipeline.aws import make_clients

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    stack = bootstrap(settings, make_clients(settings))
    log.info("stack: %s", json.dumps(stack.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
