"""Client garbage gets a 4xx with a JSON error body; 5xx only for real server faults. Checked as properties."""

from __future__ import annotations

import base64
import json
import socket
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.adapters.records import ImageRecords
from pipeline.http_api import Api, image_id
from pipeline.local.api_server import make_server, to_event
from tests.fakes import memory_records, unchanged
from tests.unit.test_api import SETTINGS, api, processed  # noqa: F401 - the fixture

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def answer(a: Api, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = a.handle(event)  # type: ignore[arg-type]
    body = json.loads(resp["body"])
    assert isinstance(body, dict) and resp["headers"]["Content-Type"] == "application/json"
    return resp["statusCode"], body


@pytest.mark.parametrize(
    "cursor",
    [
        b64(b"[1, 2]"),  # a JSON list: AttributeError, a 500
        b64(b'"text"'),  # a JSON string
        b64(json.dumps({"sourceKey": "uploads/a", "status": "failed", "updatedAt": "t"}).encode()),  # other status
        b64(json.dumps({"sourceKey": "uploads/a", "status": "processed", "updatedAt": 5}).encode()),  # edited
        b64(json.dumps({"sourceKey": "k" * 3000, "status": "processed", "updatedAt": "t"}).encode()),
        b64(b"[" * 5000 + b"]" * 5000),
        "!!!not base64!!!",
    ],
)
def test_bad_cursors_are_400(api: tuple[Api, ImageRecords], cursor: str) -> None:  # noqa: F811
    status, body = answer(api[0], to_event("GET", f"/images?status=processed&cursor={cursor}", {}, b""))
    assert status == 400 and "cursor" in body["error"]


def test_deeply_nested_body_is_400(api: tuple[Api, ImageRecords]) -> None:  # noqa: F811
    status, _ = answer(api[0], to_event("POST", "/uploads", {}, b"[" * 30000 + b"]" * 30000))
    assert status == 400


@pytest.mark.parametrize("length", [3000, 100_000])
def test_overlong_image_id_is_404(api: tuple[Api, ImageRecords], length: int) -> None:  # noqa: F811
    status, _ = answer(api[0], to_event("GET", "/images/" + b64(b"uploads/" + b"k" * length), {}, b""))
    assert status == 404


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "get", ""]),
    path=st.sampled_from(["/uploads", "/images", "/images/", "/", "/x"]) | st.text(max_size=60).map(lambda t: "/" + t),
    image=st.binary(max_size=2000).map(b64) | st.text(max_size=40),
    query=st.dictionaries(st.sampled_from(["status", "limit", "cursor", "x"]), st.text(max_size=30), max_size=4),
    cursor=JSON.map(lambda v: b64(json.dumps(v).encode())),
    body=JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200),
    b64_body=st.booleans(),
)
def test_no_client_input_gets_a_5xx_or_an_exception(
    api: tuple[Api, ImageRecords],  # noqa: F811
    method: str,
    path: str,
    image: str,
    query: dict[str, str],
    cursor: str,
    body: bytes,
    b64_body: bool,
) -> None:
    a, _ = api
    events = [
        to_event(method or "GET", path, {}, body),
        to_event("GET", "/images/" + image, {}, b""),
        {**to_event("GET", "/images", {}, b""), "queryStringParameters": {**query, "status": "processed"}},
        {**to_event("GET", "/images", {}, b""), "queryStringParameters": {"status": "failed", "cursor": cursor}},
        {**to_event("POST", "/uploads", {}, b""), "body": body.decode("latin-1"), "isBase64Encoded": b64_body},
    ]
    for event in events:
        status, body_json = answer(a, event)
        assert 200 <= status < 500 and ("error" in body_json or status < 300), (status, body_json)


def test_the_local_server_answers_bad_content_length_with_400() -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    with memory_records(SETTINGS) as records:
        assert records.write(unchanged(processed("uploads/a"), None))
        server = make_server(Api(SETTINGS, s3, records), port=0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            for value in ("abc", "-1", "1e3"):
                host, port = str(server.server_address[0]), int(server.server_address[1])
                with socket.create_connection((host, port), timeout=5) as sock:
                    sock.sendall(f"POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\n{{}}".encode())
                    reply = sock.recv(4096).decode()
                assert reply.startswith("HTTP/1.0 400") or reply.startswith("HTTP/1.1 400"), (value, reply[:80])
                assert "Content-Length" in reply
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
    assert image_id("uploads/a")
