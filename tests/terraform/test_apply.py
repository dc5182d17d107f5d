"""terraform/ applied with tflocal to a real emulator: no drift from `pipeline bootstrap`, and the zip runs."""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any

import pytest

from pipeline import wiring
from pipeline.aws import Clients, make_clients
from pipeline.e2e import is_complete
from pipeline.local.bootstrap import bootstrap
from pipeline.settings import Settings
from tests.e2e.helpers import wait_for
from tests.images import encode, marked
from tests.terraform.conftest import Applied
from tests.terraform.tf import blocks


def _describe(
    clients: Clients,
    *,
    queue: str,
    dlq: str,
    variants: str,
    input_bucket: str,
    output_bucket: str,
    table: str,
    results: str,
    alerts: str,
    alarm: str,
) -> dict[str, Any]:
    """The attributes both ways of creating the stack must agree on, with names taken out."""
    sqs = clients.sqs
    q_url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    d_url = sqs.get_queue_url(QueueName=dlq)["QueueUrl"]
    q = sqs.get_queue_attributes(QueueUrl=q_url, AttributeNames=["All"])["Attributes"]
    d = sqs.get_queue_attributes(QueueUrl=d_url, AttributeNames=["All"])["Attributes"]
    v_url = sqs.get_queue_url(QueueName=variants)["QueueUrl"]
    v = sqs.get_queue_attributes(QueueUrl=v_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(q["RedrivePolicy"])
    notif = clients.s3.get_bucket_notification_configuration(Bucket=input_bucket)["QueueConfigurations"]
    t = clients.dynamodb.describe_table(TableName=table)["Table"]
    ttl = clients.dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    [a] = clients.cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    topics = {t["TopicArn"] for t in clients.sns.list_topics()["Topics"]}
    keys = ("VisibilityTimeout", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "SqsManagedSseEnabled")
    attrs: dict[str, str] = {str(k): val for k, val in q.items()}
    v_attrs: dict[str, str] = {str(k): val for k, val in v.items()}
    return {
        "queue": {k: attrs.get(k) for k in keys},
        "redrive": {
            "maxReceiveCount": int(redrive["maxReceiveCount"]),
            "to_own_dlq": redrive["deadLetterTargetArn"] == d["QueueArn"],
        },
        "dlq": {k: d.get(k) for k in ("MessageRetentionPeriod", "SqsManagedSseEnabled")},
        # The deferred variants' queue: the job queue's numbers, into the same DLQ.
        "variants": {
            **{k: v_attrs.get(k) for k in keys},
            "redrive": json.loads(v["RedrivePolicy"])["deadLetterTargetArn"] == d["QueueArn"],
        },
        "notification": [
            {
                "events": sorted(n["Events"]),
                "filter": [{r["Name"].lower(): r["Value"]} for r in n["Filter"]["Key"]["FilterRules"]],
                "to_own_queue": n["QueueArn"] == q["QueueArn"],
            }
            for n in notif
        ],
        "table": {
            "keys": t["KeySchema"],
            "attributes": sorted(t["AttributeDefinitions"], key=lambda x: x["AttributeName"]),
            "billing": t.get("BillingModeSummary", {}).get("BillingMode", "PAY_PER_REQUEST"),
            "indexes": sorted(
                (
                    {"name": g["IndexName"], "keys": g["KeySchema"], "projection": g["Projection"]}
                    for g in t.get("GlobalSecondaryIndexes", [])
                ),
                key=lambda g: str(g["name"]),
            ),
            "ttl": [ttl.get("AttributeName"), ttl.get("TimeToLiveStatus")],
        },
        "topics": [results in topics, alerts in topics],
        "buckets": {
            "input_versioning": clients.s3.get_bucket_versioning(Bucket=input_bucket).get("Status"),
            "output_versioning": clients.s3.get_bucket_versioning(Bucket=output_bucket).get("Status"),
            "sse": [
                clients.s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"][0][
                    "ApplyServerSideEncryptionByDefault"
                ]["SSEAlgorithm"]
                for b in (input_bucket, output_bucket)
            ],
        },
        "dlq_alarm": {
            **{
                k: a.get(k)
                for k in (
                    "Namespace",
                    "MetricName",
                    "Statistic",
                    "Period",
                    "EvaluationPeriods",
                    "Threshold",
                    "ComparisonOperator",
                    "TreatMissingData",
                )
            },
            "dimension": [(x["Name"], x["Value"] == dlq) for x in a["Dimensions"]],
            "actions": [a["AlarmActions"] == [alerts], a["OKActions"] == [alerts]],
        },
    }


