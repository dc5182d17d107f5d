"""The upload API's rules, without a network: presigning is computed locally, records come from moto in process."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest

from pipeline import formats
from pipeline.adapters.records import ImageRecords
from pipeline.domain import ImageRecord, Kind, Original, Status, StoredRendition, Version
from pipeline.http_api import Api, image_id, key_of
from pipeline.local.api_server import to_event
from pipeline.settings import Settings
from tests.fakes import memory_records, offline_client, unchanged

SETTINGS = Settings.from_env({"NAME_PREFIX": "unit", "MAX_BYTES": "1000"})


def processed(key: str, *renditions: StoredRendition, original: Original | None = None) -> ImageRecord:
    """A processed record of a key, as the processor leaves one."""
    version = Version(Kind.CREATED, "1".rjust(32, "0"), "e1", "")
    return ImageRecord(key, "in", Status.PROCESSED, version, renditions=renditions, original=original)


@pytest.fixture
def api() -> Iterator[tuple[Api, ImageRecords]]:
    s3 = offline_client("s3", "http://127.0.0.1:9", signature_version="s3v4", s3={"addressing_style": "path"})
    with memory_records(SETTINGS) as records:
        yield Api(SETTINGS, s3, records), records


def call(api: Api, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    resp = api.handle(to_event(method, path, {}, raw))  # type: ignore[arg-type]
    return resp["statusCode"], json.loads(resp["body"])


def test_presigned_post_is_limited_to_the_type_and_size(api: tuple[Api, ImageRecords]) -> None:
    a, _ = api
    code, out = call(
        a,
        "POST",
        "/uploads",
        {"filename": "C:\\\\photos\\\\../my photo?.JPG", "contentType": "image/jpeg", "size": 1000},
    )
    assert code == 201
    assert out["key"].startswith("uploads/web/") and out["key"].endswith("/my photo_.JPG")
    policy = json.loads(base64.b64decode(out["upload"]["fields"]["policy"]))
    assert {"Content-Type": "image/jpeg"} in policy["conditions"]
    assert ["content-length-range", 1, 1000] in policy["conditions"]
    assert out["upload"]["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert key_of(out["id"]) == out["key"]


def test_with_a_cdn_rendition_urls_are_the_cdns_and_unsigned() -> None:
    # GIVEN an API whose output bucket is fronted by CloudFront (terraform's cdn_enabled sets CDN_BASE_URL)
    settings = Settings.from_env({"NAME_PREFIX": "unit", "CDN_BASE_URL": "https://d111.cloudfront.net/"})
    key = "uploads/web/x/a photo#1.jpg"
    thumb = StoredRendition("thumb", "out", "thumb/web/x/a photo#1.jpg.jpg", 150, 100, 999, "image/jpeg", "e")
    with memory_records(settings) as records:
        assert records.write(unchanged(processed(key, thumb), None))
        a = Api(settings, boto3.client("s3", region_name="us-east-1"), records)
        # WHEN an image is asked for
        code, out = call(a, "GET", f"/images/{image_id(key)}")
    # THEN its rendition URL is the CDN's, path-quoted, with no S3 signature in it
    assert code == 200
    assert out["renditions"][0]["url"] == "https://d111.cloudfront.net/thumb/web/x/a%20photo%231.jpg.jpg"
    # and a record written before keys carried their version has no per-size URL (its formats' paths differ)
    assert out["sizeUrls"] == {}


def test_with_a_cdn_each_size_has_one_url_naming_its_formats_default_first() -> None:
    settings = Settings.from_env({"NAME_PREFIX": "unit", "CDN_BASE_URL": "https://d111.cloudfront.net"})
    key = "uploads/web/x/a photo.png"
    base = "{}.v/0123456789abcdef/web/x/a photo.png"
    made = [
        ("large", "PNG", ".png"), ("large", "WEBP", ".webp"), ("large", "AVIF", ".avif"),
        ("thumb", "AVIF", ".avif"), ("thumb", "WEBP", ".webp"),  # a size written without the fallback
    ]  # fmt: skip
    renditions = [StoredRendition(n, "out", base.format(n) + ext, 1, 1, 1, "image/x", "e", f) for n, f, ext in made]
    with memory_records(settings) as records:
        assert records.write(unchanged(processed(key, *renditions), None))
        code, out = call(
            Api(settings, boto3.client("s3", region_name="us-east-1"), records), "GET", f"/images/{image_id(key)}"
        )
    assert code == 200
    assert out["sizeUrls"] == {
        "large": "https://d111.cloudfront.net/large.v/0123456789abcdef/web/x/a%20photo.png?formats=png,webp,avif",
        "thumb": "https://d111.cloudfront.net/thumb.v/0123456789abcdef/web/x/a%20photo.png?formats=webp,avif",
    }


def test_without_a_cdn_there_is_no_per_size_url(api: tuple[Api, ImageRecords]) -> None:
    a, records = api
    key = "uploads/web/x/p.jpg"
    large = StoredRendition(
        "large", "out", "large.v/0123456789abcdef/web/x/p.jpg.jpg", 1, 1, 1, "image/jpeg", "e", "JPEG"
    )
    assert records.write(unchanged(processed(key, large), None))
    code, out = call(a, "GET", f"/images/{image_id(key)}")
    assert code == 200 and out["sizeUrls"] == {} and "X-Amz-Signature" in out["renditions"][0]["url"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"filename": "a.jpg", "contentType": "text/html", "size": 10}, 415),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "size": 1001}, 413),
        ({"filename": "a.jpg", "contentType": "image/jpeg", "size": True}, 400),
        ({"filename": "", "contentType": "image/jpeg", "size": 10}, 400),
        (b"{not json", 400),
        (b"[1, 2]", 400),
    ],
)
def test_bad_upload_requests_are_refused_with_a_json_reason(
    api: tuple[Api, ImageRecords], body: Any, status: int
) -> None:
    code, out = call(api[0], "POST", "/uploads", body)
    assert code == status and out["error"]


def listed(api: tuple[Api, ImageRecords], key: str, written: list[tuple[str, str]], source: str) -> list[Any]:
    """The API's renditions of a processed record with these (size, format) renditions, in the order written."""
    a, records = api
    rends = [
        StoredRendition(size, "out", f"{size}/{f}", 1, 1, 1, formats.BY_NAME[f].content_type, "e", f)
        for size, f in written
    ]
    original = Original(10, 10, source, formats.BY_NAME[source].content_type, 500, 1, False)
    assert records.write(unchanged(processed(key, *rends, original=original), None))
    _, out = call(a, "GET", f"/images/{image_id(key)}")
    return list(out["renditions"])


