"""The upload API against a real emulator: presigned POST, status with rendition URLs, listing, refusals."""

from __future__ import annotations

import io
import json
import urllib.request
from typing import Any

import pytest
import urllib3
from PIL import Image

from pipeline.http_api import Api, image_id
from pipeline.local.api_server import to_event
from pipeline.wiring import build_api
from tests.conftest import StackFixture
from tests.e2e.helpers import running_worker, wait_for
from tests.images import encode, marked


def call(api: Api, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode() if body is not None else b""
    resp = api.handle(to_event(method, path, {"content-type": "application/json"}, raw))  # type: ignore[arg-type]
    assert resp["headers"]["Content-Type"] == "application/json"
    return resp["statusCode"], json.loads(resp["body"])


def post_form(url: str, fields: dict[str, str], data: bytes, filename: str) -> int:
    body, ctype = urllib3.encode_multipart_formdata([*fields.items(), ("file", (filename, data))])
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"filename": "x.exe", "contentType": "application/x-msdownload", "size": 10}, 415, "not allowed"),
        ({"filename": "x.svg", "contentType": "image/svg+xml", "size": 10}, 415, "not allowed"),
        ({"filename": "x.jpg", "contentType": "image/jpeg", "size": 10**9}, 413, "over the limit"),
        ({"filename": "x.jpg", "contentType": "image/jpeg", "size": 0}, 400, "size"),
        ({"filename": "x.jpg", "contentType": "image/jpeg", "size": "12"}, 400, "size"),
        ({"contentType": "image/jpeg", "size": 12}, 400, "filename"),
    ],
)
def test_refused_uploads(session_stack: StackFixture, body: dict[str, Any], status: int, says: str) -> None:
    settings, clients, _ = session_stack
    code, out = call(build_api(settings, clients), "POST", "/uploads", body)
    assert code == status and says in out["error"]


def test_bad_requests_are_json_4xx(session_stack: StackFixture) -> None:
    settings, clients, _ = session_stack
    api = build_api(settings, clients)
    resp = api.handle(to_event("POST", "/uploads", {}, b"not json"))  # type: ignore[arg-type]
    assert resp["statusCode"] == 400 and "JSON" in json.loads(resp["body"])["error"]
    assert call(api, "GET", "/images?status=sideways")[0] == 400
    assert call(api, "GET", "/images?status=failed&cursor=%%%")[0] == 400
    assert call(api, "GET", "/nowhere")[0] == 404
    assert call(api, "GET", "/images/" + image_id("elsewhere/x.jpg"))[0] == 404


@pytest.mark.stack(visibility_timeout_s=30)
def test_upload_through_presigned_post_then_status_and_listing(fresh_stack: StackFixture) -> None:
    settings, clients, _ = fresh_stack
    api = build_api(settings, clients)
    with running_worker(settings, clients):
        # GIVEN a presigned POST for a JPEG
        code, created = call(
            api, "POST", "/uploads", {"filename": "../holiday photo.jpg", "contentType": "image/jpeg", "size": 5000}
        )
        assert code == 201 and created["key"].startswith(f"{settings.names.input_prefix}web/")
        assert created["key"].endswith("/holiday photo.jpg") and ".." not in created["key"]
        fields = created["upload"]["fields"]
        assert fields["Content-Type"] == "image/jpeg" and "x-amz-signature" in {k.lower() for k in fields}
        # WHEN the browser posts the file straight to S3
        assert post_form(created["upload"]["url"], fields, encode(marked(1200, 900), "JPEG"), "photo.jpg") in (
            200,
            201,
            204,
        )
        # THEN the image's status ends processed, with URLs that serve the renditions
        image = wait_for(
            lambda: (
                (r := call(api, "GET", f"/images/{created['id']}"))[0] == 200 and r[1]["status"] == "processed" and r[1]
            ),
            timeout=40,
            what="processing",
        )
        assert image["original"]["width"] == 1200
        for r in image["renditions"]:
            with urllib.request.urlopen(r["url"], timeout=10) as resp:
                data = resp.read()
            with Image.open(io.BytesIO(data)) as im:
                assert im.size == (r["width"], r["height"])
        # and a bad upload is listed among the failed ones, a page at a time
        for i in range(2):
            _, bad = call(api, "POST", "/uploads", {"filename": f"bad{i}.png", "contentType": "image/png", "size": 20})
            assert post_form(bad["upload"]["url"], bad["upload"]["fields"], b"not a png at all....", "bad.png") < 300
            bad_id = str(bad["id"])

            def failed(image: str = bad_id) -> bool:
                return bool(call(api, "GET", f"/images/{image}")[1].get("status") == "failed")

            wait_for(failed, timeout=40, what="the bad upload to fail")
    code, page1 = call(api, "GET", "/images?status=failed&limit=1")
    assert code == 200 and len(page1["items"]) == 1 and page1["cursor"]
    _, page2 = call(api, "GET", f"/images?status=failed&limit=1&cursor={page1['cursor']}")
    assert len(page2["items"]) == 1 and page2["items"][0]["key"] != page1["items"][0]["key"]
    assert page1["items"][0]["error"]["code"] == "unsupported_format"