def test_no_drift_between_terraform_and_bootstrap(applied: Applied) -> None:
    out = applied.outputs
    settings = Settings.from_env({"AWS_ENDPOINT_URL": applied.endpoint, "NAME_PREFIX": f"bs{uuid.uuid4().hex[:8]}"})
    clients = make_clients(settings)
    stack = bootstrap(settings, clients)
    from_terraform = _describe(
        clients,
        queue=out["queue_name"],
        dlq=out["dlq_name"],
        variants=out["variants_queue_url"].rsplit("/", 1)[-1],
        input_bucket=out["input_bucket_name"],
        output_bucket=out["output_bucket_name"],
        table=out["table_name"],
        results=out["results_topic_arn"],
        alerts=out["alerts_topic_arn"],
        alarm=out["dlq_alarm_name"],
    )
    from_bootstrap = _describe(
        clients,
        queue=settings.names.queue_name,
        dlq=settings.names.dlq_name,
        variants=settings.names.variants_queue_name,
        input_bucket=settings.names.input_bucket,
        output_bucket=settings.names.output_bucket,
        table=settings.names.table_name,
        results=stack.results_topic_arn,
        alerts=stack.alerts_topic_arn,
        alarm=settings.names.dlq_alarm_name,
    )
    assert from_bootstrap == from_terraform
    # and the values are the intended ones, not merely equal
    assert from_terraform["queue"]["VisibilityTimeout"] == "360" and from_terraform["redrive"]["maxReceiveCount"] == 3
    assert from_terraform["notification"][0]["filter"] == [{"prefix": "uploads/"}]
    assert from_terraform["variants"] == {**from_terraform["queue"], "redrive": True}


def test_the_deployed_zip_processes_an_upload(applied: Applied) -> None:
    # GIVEN the stack terraform made, whose queue the emulator's Lambda service consumes with the deployed zip
    out = applied.outputs
    env = {**out["handler_environment"], "AWS_ENDPOINT_URL": applied.endpoint}
    settings = Settings.from_env(env)
    clients = make_clients(settings)
    key = "uploads/lambda/zip test.jpg"
    # WHEN an image is uploaded (no local worker is running)
    clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(1200, 900), "JPEG"))
    # THEN the function records it processed, with real renditions in the output bucket: the fallback and WebP
    # in line, and the AVIF from the variants queue, through the second event source mapping, by the same zip
    assert settings.imaging.deferred == ("AVIF",)
    records = wiring.records(settings, clients)
    item = wait_for(
        lambda: (i := records.get(key)) and is_complete(i, settings.imaging.deferred) and i,
        timeout=120,
        what="the Lambda to process the upload and then make its AVIF",
    )
    from PIL import Image

    sizes = {}
    for r in item.renditions:
        body = clients.s3.get_object(Bucket=settings.names.output_bucket, Key=r.key)["Body"].read()
        with Image.open(io.BytesIO(body)) as im:
            sizes[(r.name, im.format)] = im.size
    assert sizes == {
        (name, fmt): size
        for name, size in {"large": (800, 600), "medium": (400, 300), "thumb": (150, 113)}.items()
        for fmt in ("JPEG", *settings.imaging.variants)
    }