def test_each_size_lists_its_fallback_then_the_variants_best_first(api: tuple[Api, ImageRecords]) -> None:
    # The page builds each <picture> in this order (a browser takes the first <source> it can show): the order
    # comes from the format table, not from when each variant was written (the deferred AVIF comes last).
    key = "uploads/web/x/order.jpg"
    written = [(size, f) for f in ("JPEG", "WEBP") for size in ("large", "thumb")] + [
        ("large", "AVIF"),
        ("thumb", "AVIF"),
    ]
    out = {"renditions": listed(api, key, written, "JPEG")}
    best_first = [f.name for f in formats.VARIANTS]
    for size in ("large", "thumb"):
        assert [r["format"] for r in out["renditions"] if r["name"] == size] == ["JPEG", *best_first]
    assert [r["name"] for r in out["renditions"]][:2] == ["large", "thumb"]  # the sizes keep their order


def test_a_still_webp_lists_its_webp_fallback_before_the_avif(api: tuple[Api, ImageRecords]) -> None:
    # A still WebP's fallback is WebP: it once sorted after the deferred AVIF, so the page showed the AVIF in the <img>
    # and offered the fallback as a <source>. The fallback is the record's first rendition's format, whatever it is.
    key = "uploads/web/x/order.webp"
    written = [("large", "WEBP"), ("thumb", "WEBP"), ("large", "AVIF"), ("thumb", "AVIF"), ("medium", "AVIF")]
    written.insert(2, ("medium", "WEBP"))
    out = {"renditions": listed(api, key, written, "WEBP")}
    for size in ("large", "medium", "thumb"):
        assert [r["format"] for r in out["renditions"] if r["name"] == size] == ["WEBP", "AVIF"]
    assert out["renditions"][0]["name"] == "large"


def test_image_status_carries_rendition_urls(api: tuple[Api, ImageRecords]) -> None:
    a, records = api
    key = "uploads/web/x/p.jpg"
    thumb = StoredRendition("thumb", "out", "thumb/web/x/p.jpg", 1, 1, 100, "image/jpeg", "e")
    assert records.write(
        unchanged(processed(key, thumb, original=Original(10, 10, "JPEG", "image/jpeg", 500, 1, False)), None)
    )
    code, out = call(a, "GET", f"/images/{image_id(key)}")
    assert code == 200 and out["status"] == "processed"
    assert "/out/thumb/web/x/p.jpg?" in out["renditions"][0]["url"] and "X-Amz-Signature" in out["renditions"][0]["url"]
    pending = call(a, "GET", f"/images/{image_id('uploads/web/y/q.jpg')}")
    assert pending == (
        404,
        {
            "id": image_id("uploads/web/y/q.jpg"),
            "key": "uploads/web/y/q.jpg",
            "status": "pending",
            "error": "not processed yet",
        },
    )
    assert call(a, "GET", "/images/!!!")[0] == 404
    assert call(a, "DELETE", "/images/abc")[0] == 404


def test_processed_says_whether_more_formats_are_coming(api: tuple[Api, ImageRecords]) -> None:
    # `processed` came before the AVIF existed with nothing saying more was coming; the page stopped there.
    a, records = api
    assert SETTINGS.imaging.deferred == ("AVIF",)
    still = Original(10, 10, "JPEG", "image/jpeg", 500, 1, False)
    webp = StoredRendition("thumb", "out", "thumb/web/x/a.webp", 1, 1, 100, "image/webp", "e", "WEBP")
    avif = StoredRendition("thumb", "out", "thumb.v/1/web/x/b.avif", 1, 1, 100, "image/avif", "e", "AVIF")
    cases = {"uploads/web/x/a.jpg": (webp,), "uploads/web/x/b.jpg": (webp, avif)}
    for key, renditions in cases.items():
        assert records.write(unchanged(replace(processed(key, *renditions, original=still), published=True), None))
    _, waiting = call(a, "GET", f"/images/{image_id('uploads/web/x/a.jpg')}")
    assert waiting["status"] == "processed" and waiting["complete"] is False and waiting["pendingFormats"] == ["AVIF"]
    _, done = call(a, "GET", f"/images/{image_id('uploads/web/x/b.jpg')}")
    assert done["complete"] is True and done["pendingFormats"] == []
