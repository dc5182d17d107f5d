"""Least privilege proven by enforcement: the Lambda paths' real calls against terraform's rendered policies.

The handler and the API run in this process against the stack terraform applied (MiniStack), every AWS call
recorded; the policies come from `terraform show -json` of a plan; an IAM simulator decides. Every call must be
allowed, every grant used, the platform's own requests (S3 to the queue, CloudWatch to the encrypted topic, the
event source mapping) allowed by the resource and key policies, and what must stay impossible denied. Then the
review's mutations of terraform/ are planned one by one, and each must be caught.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

import boto3
import pytest

from pipeline.aws import make_clients
from pipeline.handler import handle_batch
from pipeline.local.api_server import to_event
from pipeline.local.worker import to_lambda_event
from pipeline.settings import Settings
from pipeline.wiring import build_api, build_processor
from tests.images import encode, marked
from tests.terraform.conftest import Applied
from tests.terraform.permissions import (
    ALLOWED,
    Call,
    Recorder,
    Request,
    Stack,
    Verdict,
    platform_requests,
    presigned,
    requests_for,
    simulate,
    unused_grants,
)
from tests.terraform.tf import tflocal_plan, tflocal_reapply

ACCOUNT = "000000000000"  # MiniStack's account: the ARNs in the plan carry it
REGION = "us-east-1"
# The two functions' addresses (modules/function makes each).
PROCESSOR, API = "module.processor.aws_lambda_function.this", "module.api.aws_lambda_function.this"


def _needs_node() -> None:
    if shutil.which("node") is None:
        pytest.fail("the permission tests need node (the IAM simulator): install Node.js 18 or later")
    if not (Path(__file__).parents[1] / "iam" / "node_modules" / "@cloud-copilot" / "iam-simulate").exists():
        pytest.fail("the IAM simulator is not installed: run `make test` (npm ci in tests/iam)")


@dataclass
class Exercised:
    """What the Lambda paths did: the calls per function, and the presigned requests the API handed out."""

    calls: list[tuple[str, Call]]
    presigned: list[tuple[str, str, str, str]]  # (function, action, bucket, key)


def _event(bucket: str, key: str, name: str, sequencer: str, etag: str = "") -> dict[str, Any]:
    body = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": name,
                "s3": {
                    "bucket": {"name": bucket},
                    "object": {"key": quote_plus(key, safe="/"), "eTag": etag, "sequencer": sequencer},
                },
            }
        ]
    }
    record = {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "r",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
        "awsRegion": REGION,
    }
    return {"Records": [record]}


def _context() -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=str(uuid.uuid4()), get_remaining_time_in_millis=lambda: 60_000)


@pytest.fixture(scope="module")
def plan(applied: Applied) -> dict[str, Any]:
    _needs_node()
    return tflocal_plan(applied.workdir, applied.endpoint, applied.cli_config, applied.variables)


@pytest.fixture(scope="module")
def exercised(applied: Applied, plan: dict[str, Any]) -> Iterator[Exercised]:
    """Run every Lambda path once, in this process, with each function's own environment from the plan."""
    stack = Stack(plan, ACCOUNT, REGION)
    lam = boto3.client(
        "lambda", endpoint_url=applied.endpoint, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
    )
    # The deployed function would race this process for the queues' messages: its mappings are paused meanwhile.
    mappings = lam.list_event_source_mappings(FunctionName=stack.get(PROCESSOR)["arn"])["EventSourceMappings"]
    assert len(mappings) == 2, mappings  # the job queue and the variants queue
    for mapping in mappings:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    try:
        yield _exercise(applied, stack)
    finally:
        for mapping in mappings:
            lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)


