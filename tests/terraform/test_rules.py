"""What terraform/ must say, by rule rather than by copy: private buckets, alarms that fire at the first failure,
a function told the names of the resources it uses, a table the code can read. The mutation tool
(tests/terraform/mutate.py) found each of these unpinned: a flag flipped or an argument dropped passed every check.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline import http_api, metrics, settings
from pipeline.adapters import records
from pipeline.settings import parse_formats, parse_renditions
from tests.terraform.tf import FUNCTION_MODULE, blocks, statements


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for (k, name), body in blocks("resource").items() if k == kind}


def _one(body: dict[str, Any], key: str) -> Any:
    """A nested block python-hcl2 gives as a list of one."""
    value = body[key]
    assert isinstance(value, list) and len(value) == 1, key
    return value[0]


def test_every_bucket_is_private_encrypted_and_versioned_as_decided() -> None:
    buckets = blocks("locals")[("buckets",)]
    assert set(buckets) == {"input", "output", "artifacts"}
    # the inputs and the artifacts can be rolled back; renditions are derived (docs/architecture.md)
    assert {k: v["versioning"] for k, v in buckets.items()} == {
        "input": "Enabled",
        "output": "Suspended",
        "artifacts": "Enabled",
    }
    for kind in ("public_access_block", "server_side_encryption_configuration", "versioning", "policy"):
        body = _resources(f"aws_s3_bucket_{kind}")["this"]
        assert body["for_each"] == "${local.buckets}" and body["bucket"] == "${each.value.bucket.id}", kind
    pab = _resources("aws_s3_bucket_public_access_block")["this"]
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    assert all(pab.get(flag) is True for flag in flags), pab
    sse = _one(_one(_resources("aws_s3_bucket_server_side_encryption_configuration")["this"], "rule"),
               "apply_server_side_encryption_by_default")  # fmt: skip
    assert sse == {"sse_algorithm": "AES256"}
    versioning = _one(_resources("aws_s3_bucket_versioning")["this"], "versioning_configuration")
    assert versioning == {"status": "${each.value.versioning}"}
    policy = _resources("aws_s3_bucket_policy")["this"]
    assert policy["policy"] == "${data.aws_iam_policy_document.bucket[each.key].json}"
    assert policy["depends_on"] == ["${aws_s3_bucket_public_access_block.this}"]


def test_every_bucket_refuses_plain_http_on_itself_and_its_objects() -> None:
    doc = blocks("data")[("aws_iam_policy_document", "bucket")]
    deny = _one(doc, "statement")
    assert deny["effect"] == "Deny" and deny["actions"] == ["s3:*"]
    assert deny["resources"] == ["${each.value}", "${each.value}/*"]
    assert deny["principals"] == [{"type": "*", "identifiers": ["*"]}]
    assert deny["condition"] == [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]


def test_originals_and_renditions_expire_together_and_uploads_left_half_way_are_aborted() -> None:
    lifecycle = _resources("aws_s3_bucket_lifecycle_configuration")
    for name, body in lifecycle.items():
        rules = body["rule"]
        assert all(r["status"] == "Enabled" for r in rules), name
        expiring = [r for r in rules if "expiration" in r]
        # the packages are not data: only their old versions go (a rollback stays one apply away for 30 days)
        days = [] if name == "artifacts" else ["${var.retention_days}"]
        assert [_one(r, "expiration")["days"] for r in expiring] == days, name
        aborts = [
            _one(r, "abort_incomplete_multipart_upload") for r in rules if "abort_incomplete_multipart_upload" in r
        ]
        assert aborts == [{"days_after_initiation": 1}], name
    originals = next(r for r in lifecycle["input"]["rule"] if "expiration" in r)
    assert _one(originals, "filter") == {"prefix": "${var.input_prefix}"}
    assert _one(originals, "noncurrent_version_expiration") == {"noncurrent_days": 7}
    assert lifecycle["input"]["bucket"] == "${aws_s3_bucket.input.id}"
    assert lifecycle["output"]["bucket"] == "${aws_s3_bucket.output.id}"
    packages = _one(lifecycle["artifacts"], "rule")
    assert _one(packages, "noncurrent_version_expiration") == {"noncurrent_days": 30}
    assert lifecycle["artifacts"]["bucket"] == "${aws_s3_bucket.artifacts.id}"


def test_the_package_is_uploaded_again_whenever_its_bytes_change() -> None:
    # Without source_hash an apply with a rebuilt zip under the same key would keep the old object
    package = _resources("aws_s3_object")["package"]
    assert package["bucket"] == "${aws_s3_bucket.artifacts.id}"
    assert package["source_hash"] == "${filemd5(var.lambda_zip_path)}"


def test_s3_tells_the_jobs_queue_of_every_upload_and_delete_under_the_prefix() -> None:
    queue = _one(_resources("aws_s3_bucket_notification")["input"], "queue")
    assert _resources("aws_s3_bucket_notification")["input"]["bucket"] == "${aws_s3_bucket.input.id}"
    assert queue["queue_arn"] == '${aws_sqs_queue.this["jobs"].arn}'
    assert sorted(queue["events"]) == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    assert queue["filter_prefix"] == "${var.input_prefix}"


def test_every_work_queue_hands_its_failures_to_the_dlq_after_max_receive_count() -> None:
    queues = _resources("aws_sqs_queue")
    work = queues["this"]
    assert work["redrive_policy"] == (
        "${jsonencode({deadLetterTargetArn = aws_sqs_queue.dlq.arn, maxReceiveCount = var.max_receive_count})}"
    )
    assert work["receive_wait_time_seconds"] == 20  # long polling: fewer empty receives, each one billed
    assert queues["dlq"]["sqs_managed_sse_enabled"] is True
    allow = _resources("aws_sqs_queue_redrive_allow_policy")["dlq"]
    assert allow["queue_url"] == "${aws_sqs_queue.dlq.id}" and "q.arn" in allow["redrive_allow_policy"]
    policy = _resources("aws_sqs_queue_policy")["this"]
    assert policy["queue_url"] == '${aws_sqs_queue.this["jobs"].id}'
    assert policy["policy"] == "${data.aws_iam_policy_document.queue.json}"


# alarm -> (namespace, metric, dimensions): what each watches. Each fires on the first event of a period.
COUNTING = {
    "dlq": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "${aws_sqs_queue.dlq.name}"}),
    "errors": ("AWS/Lambda", "Errors", {"FunctionName": "${module.processor.function_name}"}),
    "throttles": ("AWS/Lambda", "Throttles", {"FunctionName": "${each.value.function}"}),
    "api_errors": ("AWS/Lambda", "Errors", {"FunctionName": "${module.api.function_name}"}),
    "api_5xx": ("AWS/ApiGateway", "5xx", {"ApiId": "${aws_apigatewayv2_api.this[0].id}", "Stage": "$default"}),
}


@pytest.mark.parametrize("name", sorted(COUNTING))
def test_each_counting_alarm_fires_at_the_first_failure(name: str) -> None:
    alarm = _resources("aws_cloudwatch_metric_alarm")[name]
    namespace, metric, dimensions = COUNTING[name]
    assert (alarm["namespace"], alarm["metric_name"], alarm["dimensions"]) == (namespace, metric, dimensions)
    assert alarm["statistic"] == ("Maximum" if name == "dlq" else "Sum")
    assert alarm["threshold"] == 0 and alarm["comparison_operator"] == "GreaterThanThreshold"
    assert alarm["evaluation_periods"] == 1 and alarm["period"] in (60, 300)
    assert alarm["treat_missing_data"] == "notBreaching"  # no data is no failure


def test_the_slow_alarms_watch_the_oldest_message_and_the_slowest_invocation() -> None:
    alarms = _resources("aws_cloudwatch_metric_alarm")
    age = alarms["oldest_message"]
    assert (age["statistic"], age["threshold"], age["comparison_operator"]) == (
        "Maximum",
        "${each.value.threshold}",
        "GreaterThanThreshold",
    )
    assert age["period"] * age["evaluation_periods"] == 300 and age["treat_missing_data"] == "notBreaching"
    thresholds = {k: v["threshold"] for k, v in blocks("locals")[("queue_age_alarms",)].items()}
    assert thresholds == {"jobs": "${var.oldest_message_alarm_s}", "variants": "${var.variants_oldest_message_alarm_s}"}
    duration = alarms["duration"]
    assert duration["dimensions"] == {"FunctionName": "${module.processor.function_name}"}
    assert (duration["metric_name"], duration["statistic"]) == ("Duration", "Maximum")
    assert duration["threshold"] == "${var.lambda_timeout_s * 1000 * 0.8}"
    assert duration["comparison_operator"] == "GreaterThanThreshold" and duration["evaluation_periods"] == 1


# The processor's environment variable -> the resource it names (Settings.from_env() reads these names).
NAMES = {
    "INPUT_BUCKET": "${aws_s3_bucket.input.bucket}",
    "OUTPUT_BUCKET": "${aws_s3_bucket.output.bucket}",
    "INPUT_PREFIX": "${var.input_prefix}",
    "TABLE_NAME": "${aws_dynamodb_table.this.name}",
    "STATUS_INDEX": "${local.status_index}",
    "PHASH_INDEX": "${local.phash_index}",
    "QUEUE_NAME": '${aws_sqs_queue.this["jobs"].name}',
    "DLQ_NAME": "${aws_sqs_queue.dlq.name}",
    "RESULTS_TOPIC_ARN": "${aws_sns_topic.results.arn}",
    "ALERTS_TOPIC_ARN": "${aws_sns_topic.alerts.arn}",
    "VARIANTS_QUEUE_URL": '${aws_sqs_queue.this["variants"].url}',
    "HANDLER_TIMEOUT_S": "${tostring(var.lambda_timeout_s)}",
    "VISIBILITY_TIMEOUT_S": "${tostring(local.visibility_s)}",
    "MAX_RECEIVE_COUNT": "${tostring(var.max_receive_count)}",
    "ITEM_TTL_DAYS": "${tostring(var.retention_days)}",
    "MAX_BYTES": "${tostring(var.max_bytes)}",
    "MAX_PIXELS": "${tostring(var.max_pixels)}",
    "CDN_DISTRIBUTION_ID": '${var.cdn_enabled ? aws_cloudfront_distribution.renditions[0].id : ""}',
}


API_USES = ("INPUT_BUCKET", "OUTPUT_BUCKET", "INPUT_PREFIX", "TABLE_NAME", "STATUS_INDEX", "MAX_BYTES")
API_NAMES = {k: NAMES[k] for k in API_USES}


@pytest.mark.parametrize(("module", "names"), [("processor", NAMES), ("api", API_NAMES)])
def test_each_function_is_told_the_resources_it_uses(module: str, names: dict[str, str]) -> None:
    env = blocks("module")[(module,)]["environment"]
    assert {k: env.get(k) for k in names} == names
    assert env["NAME_PREFIX"] == "${var.name_prefix}" and env["LOG_LEVEL"] == "${var.log_level}"


def test_the_table_is_the_one_the_records_adapter_reads() -> None:
    table = _resources("aws_dynamodb_table")["this"]
    assert table["hash_key"] == "sourceKey" and "range_key" not in table
    assert table["billing_mode"] == "PAY_PER_REQUEST"  # bursts of 10 to 10,000 an hour: no capacity to plan
    assert _one(table, "ttl") == {"attribute_name": "expiresAt", "enabled": True}
    assert '"expiresAt": r.expires_at' in Path(records.__file__).read_text()  # the attribute the adapter writes
    assert _one(table, "point_in_time_recovery") == {"enabled": True}
    assert _one(table, "server_side_encryption") == {"enabled": True, "kms_key_arn": "${aws_kms_key.this.arn}"}
    indexes = {i["name"]: i for i in table["global_secondary_index"]}
    status, phash = indexes["${local.status_index}"], indexes["${local.phash_index}"]
    assert (status["hash_key"], status["range_key"], status["projection_type"]) == ("status", "updatedAt", "ALL")
    assert (phash["hash_key"], phash["projection_type"], phash["non_key_attributes"]) == (
        "phash",
        "INCLUDE",
        ["createdAt"],
    )
    keyed = {a["name"]: a["type"] for a in table["attribute"]}
    assert keyed == {"sourceKey": "S", "status": "S", "updatedAt": "S", "phash": "S"}


POLICY_LISTS = ("actions", "resources", "identifiers", "values")


def _empty_lists(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _empty_lists(v, f"{path}.{k}")]
    if isinstance(value, list):
        here = [path] if not value and path.rsplit(".", 1)[-1] in POLICY_LISTS else []
        return here + [p for i, v in enumerate(value) for p in _empty_lists(v, f"{path}[{i}]")]
    return []


def test_no_policy_statement_names_nothing() -> None:
    # An empty list of actions, resources, principals or condition values is never meant: in a condition it
    # matches nothing (or, negated, everything), in a grant it grants nothing the code needs.
    docs = {k: v for k, v in blocks("data").items() if k[0] == "aws_iam_policy_document"}
    assert [f"{name}{path}" for (_, name), doc in docs.items() for path in _empty_lists(doc)] == []


def test_each_function_writes_its_own_logs_and_nothing_else_there() -> None:
    for doc, module in (("this", "processor"), ("api", "api")):
        logs = [s for s in statements(blocks("data")[("aws_iam_policy_document", doc)]) if s.get("sid") == "Logs"]
        assert len(logs) == 1, doc
        assert sorted(logs[0]["actions"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
        assert logs[0]["resources"] == [f"${{module.{module}.log_group_arn}}:*"]


def test_the_api_signs_reads_of_renditions_only_without_the_cdn() -> None:
    doc = blocks("data")[("aws_iam_policy_document", "api")]
    (presign,) = doc["dynamic"]
    assert presign["statement"]["for_each"] == "${var.cdn_enabled ? [] : [1]}"
    (content,) = presign["statement"]["content"]
    assert content["actions"] == ["s3:GetObject"] and content["resources"] == ["${aws_s3_bucket.output.arn}/*"]
    ddb = next(s for s in doc["statement"] if s.get("sid") == "EncryptedTable")
    assert ddb["actions"] == ["kms:Decrypt"] and ddb["resources"] == ["${aws_kms_key.this.arn}"]


# Resource policies: the service each lets in, and the resource each is about (None: a key policy, where "*" is
# the key itself).
RESOURCE_POLICIES = {
    "queue": ("s3.amazonaws.com", '${aws_sqs_queue.this["jobs"].arn}'),
    "alerts": ("cloudwatch.amazonaws.com", "${aws_sns_topic.alerts.arn}"),
    "kms": ("cloudwatch.amazonaws.com", None),
}


@pytest.mark.parametrize("name", sorted(RESOURCE_POLICIES))
def test_a_service_is_let_in_only_for_this_account_and_this_resource(name: str) -> None:
    service, resource = RESOURCE_POLICIES[name]
    stated = statements(blocks("data")[("aws_iam_policy_document", name)])
    for st in stated:
        assert st.get("effect", "Allow") == "Allow", st
        if resource is not None:
            assert st["resources"] == [resource], st
        for principal in st.get("principals", []):
            if principal["type"] == "Service":
                assert principal["identifiers"] == [service], st
                # the confused deputy: the service acts for this account's resources only
                conditions = {c["variable"].lower(): c for c in st.get("condition", [])}
                account = conditions.get("aws:sourceaccount")
                assert account and account["test"] == "StringEquals", st
                assert account["values"] == ["${data.aws_caller_identity.current.account_id}"], st
    services = [p for st in stated for p in st.get("principals", []) if p["type"] == "Service"]
    assert services, f"{name} lets {service} in"


def test_the_key_policy_gives_alarms_only_what_publishing_needs() -> None:
    by_sid = {s["sid"]: s for s in statements(blocks("data")[("aws_iam_policy_document", "kms")])}
    assert set(by_sid) == {"AccountAdmin", "AlarmsUseTheKey"}
    admin = by_sid["AccountAdmin"]
    assert admin["principals"][0]["type"] == "AWS" and admin["principals"][0]["identifiers"][0].endswith(":root")
    alarms = by_sid["AlarmsUseTheKey"]
    assert sorted(alarms["actions"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    arn = next(c for c in alarms["condition"] if c["variable"] == "aws:SourceArn")
    assert arn["test"] == "ArnLike" and arn["values"][0].endswith(":alarm:${var.name_prefix}-*")
    key = _resources("aws_kms_key")["this"]
    assert key["enable_key_rotation"] is True and key["policy"] == "${data.aws_iam_policy_document.kms.json}"
    for topic in _resources("aws_sns_topic").values():
        assert topic["kms_master_key_id"] == "${aws_kms_key.this.arn}"


def test_the_cdn_is_off_by_default_and_serves_only_https_reads_of_a_private_bucket() -> None:
    # A brand-new account may be refused a distribution (docs/deploy.md): on by choice only
    assert blocks("variable")[("cdn_enabled",)]["default"] is False
    cdn = _resources("aws_cloudfront_distribution")["renditions"]
    behaviour = _one(cdn, "default_cache_behavior")
    assert behaviour["viewer_protocol_policy"] == "redirect-to-https"
    assert behaviour["allowed_methods"] == ["GET", "HEAD"] and behaviour["cached_methods"] == ["GET", "HEAD"]
    origin = _one(cdn, "origin")
    assert origin["domain_name"] == "${aws_s3_bucket.output.bucket_regional_domain_name}"
    assert origin["origin_access_control_id"] == "${aws_cloudfront_origin_access_control.renditions[0].id}"
    oac = _resources("aws_cloudfront_origin_access_control")["renditions"]
    assert (oac["signing_behavior"], oac["signing_protocol"], oac["origin_access_control_origin_type"]) == (
        "always",
        "sigv4",
        "s3",
    )


def test_each_size_has_one_url_whose_format_the_edge_chooses_and_whose_cache_key_is_the_object() -> None:
    # The function rewrites the URI to the chosen object before the cache is asked (cdn/negotiate.js, tested with
    # node in test_cdn_function.py); the cache key must then hold no header (Accept would split it per browser) and
    # no query string (the formats list): AWS's managed CachingOptimized. Vary: Accept tells browsers and proxies.
    behaviour = _one(_resources("aws_cloudfront_distribution")["renditions"], "default_cache_behavior")
    assert behaviour["cache_policy_id"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"
    assert _one(behaviour, "function_association") == {
        "event_type": "viewer-request",
        "function_arn": "${aws_cloudfront_function.negotiate[0].arn}",
    }
    function = _resources("aws_cloudfront_function")["negotiate"]
    assert function["runtime"] == "cloudfront-js-2.0" and function["publish"] is True
    assert function["code"] == '${file("${path.module}/cdn/negotiate.js")}'
    assert behaviour["response_headers_policy_id"] == "${aws_cloudfront_response_headers_policy.renditions[0].id}"
    policy = _resources("aws_cloudfront_response_headers_policy")["renditions"]
    assert _one(_one(policy, "custom_headers_config"), "items") == {
        "header": "Vary",
        "value": "Accept",
        "override": True,
    }


def test_the_cdn_keeps_the_security_headers_of_awss_managed_policy() -> None:
    # What the managed SecurityHeadersPolicy sent before a policy of our own was needed for Vary: HSTS for a year,
    # nosniff, frames from this origin only, the referrer trimmed cross-origin, the XSS filter blocking.
    security = _one(_resources("aws_cloudfront_response_headers_policy")["renditions"], "security_headers_config")
    hsts = _one(security, "strict_transport_security")
    assert hsts["access_control_max_age_sec"] >= 31536000
    assert _one(security, "content_type_options")["override"] is True
    assert _one(security, "frame_options")["frame_option"] in ("DENY", "SAMEORIGIN")
    assert _one(security, "referrer_policy")["referrer_policy"] == "strict-origin-when-cross-origin"
    xss = _one(security, "xss_protection")
    assert (xss["protection"], xss["mode_block"]) == (True, True)


def test_the_processor_may_invalidate_its_own_distribution_only_and_only_with_the_cdn() -> None:
    doc = blocks("data")[("aws_iam_policy_document", "this")]
    [grant] = [d["statement"] for d in doc["dynamic"] if "ForgetDeletedRenditions" in str(d)]
    assert grant["for_each"] == "${var.cdn_enabled ? [1] : []}"
    (content,) = grant["content"]
    assert content["actions"] == ["cloudfront:CreateInvalidation"]
    assert content["resources"] == ["${aws_cloudfront_distribution.renditions[0].arn}"]


# Each dashboard widget: how its numbers are read (counts summed, depths and ages at their worst, latency at p95),
# one-minute points throughout. The last one sets a statistic per metric.
DASHBOARD = {
    "Queue depth": "Maximum",
    "Handler": "Sum",
    "Duration (ms)": "p95",
    "Age of oldest job (s)": "Maximum",
    "Images (from the handler's EMF metrics)": "Sum",
    "Processing ms (p50, p95) and bytes": None,
}


def test_the_dashboard_reads_each_metric_the_way_it_means() -> None:
    body = _resources("aws_cloudwatch_dashboard")["this"]["dashboard_body"]
    widgets = re.findall(
        r'properties = \{title = "([^"]*)", region = var\.region, (?:stat = "([^"]*)", )?period = (\d+)', body
    )
    assert {title: stat or None for title, stat, _ in widgets} == DASHBOARD
    assert {period for _, _, period in widgets} == {"60"} and body.count('type = "metric"') == len(DASHBOARD)
    assert f'["{metrics.NAMESPACE}", "ImagesProcessed"' in body  # the namespace the handler's EMF writes to


def test_each_function_runs_what_it_is_given_traced_with_its_own_role_and_logs() -> None:
    res = blocks("resource", FUNCTION_MODULE)
    fn = res[("aws_lambda_function", "this")]
    given = {
        "function_name": "${var.name}",
        "role": "${aws_iam_role.this.arn}",
        "s3_bucket": "${var.package.bucket}",
        "s3_key": "${var.package.key}",
        "handler": "${var.handler}",
        "runtime": "${var.runtime}",
        "architectures": ["${var.architecture}"],
        "memory_size": "${var.memory_mb}",
        "timeout": "${var.timeout_s}",
        "reserved_concurrent_executions": "${var.reserved_concurrency}",
    }
    assert {k: fn.get(k) for k in given} == given
    assert _one(fn, "environment") == {"variables": "${var.environment}"}
    assert _one(fn, "tracing_config") == {"mode": "Active"}  # the X-Ray policy attached below is for this
    # the log group exists before the function's first line, with its retention, under the name Lambda writes to
    assert fn["depends_on"] == ["${aws_cloudwatch_log_group.this}", "${aws_iam_role_policy.this}"]
    logs = res[("aws_cloudwatch_log_group", "this")]
    assert (logs["name"], logs["retention_in_days"]) == ("/aws/lambda/${var.name}", "${var.log_retention_days}")
    assert res[("aws_iam_role_policy", "this")]["role"] == "${aws_iam_role.this.id}"
    assert res[("aws_iam_role_policy_attachment", "xray")]["role"] == "${aws_iam_role.this.name}"
    trust = _one(blocks("data", FUNCTION_MODULE)[("aws_iam_policy_document", "assume")], "statement")
    assert trust == {
        "actions": ["sts:AssumeRole"],
        "principals": [{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}],
    }


# Each role's grants by name: what each allows is proven by enforcement (test_permissions.py, on an applied
# stack); that each is there at all is checked here, in a second.
GRANTS = {
    "this": {
        "ReadUploads", "ListUploads", "WriteRenditions", "ImageItems", "SamePicture", "PublishResults",
        "EncryptedTable", "EncryptedTopic", "ConsumeJobs", "DeferVariants", "Logs", "ReadCmykProfile",
        "ForgetDeletedRenditions",
    },
    "api": {"PresignUploads", "ReadItems", "EncryptedTable", "Logs", "PresignRenditions"},
}  # fmt: skip


@pytest.mark.parametrize("doc", sorted(GRANTS))
def test_each_role_has_each_of_its_grants(doc: str) -> None:
    stated = statements(blocks("data")[("aws_iam_policy_document", doc)])
    assert sorted(s.get("sid", "") for s in stated) == sorted(GRANTS[doc])


def test_a_lifecycle_with_noncurrent_versions_waits_for_its_own_buckets_versioning() -> None:
    lifecycle = _resources("aws_s3_bucket_lifecycle_configuration")
    for name in ("input", "artifacts"):
        assert lifecycle[name]["depends_on"] == [f'${{aws_s3_bucket_versioning.this["{name}"]}}'], name


def test_the_browser_may_call_the_api_and_post_to_the_bucket_from_the_allowed_origin_only() -> None:
    cors = _one(_resources("aws_apigatewayv2_api")["this"], "cors_configuration")
    assert cors["allow_origins"] == ["${var.cors_allow_origin}"]
    methods = sorted({route.split()[0] for route in blocks("locals")[("api_routes",)]})
    assert sorted(cors["allow_methods"]) == methods == ["GET", "POST"]  # the routes' methods, nothing else
    signer = {"authorization", "content-type", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}
    assert signer <= set(cors["allow_headers"])  # what a browser's SigV4 signer sends (issue: the preflight failed)
    bucket = _one(_resources("aws_s3_bucket_cors_configuration")["input"], "cors_rule")
    assert (bucket["allowed_methods"], bucket["allowed_origins"]) == (["POST"], ["${var.cors_allow_origin}"])
    assert _resources("aws_s3_bucket_cors_configuration")["input"]["bucket"] == "${aws_s3_bucket.input.id}"


def test_only_this_api_may_invoke_the_api_function() -> None:
    permission = _resources("aws_lambda_permission")["api"]
    assert permission["count"] == _resources("aws_apigatewayv2_api")["this"]["count"]
    assert (permission["action"], permission["principal"]) == ("lambda:InvokeFunction", "apigateway.amazonaws.com")
    assert permission["function_name"] == "${module.api.function_name}"
    assert permission["source_arn"] == "${aws_apigatewayv2_api.this[0].execution_arn}/*/*"


def test_s3_may_send_to_the_queue_only_for_the_input_bucket_itself() -> None:
    (statement,) = statements(blocks("data")[("aws_iam_policy_document", "queue")])
    source = next(c for c in statement["condition"] if c["variable"] == "aws:SourceArn")
    assert source == {"test": "ArnEquals", "variable": "aws:SourceArn", "values": ["${aws_s3_bucket.input.arn}"]}
    assert statement["actions"] == ["sqs:SendMessage"]


# Each output is what its name says (the CLI's `info`, the e2e on tflocal and operators read them).
OUTPUTS = {
    "input_bucket_name": "${aws_s3_bucket.input.bucket}",
    "input_prefix": "${var.input_prefix}",
    "output_bucket_name": "${aws_s3_bucket.output.bucket}",
    "queue_name": '${aws_sqs_queue.this["jobs"].name}',
    "queue_url": '${aws_sqs_queue.this["jobs"].id}',
    "queue_arn": '${aws_sqs_queue.this["jobs"].arn}',
    "dlq_name": "${aws_sqs_queue.dlq.name}",
    "dlq_url": "${aws_sqs_queue.dlq.id}",
    "table_name": "${aws_dynamodb_table.this.name}",
    "results_topic_arn": "${aws_sns_topic.results.arn}",
    "alerts_topic_arn": "${aws_sns_topic.alerts.arn}",
    "function_name": "${module.processor.function_name}",
    "dlq_alarm_name": "${aws_cloudwatch_metric_alarm.dlq.alarm_name}",
    "handler_environment": "${module.processor.environment}",
    "api_endpoint": "${var.http_api_enabled ? aws_apigatewayv2_stage.this[0].invoke_url : null}",
    "api_function_name": "${module.api.function_name}",
    "cdn_domain_name": "${var.cdn_enabled ? aws_cloudfront_distribution.renditions[0].domain_name : null}",
    "variants_queue_url": '${aws_sqs_queue.this["variants"].id}',
}


def test_each_output_is_what_its_name_says() -> None:
    values = {name: body["value"] for (name,), body in blocks("output").items()}
    assert {k: values.get(k) for k in OUTPUTS} == OUTPUTS


def test_each_functions_handler_is_a_function_of_the_package() -> None:
    functions = {name: body for (name,), body in blocks("module").items() if body["source"] == "./modules/function"}
    assert set(functions) == {"processor", "api"}
    for name, body in functions.items():
        module, _, attribute = body["handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), attribute, None)), f"{name}: {body['handler']}"
        assert body["package"] == "${local.package}" and body["runtime"] == "${var.lambda_runtime}", name
        assert body["architecture"] == "${var.lambda_architecture}", name
        policy = {"processor": "this", "api": "api"}[name]  # each its own role's document
        assert body["policy_json"] == f"${{data.aws_iam_policy_document.{policy}.json}}", name


def test_terraforms_defaults_are_the_pipelines_own() -> None:
    # The same handler locally and in AWS: what terraform sets by default is what Settings() means by default.
    s = settings.Settings()
    defaults: dict[str, Any] = {name: body.get("default") for (name,), body in blocks("variable").items()}
    assert parse_renditions(defaults["renditions"]) == s.imaging.renditions
    assert parse_formats(defaults["formats"]) == s.imaging.variants
    assert defaults["defer_formats"] == settings.DEFAULT_DEFER_FORMATS
    assert (defaults["max_bytes"], defaults["max_pixels"]) == (s.imaging.max_bytes, s.imaging.max_pixels)
    assert (defaults["lambda_memory_mb"], defaults["lambda_timeout_s"]) == (
        s.imaging.memory_mb,
        s.timing.handler_timeout_s,
    )
    assert defaults["max_receive_count"] == s.timing.max_receive_count == 3  # the mission's number
    assert defaults["retention_days"] == s.timing.item_ttl_days
    assert (defaults["name_prefix"], defaults["input_prefix"]) == (s.names.name_prefix, "uploads/")
    assert defaults["log_level"] == s.log_level and defaults["region"] == s.region


# What a plain `terraform apply` must get: a stack that works, is protected and tells its operators, not a test rig.
PRODUCTION_DEFAULTS = {
    "event_source_mapping_enabled": True,  # off, the queue would fill and nothing would process it
    "http_api_enabled": True,
    "deletion_protection": True,
    "force_destroy": False,
    "check_account_quotas": True,
    "cdn_enabled": False,  # a brand-new account may be refused a distribution
    "api_auth": "iam",  # never open
    "reserved_concurrency": -1,  # a reservation takes from the account's unreserved 100
    "batch_size": 10,
    "batching_window_s": 0,
    "max_concurrency": 20,
    "variants_max_concurrency": 2,
    "oldest_message_alarm_s": 900,  # the alarm thresholds docs/operations.md gives
    "variants_oldest_message_alarm_s": 3600,
    "lambda_architecture": "arm64",  # 20% cheaper per GB-second; make build ARCH=arm64 is the README's
    "lambda_runtime": "python3.12",  # what make build's wheels are for
    "log_retention_days": 30,
}


def test_a_plain_apply_gets_a_working_protected_stack() -> None:
    defaults = {name: body.get("default") for (name,), body in blocks("variable").items()}
    assert {k: defaults.get(k) for k in PRODUCTION_DEFAULTS} == PRODUCTION_DEFAULTS


def test_every_bucket_entry_is_its_own_bucket() -> None:
    buckets = blocks("locals")[("buckets",)]
    assert {k: v["bucket"] for k, v in buckets.items()} == {k: f"${{aws_s3_bucket.{k}}}" for k in buckets}


def test_kms_is_used_only_through_the_service_that_needs_it() -> None:
    for doc in ("this", "api"):
        for st in statements(blocks("data")[("aws_iam_policy_document", doc)]):
            if any(a.startswith("kms:") for a in st["actions"]):
                (via,) = [c for c in st.get("condition", []) if c["variable"] == "kms:ViaService"]
                assert via["test"] == "StringEquals" and len(via["values"]) == 1, st
                assert st["resources"] == ["${aws_kms_key.this.arn}"], st


def test_a_resource_policy_lets_its_service_do_one_thing() -> None:
    actions = {"queue": ["sqs:SendMessage"], "alerts": ["sns:Publish"]}
    for name, expected in actions.items():
        assert [s["actions"] for s in statements(blocks("data")[("aws_iam_policy_document", name)])] == [expected]


def test_cloudfront_reads_renditions_for_this_distribution_only() -> None:
    doc = blocks("data")[("aws_iam_policy_document", "bucket")]
    (cdn,) = [s for s in statements(doc) if s.get("sid") == "CloudFrontReadsRenditions"]
    assert cdn["condition"] == [
        {
            "test": "StringEquals",
            "variable": "AWS:SourceArn",
            "values": ["${aws_cloudfront_distribution.renditions[0].arn}"],
        }
    ]
    assert cdn["principals"] == [{"type": "Service", "identifiers": ["cloudfront.amazonaws.com"]}]
    certificate = _one(_resources("aws_cloudfront_distribution")["renditions"], "viewer_certificate")
    assert certificate == {"cloudfront_default_certificate": True}  # without one, AWS refuses the distribution


def test_the_api_stage_is_throttled_and_logged() -> None:
    stage = _resources("aws_apigatewayv2_stage")["this"]
    throttle = _one(stage, "default_route_settings")
    assert throttle == {
        "throttling_rate_limit": "${var.api_throttle_rate}",
        "throttling_burst_limit": "${var.api_throttle_rate * 2}",
    }
    assert _one(stage, "access_log_settings")["destination_arn"] == "${aws_cloudwatch_log_group.api_access.arn}"
    assert (stage["name"], stage["auto_deploy"]) == ("$default", True)


def test_both_mappings_take_batches_alike_and_report_partial_failures() -> None:
    mappings = _resources("aws_lambda_event_source_mapping")
    queues = {"this": '${aws_sqs_queue.this["jobs"].arn}', "variants": '${aws_sqs_queue.this["variants"].arn}'}
    ceilings = {"this": "${var.max_concurrency}", "variants": "${var.variants_max_concurrency}"}
    assert set(mappings) == set(queues)
    for name, m in mappings.items():
        assert m["event_source_arn"] == queues[name] and m["function_name"] == "${module.processor.arn}", name
        assert (m["batch_size"], m["maximum_batching_window_in_seconds"]) == (
            "${var.batch_size}",
            "${var.batching_window_s}",
        ), name
        assert m["function_response_types"] == ["ReportBatchItemFailures"], name
        assert m["enabled"] == "${var.event_source_mapping_enabled}", name
        assert _one(m, "scaling_config") == {"maximum_concurrency": ceilings[name]}, name


def test_alarms_tell_the_operators_topic_not_the_results_one() -> None:
    actions: Any = blocks("locals")[("alarm_actions",)]
    assert actions == ["${aws_sns_topic.alerts.arn}"]


def test_cloudfront_may_only_read() -> None:
    doc = blocks("data")[("aws_iam_policy_document", "bucket")]
    (cdn,) = [s for s in statements(doc) if s.get("sid") == "CloudFrontReadsRenditions"]
    assert cdn["actions"] == ["s3:GetObject"] and cdn["resources"] == ["${each.value}/*"]


def test_the_dashboards_age_widget_watches_the_jobs_queue() -> None:
    body = _resources("aws_cloudwatch_dashboard")["this"]["dashboard_body"]
    assert '["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", aws_sqs_queue.this["jobs"].name]' in body
    assert '["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dlq.name' in body


def test_the_api_hands_the_function_the_event_format_it_reads() -> None:
    # pipeline/http_api.py reads version 2.0's requestContext.http.method and rawPath; 1.0 has neither
    integration = _resources("aws_apigatewayv2_integration")["this"]
    assert (integration["integration_type"], integration["payload_format_version"]) == ("AWS_PROXY", "2.0")
    assert integration["integration_uri"] == "${module.api.invoke_arn}"
    assert '.get("http", {}).get("method"' in Path(http_api.__file__).read_text()


def test_the_cdn_answers_ipv6_viewers_too() -> None:
    cdn = _resources("aws_cloudfront_distribution")["renditions"]
    assert (cdn["enabled"], cdn["is_ipv6_enabled"]) == (True, True)
