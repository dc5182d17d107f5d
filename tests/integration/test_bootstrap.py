"""Bootstrap creates every resource with the attributes terraform uses, and can run again."""

from __future__ import annotations

import json

from pipeline.local.bootstrap import bootstrap
from pipeline.ops.stack import describe
from tests.conftest import StackFixture


def test_resources_have_the_intended_attributes(session_stack: StackFixture) -> None:
    settings, clients, stack = session_stack
    attrs = clients.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == str(6 * settings.timing.handler_timeout_s)
    assert attrs["MessageRetentionPeriod"] == "86400"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == stack.dlq_arn and int(redrive["maxReceiveCount"]) == 3
    assert json.loads(attrs["Policy"])["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"].endswith(
        settings.names.input_bucket
    )
    dlq = clients.sqs.get_queue_attributes(QueueUrl=stack.dlq_url, AttributeNames=["All"])["Attributes"]
    assert dlq["MessageRetentionPeriod"] == str(14 * 86400)

    notif = clients.s3.get_bucket_notification_configuration(Bucket=settings.names.input_bucket)
    [qc] = notif["QueueConfigurations"]
    assert qc["QueueArn"] == stack.queue_arn and sorted(qc["Events"]) == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert qc["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "uploads/"}] or qc["Filter"]["Key"][
        "FilterRules"
    ] == [{"Name": "Prefix", "Value": "uploads/"}]

    table = clients.dynamodb.describe_table(TableName=settings.names.table_name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "sourceKey", "KeyType": "HASH"}]
    gsis = {g["IndexName"]: g for g in table["GlobalSecondaryIndexes"]}
    assert set(gsis) == {"status-index", "phash-index"}
    gsi = gsis["status-index"]
    assert gsi["KeySchema"][0]["AttributeName"] == "status"
    by_hash = gsis["phash-index"]
    assert [k["AttributeName"] for k in by_hash["KeySchema"]] == ["phash"]
    assert by_hash["Projection"]["ProjectionType"] == "INCLUDE" and by_hash["Projection"]["NonKeyAttributes"] == [
        "createdAt"
    ]
    ttl = clients.dynamodb.describe_time_to_live(TableName=settings.names.table_name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt" and ttl["TimeToLiveStatus"] == "ENABLED"
    assert clients.s3.get_bucket_versioning(Bucket=settings.names.input_bucket)["Status"] == "Enabled"
    alarms = clients.cloudwatch.describe_alarms(AlarmNames=[settings.names.dlq_alarm_name])["MetricAlarms"]
    assert alarms and alarms[0]["AlarmActions"] == [stack.alerts_topic_arn]


def test_bootstrap_is_idempotent(session_stack: StackFixture) -> None:
    settings, clients, stack = session_stack
    again = bootstrap(settings, clients)
    assert again == stack == describe(settings, clients)
    subs = clients.sns.list_subscriptions_by_topic(TopicArn=stack.results_topic_arn)["Subscriptions"]
    assert len(subs) == 1


def test_input_bucket_lets_browsers_post_uploads(session_stack: StackFixture) -> None:
    # LocalStack and AWS enforce S3 CORS: without it the page's presigned POST is blocked by the browser.
    settings, clients, _ = session_stack
    [rule] = clients.s3.get_bucket_cors(Bucket=settings.names.input_bucket)["CORSRules"]
    assert rule["AllowedMethods"] == ["POST"] and set(rule["AllowedOrigins"]) == set(settings.api.cors_allow_origins)