def _exercise(applied: Applied, stack: Stack) -> Exercised:
    calls: list[tuple[str, Call]] = []
    env = {
        **stack.get(PROCESSOR)["environment"][0]["variables"],
        "AWS_ENDPOINT_URL": applied.endpoint,
    }
    settings = Settings.from_env(env)
    user = make_clients(settings).s3  # the uploader: not the function, not recorded
    clients = make_clients(settings)
    recorder = Recorder()
    for client in (clients.s3, clients.dynamodb, clients.sns, clients.sqs, clients.cloudfront):
        recorder.attach(client)
    processor = build_processor(settings, clients)
    bucket, run = settings.names.input_bucket, uuid.uuid4().hex[:6]
    good, bad, gone = f"uploads/perm-{run}/a.jpg", f"uploads/perm-{run}/bad.jpg", f"uploads/perm-{run}/gone.jpg"
    seq = iter(f"{n:016X}" for n in range(1, 100))

    def created(key: str, body: bytes | None) -> None:
        etag = user.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"') if body is not None else "e"
        out = handle_batch(_event(bucket, key, "ObjectCreated:Put", next(seq), etag), _context(), processor)
        assert out == {"batchItemFailures": []}, (key, out)

    created(good, encode(marked(640, 480), "JPEG"))  # processed: GET, renditions PUT, item writes, publish
    # ... and its AVIF asked for on the variants queue (SendMessage), made from the job as the mapping hands it over
    platform = make_clients(settings).sqs  # the event source mapping: its requests are the platform's
    jobs: list[Any] = []
    deadline = time.monotonic() + settings.timing.defer_delay_s + 20
    while not jobs and time.monotonic() < deadline:
        jobs = platform.receive_message(
            QueueUrl=settings.names.variants_queue_url, WaitTimeSeconds=2, AttributeNames=["All"]
        ).get("Messages", [])
    assert jobs, "the variants job never arrived"
    event = to_lambda_event(jobs, "arn:aws:sqs:variants", REGION)
    assert handle_batch(dict(event), _context(), processor) == {"batchItemFailures": []}
    item = build_processor(settings, make_clients(settings)).records.get(good)
    assert item is not None and {r.format for r in item.renditions} == {"JPEG", "WEBP", "AVIF"}, item
    created(f"uploads/perm-{run}/a.png", encode(marked(320, 240), "PNG"))
    created(bad, b"not an image at all")  # failed, recorded, published
    created(gone, None)  # deleted before it was processed: S3 must answer 404, not 403
    user.delete_object(Bucket=bucket, Key=good)  # removed: renditions deleted, tombstone, publish
    out = handle_batch(_event(bucket, good, "ObjectRemoved:Delete", next(seq)), _context(), processor)
    assert out == {"batchItemFailures": []}
    calls += [(PROCESSOR, c) for c in recorder.calls]

    api_env = {
        **stack.get(API)["environment"][0]["variables"],
        "AWS_ENDPOINT_URL": applied.endpoint,
    }
    api_settings = Settings.from_env(api_env)
    api_clients = make_clients(api_settings)
    api_recorder = Recorder()
    for client in (api_clients.s3, api_clients.dynamodb):
        api_recorder.attach(client)
    api = build_api(api_settings, api_clients)

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        raw = json.dumps(body).encode() if body else b""
        resp = api.handle(to_event(method, path, {"content-type": "application/json"}, raw))  # type: ignore[arg-type]
        assert resp["statusCode"] < 300, resp
        result: dict[str, Any] = json.loads(resp["body"])
        return result

    handed: list[tuple[str, str, str, str]] = []
    upload = call("POST", "/uploads", {"filename": "p.png", "contentType": "image/png", "size": 100})
    handed.append((API, "s3:PutObject", api_settings.names.input_bucket, upload["upload"]["fields"]["key"]))
    image = call("GET", f"/images/{_image_id(f'uploads/perm-{run}/a.png')}")
    cdn = api_settings.api.cdn_base_url
    for rendition in image["renditions"]:
        parts = urlsplit(rendition["url"])
        if cdn:
            # Served by CloudFront: the request S3 authorizes is the distribution's (a platform request).
            assert rendition["url"].startswith(cdn + "/") and "X-Amz-Signature" not in rendition["url"], rendition
            continue
        assert dict(parse_qsl(parts.query)).get("X-Amz-Signature"), rendition
        bucket_name, _, key = parts.path.lstrip("/").partition("/")
        handed.append((API, "s3:GetObject", bucket_name, _unquote(key)))
    assert image["renditions"]
    listed = call("GET", "/images?status=processed")
    assert listed["items"], listed
    calls += [(API, c) for c in api_recorder.calls]
    return Exercised(calls, handed)


def _image_id(key: str) -> str:
    from pipeline.http_api import image_id

    return image_id(key)


def _unquote(path: str) -> str:
    from urllib.parse import unquote

    return unquote(path)


def violations(stack: Stack, exercised: Exercised) -> list[str]:
    """Everything a real account would refuse, or grants beyond what the code needs; empty when all is right."""
    out: list[str] = []
    principals = {PROCESSOR: stack.role_principal(PROCESSOR), API: stack.role_principal(API)}
    identities = {principals[f]: stack.identity_policies(f) for f in principals}
    needed: list[Request] = []
    for fn, c in exercised.calls:
        needed += requests_for(c, principals[fn], stack)
    for fn, action, bucket, key in exercised.presigned:
        needed.append(presigned(principals[fn], action, bucket, key, "a presigned request the API handed out"))
    needed += platform_requests(stack)
    verdicts = simulate(needed, stack, identities)
    for v in verdicts:
        if v.decision != ALLOWED:
            r = v.request
            out.append(
                f"denied: {r.principal.rsplit('/', 2)[-2] if '/' in r.principal else r.principal} "
                f"{r.action} on {r.resource} ({r.why}) {v.errors or ''}".rstrip()
            )
    for p in principals.values():
        out += unused_grants(identities[p], verdicts, p)
    out += _must_be_denied(stack, principals, identities)
    for esm in stack.of_type("aws_lambda_event_source_mapping"):
        if "ReportBatchItemFailures" not in (esm.get("function_response_types") or []):
            out.append("the event source mapping ignores batchItemFailures: one bad image retries its whole batch")
    return out