def test_the_deployed_api_function_answers(applied: Applied) -> None:
    # The emulator's API Gateway host names need wildcard DNS, so call the API function as API Gateway would.
    import boto3

    from pipeline.local.api_server import to_event

    out = applied.outputs
    lam = boto3.client(
        "lambda",
        endpoint_url=applied.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        event = to_event(method, path, {"content-type": "application/json"}, json.dumps(body).encode() if body else b"")
        resp = lam.invoke(FunctionName=out["api_function_name"], Payload=json.dumps(event).encode())
        result: dict[str, Any] = json.loads(resp["Payload"].read())
        return result

    created = call("POST", "/uploads", {"filename": "a.png", "contentType": "image/png", "size": 100})
    assert created["statusCode"] == 201, created
    body = json.loads(created["body"])
    assert body["key"].startswith("uploads/web/") and body["upload"]["fields"]["Content-Type"] == "image/png"
    refused = call("POST", "/uploads", {"filename": "a.exe", "contentType": "application/x-msdownload", "size": 1})
    assert refused["statusCode"] == 415
    assert out["api_endpoint"]


# What a browser's SigV4 signer asks to send in its preflight (aws4fetch and the AWS SDK for JavaScript v3).
SIGNER_HEADERS = "authorization,content-type,x-amz-content-sha256,x-amz-date,x-amz-security-token"


def _through_gateway(
    applied: Applied, method: str, path: str, headers: dict[str, str], body: bytes = b"", *, sign: bool = True
) -> tuple[int, dict[str, str], bytes]:
    """A request to the HTTP API through the emulator's API Gateway (its path form: no wildcard DNS needed)."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    api_id = applied.outputs["api_endpoint"].split("//", 1)[1].split(".", 1)[0]
    url = f"{applied.endpoint}/_aws/execute-api/{api_id}/$default{path}"
    if sign:  # the routes are AWS_IAM: signed as a browser's signer signs, with a session token
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(Credentials("test", "test", "session-token"), "execute-api", "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    req = urllib.request.Request(url, data=body or None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def test_browser_requests_through_the_api_gateway(applied: Applied) -> None:
    # Until now the API function was only invoked with an event we made: the gateway's own event (format 2.0, the
    # route, the path without the stage), its CORS preflight and its IAM routes were never exercised.
    origin = applied.variables["cors_allow_origin"]
    preflight = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": SIGNER_HEADERS,
    }
    status, headers, _ = _through_gateway(applied, "OPTIONS", "/uploads", preflight, sign=False)
    assert status in (200, 204), headers
    assert headers["access-control-allow-origin"] == origin
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert set(SIGNER_HEADERS.split(",")) <= allowed
    assert "POST" in headers["access-control-allow-methods"]
    elsewhere = {**preflight, "Origin": "https://evil.example.net"}
    assert (
        "access-control-allow-origin" not in _through_gateway(applied, "OPTIONS", "/uploads", elsewhere, sign=False)[1]
    )

    upload = json.dumps({"filename": "cat.png", "contentType": "image/png", "size": 100}).encode()
    json_headers = {"Content-Type": "application/json", "Origin": origin}
    status, headers, body = _through_gateway(applied, "POST", "/uploads", json_headers, upload)
    assert status == 201, body
    created = json.loads(body)
    assert created["key"].startswith("uploads/web/") and created["upload"]["fields"]["Content-Type"] == "image/png"
    assert headers["content-type"].startswith("application/json")
    # The image's own route, by the id the upload was given: the path parameter as the gateway passes it.
    status, _, body = _through_gateway(applied, "GET", f"/images/{created['id']}", {"Origin": origin})
    assert status == 404, body  # nothing uploaded under it yet: the function's own answer, not the gateway's
    assert json.loads(body) == {
        "id": created["id"],
        "key": created["key"],
        "status": "pending",
        "error": "not processed yet",
    }
    unsigned, _, _ = _through_gateway(applied, "POST", "/uploads", json_headers, upload, sign=False)
    assert unsigned == 403  # AWS_IAM routes refuse a request without a signature before the function runs


def test_the_deployed_zip_is_the_lambda_runtime_artifact(applied: Applied) -> None:
    # The zip that processed an upload above is make build's x86_64 artifact only where MiniStack (which runs
    # functions on its own Python) runs on the runtime's Python: its compiled wheels then match python3.12.
    import zipfile

    from tests.terraform.conftest import ministack_python

    runtime = blocks("variable")[("lambda_runtime",)]["default"]
    version = ministack_python()
    if f"python{version}" != runtime:
        pytest.skip(f"MiniStack runs on Python {version}, not {runtime}: install Python 3.12 (make emulators uses it)")
    with zipfile.ZipFile(applied.variables["lambda_zip_path"]) as z:
        names = z.namelist()
    tag = version.replace(".", "")
    assert any(n.startswith("PIL/_imaging.cpython-" + tag) for n in names), "the zip carries CPython 3.12 wheels"
    assert "pipeline/handler.py" in names and not any(n.startswith("pipeline/local/") for n in names)
    # The SDK is bundled on purpose: the client factory uses botocore >= 1.36 options that older runtime SDKs
    # refuse (bench/cold_start.py; docs/performance.md).
    assert "boto3/__init__.py" in names and "botocore/config.py" in names


# The Accept header a browser sends for an <img>: Chrome (AVIF), Safari 15 (WebP), and a client naming no image type.
VIEWERS = {
    "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8": "image/avif",
    "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5": "image/webp",
    "*/*": "image/jpeg",
}


def _through_cdn(applied: Applied, domain: str, url: str, accept: str) -> tuple[int, dict[str, str], bytes]:
    """A viewer's GET of a CDN URL, through the emulator's CloudFront (its data plane, named by the Host header)."""
    import http.client
    from urllib.parse import urlsplit

    parts, endpoint = urlsplit(url), urlsplit(applied.endpoint)
    conn = http.client.HTTPConnection(endpoint.hostname or "127.0.0.1", endpoint.port, timeout=60)
    try:
        # The emulator speaks plain HTTP: X-Forwarded-Proto says the viewer came over HTTPS (else the behaviour's
        # redirect-to-https answers 301, as CloudFront would).
        headers = {"Host": domain, "Accept": accept, "X-Forwarded-Proto": "https"}
        conn.request("GET", f"{parts.path}?{parts.query}" if parts.query else parts.path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_each_size_url_serves_each_browser_its_format_and_a_deletion_is_invalidated(applied: Applied) -> None:
    # GIVEN the stack with the CDN (cdn_enabled), its viewer-request function and the deployed zip processing
    import boto3

    from pipeline.adapters.edge import edge_path
    from pipeline.http_api import image_id
    from pipeline.local.api_server import to_event

    out = applied.outputs
    settings = Settings.from_env({**out["handler_environment"], "AWS_ENDPOINT_URL": applied.endpoint})
    clients = make_clients(settings)
    domain, distribution = out["cdn_domain_name"], settings.names.cdn_distribution_id
    assert domain and distribution
    key = f"uploads/cdn/{uuid.uuid4().hex[:8]} photo.jpg"
    clients.s3.put_object(Bucket=settings.names.input_bucket, Key=key, Body=encode(marked(1200, 900), "JPEG"))
    records = wiring.records(settings, clients)
    item = wait_for(
        lambda: (i := records.get(key)) and is_complete(i, settings.imaging.deferred) and i,
        timeout=120,
        what="the Lambda to process the upload and make its AVIF",
    )
    lam = boto3.client("lambda", endpoint_url=applied.endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    event = to_event("GET", f"/images/{image_id(key)}", {}, b"")
    answer = json.loads(lam.invoke(FunctionName=out["api_function_name"], Payload=json.dumps(event))["Payload"].read())
    image = json.loads(answer["body"])
    # WHEN each browser asks for the large size's one URL
    large = image["sizeUrls"]["large"]
    assert large.startswith(f"https://{domain}/large.v/") and large.endswith("?formats=jpg,webp,avif"), large
    objects = {r.content_type: r for r in item.renditions if r.name == "large"}
    for accept, content_type in VIEWERS.items():
        _, headers, body = _through_cdn(applied, domain, large, accept)
        # THEN the deployed function sent the edge to the object of the best format the browser names, the very
        # key the record lists, and the answer says it varies by Accept. The emulator takes an origin fetch's
        # aws:SecureTransport from the viewer's connection (plain HTTP here; HTTPS at AWS, where viewers are
        # redirected to it) and only when its IAM enforcement is on, so the bucket's HTTPS-only policy refuses the
        # read: S3's refusal names the key the edge asked for. That the distribution may read is proven by the
        # permission tests (test_permissions.py, with SecureTransport as at AWS); the bytes' Cache-Control by the
        # storage adapter's test on the emulator.
        asked = re.search(rb"<Resource>/[^/<]+/([^<]+)</Resource>", body)
        assert asked is not None, (accept, headers, body[:300])
        assert asked.group(1).decode() == objects[content_type].key, accept
        assert "accept" in headers.get("vary", "").lower(), headers
    # WHEN the source is deleted
    clients.s3.delete_object(Bucket=settings.names.input_bucket, Key=key)
    wait_for(lambda: (i := records.get(key)) and i.status.value == "deleted", timeout=60, what="the removal")
    # THEN every path the API handed out was invalidated at the distribution, and the objects are gone
    cloudfront = clients.cloudfront
    listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items", [])
    paths = set()
    for inv in listed:
        got = cloudfront.get_invalidation(DistributionId=distribution, Id=inv["Id"])["Invalidation"]
        paths |= set(got["InvalidationBatch"]["Paths"]["Items"])
    assert {edge_path(r.key) for r in item.renditions} <= paths
    gone = clients.s3.list_objects_v2(Bucket=settings.names.output_bucket, Prefix="large.v/").get("Contents", [])
    assert not {r.key for r in item.renditions} & {o["Key"] for o in gone}
