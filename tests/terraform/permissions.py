"""IAM proven by enforcement: the AWS calls the Lambda paths make, evaluated against the policies terraform renders.

Every call the handler and the API make is recorded (botocore events: service, operation, parameters, outcome),
turned into the IAM requests AWS would authorize for it (an S3 GET of a missing key also asks s3:ListBucket; a
publish to an encrypted topic also asks KMS through SNS), and evaluated by an IAM policy simulator
(@cloud-copilot/iam-simulate: identity and resource policies, every condition operator, KMS key-policy trust)
against the policies of `terraform show -json` of a plan. Both ways: every request allowed, every grant used.
The platform's own requests are derived from the plan: the event source mapping reads the queue as the
function's role, S3 sends to the queue, CloudWatch publishes to the encrypted alerts topic.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.terraform.tf import ROOT

SIMULATOR_DIR = ROOT / "tests" / "iam"
ALLOWED = "Allowed"


@dataclass(frozen=True)
class Call:
    """One AWS API call as botocore made it."""

    service: str
    operation: str
    params: dict[str, Any]
    status: int


@dataclass
class Recorder:
    """Records every call made through the clients it is attached to."""

    calls: list[Call] = field(default_factory=list)

    def attach(self, client: Any) -> None:
        """Record this boto3 client's calls (parameters as given, status as answered)."""
        client.meta.events.register("provide-client-params.*.*", self._params)
        client.meta.events.register("after-call.*.*", self._after)

    @staticmethod
    def _params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["recorded_params"] = dict(params)

    def _after(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        self.calls.append(Call(service, model.name, context.get("recorded_params", {}), http_response.status_code))


@dataclass(frozen=True)
class Request:
    """One request as IAM authorizes it: who, what, on which resource, with which context keys."""

    principal: str
    action: str
    resource: str
    context: dict[str, str]
    why: str


class Stack:
    """The resources and policies of a plan or a state (`terraform show -json`), looked up the way AWS would."""

    def __init__(self, shown: dict[str, Any], account: str, region: str) -> None:
        self.account = account
        self.region = region
        # address (module.api.aws_lambda_function.this, aws_s3_bucket.input, ...) -> (type, values)
        self.resources: dict[str, tuple[str, dict[str, Any]]] = {}
        # A plan's planned values, or a state's values: both `terraform show -json`.
        values = shown.get("planned_values") or shown["values"]
        for r in _resources(values["root_module"]):
            if r.get("mode", "managed") == "managed":
                self.resources[r["address"]] = (r["type"], r.get("values") or {})

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Every planned resource of one type."""
        return [v for t, v in self.resources.values() if t == kind]

    def get(self, address: str) -> dict[str, Any]:
        """One planned resource, by its address."""
        return self.resources[address][1]

    def role_principal(self, function: str) -> str:
        """The session ARN a function's calls carry: its role, assumed by Lambda."""
        fn = self.get(function)
        role = fn["role"].rsplit("/", 1)[-1]
        return f"arn:aws:sts::{self.account}:assumed-role/{role}/{fn['function_name']}"

    def identity_policies(self, function: str) -> list[dict[str, Any]]:
        """The inline policies of a function's role (the X-Ray managed policy grants nothing the code calls)."""
        role = self.get(function)["role"].rsplit("/", 1)[-1]
        return [
            {"name": p["name"], "policy": json.loads(p["policy"])}
            for p in self.of_type("aws_iam_role_policy")
            if p["role"] == role
        ]

    def key_policy(self, key_arn: str) -> dict[str, Any] | None:
        """The key policy of a KMS key."""
        for k in self.of_type("aws_kms_key"):
            if k.get("arn") == key_arn:
                policy: dict[str, Any] = json.loads(k["policy"])
                return policy
        return None

    def resource_policy(self, arn: str) -> dict[str, Any] | None:
        """The resource policy AWS evaluates for a request on arn (bucket, queue, topic or key)."""
        if arn.startswith("arn:aws:s3:::"):
            bucket = arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            found = [p["policy"] for p in self.of_type("aws_s3_bucket_policy") if p["bucket"] == bucket]
        elif arn.startswith("arn:aws:sqs:"):
            name = arn.rsplit(":", 1)[-1]
            found = [p["policy"] for p in self.of_type("aws_sqs_queue_policy") if p["queue_url"].endswith(f"/{name}")]
        elif arn.startswith("arn:aws:sns:"):
            found = [p["policy"] for p in self.of_type("aws_sns_topic_policy") if p["arn"] == arn]
        elif arn.startswith("arn:aws:kms:"):
            return self.key_policy(arn)
        else:
            found = []
        return json.loads(found[0]) if found else None

    def table_key(self, table: str) -> str | None:
        """The customer-managed key a table is encrypted with."""
        for t in self.of_type("aws_dynamodb_table"):
            if t["name"] == table:
                sse = (t.get("server_side_encryption") or [{}])[0]
                return sse.get("kms_key_arn") if sse.get("enabled") else None
        return None

    def topic_key(self, topic_arn: str) -> str | None:
        """The key a topic is encrypted with."""
        for t in self.of_type("aws_sns_topic"):
            if t["arn"] == topic_arn:
                key: str | None = t.get("kms_master_key_id") or None
                return key
        return None


def _resources(module: dict[str, Any]) -> Iterable[dict[str, Any]]:
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from _resources(child)


def requests_for(call: Call, principal: str, stack: Stack) -> list[Request]:
    """The IAM requests AWS authorizes for one recorded call; an unmapped call is an error, not a pass."""
    mapper = _MAPPERS.get(call.service)
    out = mapper(call, principal, stack) if mapper else None
    if out is None:
        raise AssertionError(
            f"no IAM mapping for {call.service}.{call.operation}: add it to tests/terraform/permissions.py"
        )
    return out


def _s3(call: Call, principal: str, stack: Stack) -> list[Request] | None:
    p, op, why = call.params, call.operation, f"s3.{call.operation}"
    https = {"aws:SecureTransport": "true"}  # the client factory talks to AWS over https only
    bucket = f"arn:aws:s3:::{p['Bucket']}"
    obj = f"{bucket}/{p.get('Key', '')}"
    if op in ("GetObject", "HeadObject"):
        action = "s3:GetObjectVersion" if p.get("VersionId") else "s3:GetObject"
        out = [Request(principal, action, obj, https, why)]
        if call.status == 404:
            # S3 answers 404 rather than 403 only to a caller who may list the bucket (no s3:prefix then).
            out.append(Request(principal, "s3:ListBucket", bucket, https, f"{why} of a missing key"))
        return out
    if op in ("PutObject", "DeleteObject"):
        return [Request(principal, f"s3:{op}", obj, https, why)]
    if op == "ListObjectsV2":
        return [Request(principal, "s3:ListBucket", bucket, {**https, "s3:prefix": p.get("Prefix", "")}, why)]
    return None


def _dynamodb(call: Call, principal: str, stack: Stack) -> list[Request]:
    p, why = call.params, f"dynamodb.{call.operation}"
    table = f"arn:aws:dynamodb:{stack.region}:{stack.account}:table/{p['TableName']}"
    if p.get("IndexName"):
        table = f"{table}/index/{p['IndexName']}"
    out = [Request(principal, f"dynamodb:{call.operation}", table, {}, why)]
    key = stack.table_key(p["TableName"])
    if key:
        via = {"kms:ViaService": f"dynamodb.{stack.region}.amazonaws.com", "kms:CallerAccount": stack.account}
        out.append(Request(principal, "kms:Decrypt", key, via, f"{why} on a table under a CMK"))
    return out


def _sns(call: Call, principal: str, stack: Stack) -> list[Request] | None:
    if call.operation != "Publish":
        return None
    topic, why = call.params["TopicArn"], "sns.Publish"
    out = [Request(principal, "sns:Publish", topic, {}, why)]
    key = stack.topic_key(topic)
    if key:
        # SNS asks KMS with the topic's ARN as the encryption context of every data key (what key policies scope on).
        via = {
            "kms:ViaService": f"sns.{stack.region}.amazonaws.com",
            "kms:CallerAccount": stack.account,
            "kms:EncryptionContext:aws:sns:topicArn": topic,
        }
        out += [
            Request(principal, a, key, via, f"{why} to an encrypted topic")
            for a in ("kms:GenerateDataKey", "kms:Decrypt")
        ]
    return out


def _sqs(call: Call, principal: str, stack: Stack) -> list[Request] | None:
    if call.operation != "SendMessage":
        return None
    name = str(call.params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
    queue = f"arn:aws:sqs:{stack.region}:{stack.account}:{name}"
    return [Request(principal, "sqs:SendMessage", queue, {}, "sqs.SendMessage")]


def _cloudfront(call: Call, principal: str, stack: Stack) -> list[Request] | None:
    if call.operation != "CreateInvalidation":
        return None
    # CloudFront is global: its ARNs name no region.
    distribution = f"arn:aws:cloudfront::{stack.account}:distribution/{call.params['DistributionId']}"
    return [Request(principal, "cloudfront:CreateInvalidation", distribution, {}, "cloudfront.CreateInvalidation")]


_MAPPERS: dict[str, Callable[[Call, str, Stack], list[Request] | None]] = {
    "cloudfront": _cloudfront,
    "s3": _s3,
    "dynamodb": _dynamodb,
    "sns": _sns,
    "sqs": _sqs,
}


def presigned(principal: str, action: str, bucket: str, key: str, why: str) -> Request:
    """The request a presigned URL or POST makes: S3 authorizes it as its signer."""
    return Request(principal, action, f"arn:aws:s3:::{bucket}/{key}", {"aws:SecureTransport": "true"}, why)


def platform_requests(stack: Stack) -> list[Request]:
    """What AWS itself does for this stack, with the identities it does it as."""
    return [
        *_event_source_mappings(stack),
        *_function_logs(stack),
        *_bucket_notifications(stack),
        *_cdn_reads(stack),
        *_alarm_notifications(stack),
    ]


def _event_source_mappings(stack: Stack) -> Iterator[Request]:
    functions = {f["arn"]: address for address, (t, f) in stack.resources.items() if t == "aws_lambda_function"}
    for esm in stack.of_type("aws_lambda_event_source_mapping"):
        target = functions.get(esm["function_name"]) or next(
            n for a, n in functions.items() if esm["function_name"] in (a, a.rsplit(":", 1)[-1])
        )
        role = stack.role_principal(target)
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            yield Request(role, action, esm["event_source_arn"], {}, "the event source mapping polls the queue")


def _function_logs(stack: Stack) -> Iterator[Request]:
    for address, (kind, fn) in stack.resources.items():
        if kind == "aws_lambda_function":
            role = stack.role_principal(address)
            group = f"arn:aws:logs:{stack.region}:{stack.account}:log-group:/aws/lambda/{fn['function_name']}"
            for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
                yield Request(role, action, f"{group}:log-stream:2026/12/01/[$LATEST]0", {}, "Lambda writes logs")


def _bucket_notifications(stack: Stack) -> Iterator[Request]:
    for n in stack.of_type("aws_s3_bucket_notification"):
        ctx = {"aws:SourceArn": f"arn:aws:s3:::{n['bucket']}", "aws:SourceAccount": stack.account}
        for q in n.get("queue") or []:
            yield Request("s3.amazonaws.com", "sqs:SendMessage", q["queue_arn"], ctx, "S3 sends its events")


def _cdn_reads(stack: Stack) -> Iterator[Request]:
    buckets = {b["bucket_regional_domain_name"]: b["bucket"] for b in stack.of_type("aws_s3_bucket")}
    for dist in stack.of_type("aws_cloudfront_distribution"):
        ctx = {"aws:SourceArn": dist["arn"], "aws:SourceAccount": stack.account, "aws:SecureTransport": "true"}
        for origin in dist.get("origin") or []:
            if origin["domain_name"] in buckets:
                obj = f"arn:aws:s3:::{buckets[origin['domain_name']]}/large/web/x/a.jpg.jpg"
                yield Request("cloudfront.amazonaws.com", "s3:GetObject", obj, ctx, "the CDN reads a rendition")


def _alarm_notifications(stack: Stack) -> Iterator[Request]:
    for alarm in stack.of_type("aws_cloudwatch_metric_alarm"):
        alarm_arn = f"arn:aws:cloudwatch:{stack.region}:{stack.account}:alarm:{alarm['alarm_name']}"
        ctx = {"aws:SourceArn": alarm_arn, "aws:SourceAccount": stack.account}
        why = f"alarm {alarm['alarm_name']} notifies"
        for topic in {*(alarm.get("alarm_actions") or []), *(alarm.get("ok_actions") or [])}:
            yield Request("cloudwatch.amazonaws.com", "sns:Publish", topic, ctx, why)
            key = stack.topic_key(topic)
            kms_ctx = {**ctx, "kms:EncryptionContext:aws:sns:topicArn": topic}
            for action in ("kms:GenerateDataKey", "kms:Decrypt") if key else ():
                yield Request("cloudwatch.amazonaws.com", action, str(key), kms_ctx, f"{why} an encrypted topic")


@dataclass(frozen=True)
class Verdict:
    """The simulator's answer for one request."""

    request: Request
    decision: str
    identity_sids: tuple[str, ...]
    resource_sids: tuple[str, ...]
    errors: Any


def simulate(requests: list[Request], stack: Stack, identities: dict[str, list[dict[str, Any]]]) -> list[Verdict]:
    """Evaluate each request with the principal's identity policies and the resource's policy."""
    sims = []
    for r in requests:
        sim: dict[str, Any] = {
            "request": {
                "action": r.action,
                "principal": r.principal,
                "resource": {"accountId": stack.account, "resource": r.resource},
                "contextVariables": r.context,
            },
            "identityPolicies": identities.get(r.principal, []),
        }
        policy = stack.resource_policy(r.resource)
        if policy is not None:
            sim["resourcePolicy"] = policy
        sims.append(sim)
    node = subprocess.run(
        ["node", str(SIMULATOR_DIR / "simulate.mjs")],
        input=json.dumps(sims),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if node.returncode != 0:
        raise AssertionError(f"the IAM simulator failed: {node.stderr[-2000:]}")
    return [
        Verdict(r, v["decision"], tuple(s or "" for s in v["identityAllows"]), tuple(v["resourceAllows"]), v["errors"])
        for r, v in zip(requests, json.loads(node.stdout), strict=True)
    ]


def unused_grants(policies: list[dict[str, Any]], verdicts: list[Verdict], principal: str) -> list[str]:
    """Each (statement, action) of the principal's identity policies that no allowed request needed."""
    unused = []
    for p in policies:
        for st in p["policy"]["Statement"]:
            if st.get("Effect") != "Allow":
                continue
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            for action in actions:
                if action.startswith("xray:"):
                    continue
                used = any(
                    v.request.principal == principal
                    and v.decision == ALLOWED
                    and st.get("Sid", "") in v.identity_sids
                    and fnmatch.fnmatchcase(v.request.action.lower(), action.lower())
                    for v in verdicts
                )
                if not used:
                    unused.append(f"{p['name']}: {st.get('Sid')} grants {action}, which no call needs")
    return unused