def _must_be_denied(stack: Stack, principals: dict[str, str], identities: dict[str, list[dict[str, Any]]]) -> list[str]:
    """What least privilege means here, asked of the simulator: each must be refused."""
    inp = stack.get("aws_s3_bucket.input")["bucket"]
    outp = stack.get("aws_s3_bucket.output")["bucket"]
    queue = stack.get('aws_sqs_queue.this["jobs"]')["arn"]
    alerts = stack.get("aws_sns_topic.alerts")["arn"]
    key = stack.get("aws_kms_key.this")["arn"]
    proc, api = principals[PROCESSOR], principals[API]
    other_cdn = f"arn:aws:cloudfront::{ACCOUNT}:distribution/EOTHERDISTRIBUTION"
    probes = [
        Request(
            "cloudfront.amazonaws.com",
            "s3:GetObject",
            f"arn:aws:s3:::{outp}/large/x.jpg",
            {"aws:SourceArn": other_cdn, "aws:SourceAccount": ACCOUNT, "aws:SecureTransport": "true"},
            "another distribution reading renditions",
        ),
        Request(
            "cloudfront.amazonaws.com",
            "s3:GetObject",
            f"arn:aws:s3:::{inp}/uploads/x.jpg",
            {"aws:SourceArn": other_cdn, "aws:SourceAccount": ACCOUNT, "aws:SecureTransport": "true"},
            "the CDN reading originals",
        ),
        Request(
            "s3.amazonaws.com",
            "sqs:SendMessage",
            queue,
            {"aws:SourceArn": f"arn:aws:s3:::{outp}", "aws:SourceAccount": ACCOUNT},
            "another bucket's events",
        ),
        Request(
            "s3.amazonaws.com",
            "sqs:SendMessage",
            queue,
            {"aws:SourceArn": f"arn:aws:s3:::{inp}", "aws:SourceAccount": "111122223333"},
            "another account",
        ),
        Request(
            proc, "s3:GetObject", f"arn:aws:s3:::{inp}/uploads/x.jpg", {"aws:SecureTransport": "false"}, "plain HTTP"
        ),
        Request(
            proc,
            "s3:GetObject",
            f"arn:aws:s3:::{inp}/private/x.jpg",
            {"aws:SecureTransport": "true"},
            "outside the input prefix",
        ),
        Request(proc, "sns:Publish", alerts, {}, "the processor posting operator alerts"),
        Request(proc, "sqs:ChangeMessageVisibility", queue, {}, "visibility changes nobody makes"),
        Request(
            proc, "kms:Decrypt", key, {"kms:CallerAccount": ACCOUNT}, "the key used directly, not through a service"
        ),
        Request(
            api,
            "s3:PutObject",
            f"arn:aws:s3:::{inp}/uploads/other/x.jpg",
            {"aws:SecureTransport": "true"},
            "uploads outside uploads/web/",
        ),
        Request(
            api, "kms:GenerateDataKey", key, {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}, "the API publishing"
        ),
    ]
    verdicts: list[Verdict] = simulate(probes, stack, identities)
    return [
        f"allowed but must not be: {v.request.action} on {v.request.resource} ({v.request.why})"
        for v in verdicts
        if v.decision == ALLOWED
    ]


def test_every_call_allowed_and_every_grant_used(plan: dict[str, Any], exercised: Exercised) -> None:
    # GIVEN the calls the handler and the API made on every path (processed, failed, missing, removed, API)
    ops = {(fn, c.service, c.operation) for fn, c in exercised.calls}
    assert {
        (PROCESSOR, "s3", "GetObject"),
        (PROCESSOR, "s3", "PutObject"),
        (PROCESSOR, "s3", "DeleteObject"),
        (PROCESSOR, "dynamodb", "UpdateItem"),
        (PROCESSOR, "sns", "Publish"),
        (API, "dynamodb", "Query"),
    } <= ops
    assert any(c.status == 404 for fn, c in exercised.calls if c.service == "s3"), "the missing-source path ran"
    # WHEN they are evaluated against the policies terraform renders
    found = violations(Stack(plan, ACCOUNT, REGION), exercised)
    # THEN AWS would allow each, and no grant is beyond what they need
    assert found == []


# The review's mutations: each breaks a real deployment (or widens it), and each must be caught.
MUTATIONS = {
    "report_batch_item_failures_removed": (
        "function.tf",
        r'function_response_types\s*=\s*\["ReportBatchItemFailures"\]',
        "function_response_types = []",
        "batchItemFailures",
    ),
    "kms_key_policy_without_cloudwatch": (
        "kms.tf",
        r'identifiers\s*=\s*\["cloudwatch\.amazonaws\.com"\]',
        'identifiers = ["events.amazonaws.com"]',
        "an encrypted topic",
    ),
    "queue_policy_source_arn_is_output_bucket": (
        "queue.tf",
        r"values\s*=\s*\[aws_s3_bucket\.input\.arn\]",
        "values = [aws_s3_bucket.output.arn]",
        "S3 sends its events",
    ),
    "processor_without_update_item": ("iam.tf", r'"dynamodb:UpdateItem",?\s*', "", "dynamodb:UpdateItem"),
    "processor_without_list_bucket": ("iam.tf", r'"s3:ListBucket"', '"s3:GetBucketLocation"', "missing key"),
    "processor_list_bucket_only_below_prefix": (
        "iam.tf",
        r'(sid\s*=\s*"ListUploads"\n(\s*)actions\s*=\s*\["s3:ListBucket"\]\n\s*resources\s*=\s*\[aws_s3_bucket\.input\.arn\])',
        r'\1\n\2condition {\n\2  test     = "StringLike"\n\2  variable = "s3:prefix"\n'
        r'\2  values   = ["uploads/*"]\n\2}',
        "missing key",
    ),
    "processor_may_publish_alerts": (
        "iam.tf",
        r"resources\s*=\s*\[aws_sns_topic\.results\.arn\]",
        "resources = [aws_sns_topic.results.arn, aws_sns_topic.alerts.arn]",
        "operator alerts",
    ),
    "api_may_put_anywhere_under_uploads": (
        "iam.tf",
        r"\$\{var\.input_prefix\}web/\*",
        "${var.input_prefix}*",
        "outside uploads/web/",
    ),
    "kms_without_via_service": (
        "iam.tf",
        r'\n(\s*)condition \{\n\s*test\s*=\s*"StringEquals"\n\s*variable\s*=\s*"kms:ViaService"\n[^\n]*\n\1\}',
        "",
        "not through a service",
    ),
    "bucket_policy_allows_plain_http": ("storage.tf", r'values\s*=\s*\["false"\]', 'values = ["maybe"]', "plain HTTP"),
    "alerts_topic_policy_without_cloudwatch": (
        "notifications.tf",
        r'identifiers\s*=\s*\["cloudwatch\.amazonaws\.com"\]',
        'identifiers = ["events.amazonaws.com"]',
        "notifies",
    ),
    "cdn_reads_with_any_distribution": (
        "storage.tf",
        r"values\s*=\s*\[aws_cloudfront_distribution\.renditions\[0\]\.arn\]",
        'values = ["*"]',
        "the CDN reads a rendition",
    ),
    "unused_grant_added": (
        "iam.tf",
        r'"dynamodb:GetItem", "dynamodb:PutItem"',
        '"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem"',
        "grants dynamodb:DeleteItem",
    ),
}


@pytest.fixture(scope="module")
def mutable(applied: Applied, exercised: Exercised) -> Iterator[Applied]:
    """The applied stack, put back to terraform/ as it is once the mutations are done."""
    yield applied
    tflocal_reapply(applied.workdir, applied.endpoint, applied.cli_config, applied.variables)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_mutation_of_terraform_is_caught(name: str, mutable: Applied, exercised: Exercised) -> None:
    # GIVEN terraform/ with one review finding put back
    file, pattern, replacement, expected = MUTATIONS[name]
    path = mutable.workdir / file
    original = path.read_text()
    mutated, n = re.subn(pattern, replacement, original, count=1)
    assert n == 1, f"the mutation {name} no longer applies to {file}: update it with the code"
    path.write_text(mutated)
    try:
        # WHEN it is applied (a plan leaves policies that depend on a changed resource unknown) and evaluated
        state = tflocal_reapply(mutable.workdir, mutable.endpoint, mutable.cli_config, mutable.variables)
        found = violations(Stack(state, ACCOUNT, REGION), exercised)
    finally:
        path.write_text(original)
    # THEN the checks name it
    assert any(expected in v for v in found), f"{name} was not caught; found: {found}"
