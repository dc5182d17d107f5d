"""The upload API as one object: API Gateway HTTP API events (payload format 2.0) in, responses out.

POST /uploads            {"filename", "contentType", "size"} -> a presigned POST for a server-made key
GET  /images/{id}        the item's status, metadata and short-lived URLs of its renditions
GET  /images?status=...  items by status through the status index, paginated with `cursor`
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from pipeline.adapters.edge import edge_path
from pipeline.adapters.records import STATUSES
from pipeline.domain import MAX_KEY_BYTES, StoredRendition
from pipeline.errors import TransientError
from pipeline.formats import BY_NAME, picture_rank
from pipeline.ports import Records
from pipeline.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

# What a browser may upload: image types only, whatever the bytes later turn out to be (the pipeline checks).
ALLOWED_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/tiff",
    "image/bmp",
    "image/heic",
    "image/heif",
    "image/avif",
)
URL_TTL_S = 300
MAX_BODY = 64 * 1024
# The status index's key: a cursor is exactly these attributes, all strings.
_CURSOR_FIELDS = frozenset({"sourceKey", "status", "updatedAt"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._ +-]+")


class HttpEvent(TypedDict):
    """The parts of an API Gateway HTTP API (v2) event the API reads."""

    routeKey: NotRequired[str]
    rawPath: str
    requestContext: dict[str, Any]
    pathParameters: NotRequired[dict[str, str]]
    queryStringParameters: NotRequired[dict[str, str]]
    body: NotRequired[str]
    isBase64Encoded: NotRequired[bool]


class HttpResponse(TypedDict):
    """An API Gateway v2 response."""

    statusCode: int
    headers: dict[str, str]
    body: str


class ApiError(Exception):
    """A request the API refuses, with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def image_id(key: str) -> str:
    """The public id of an image: its source key, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def key_of(image: str) -> str:
    """The source key an id stands for (404 for anything that cannot be one)."""
    if len(image) > MAX_KEY_BYTES * 4 // 3 + 4:
        raise ApiError(404, "no such image")
    try:
        key = base64.urlsafe_b64decode(image + "=" * (-len(image) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise ApiError(404, "no such image") from e
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise ApiError(404, "no such image")
    return key


def _cursor(raw: str, status: str) -> dict[str, str]:
    """The DynamoDB start key a cursor stands for; 400 unless it is one this API made for this listing."""
    try:
        plain = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error, RecursionError) as e:
        raise ApiError(400, "cursor is not valid") from e
    if (
        not isinstance(plain, dict)
        or set(plain) != _CURSOR_FIELDS
        or not all(isinstance(v, str) for v in plain.values())
    ):
        raise ApiError(400, "cursor is not valid")
    if plain["status"] != status:
        raise ApiError(400, "cursor belongs to another listing")
    if not plain["sourceKey"] or len(plain["sourceKey"].encode()) > MAX_KEY_BYTES or not plain["updatedAt"]:
        raise ApiError(400, "cursor is not valid")
    return {str(k): str(v) for k, v in plain.items()}


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body, ensure_ascii=False, default=str),
    }


class Api:
    """The API's routes, over an S3 client (for presigned URLs) and the image records."""

    def __init__(self, settings: Settings, s3: S3Client, records: Records) -> None:
        self.settings = settings
        self.s3 = s3
        self.records = records

    def handle(self, event: HttpEvent) -> HttpResponse:
        """Route one request; every error is a JSON body with a clear message."""
        method = str(event.get("requestContext", {}).get("http", {}).get("method", "GET")).upper()
        path = event.get("rawPath", "/")
        try:
            if method == "POST" and path == "/uploads":
                return self.create_upload(self._body(event))
            if method == "GET" and path == "/images":
                return self.list_images(event.get("queryStringParameters") or {})
            if method == "GET" and path.startswith("/images/"):
                return self.get_image(path.removeprefix("/images/"))
            raise ApiError(404, f"no route for {method} {path}")
        except ApiError as e:
            return _json(e.status, {"error": str(e)})
        except TransientError as e:
            log.warning("backend unavailable: %s", e)
            return _json(503, {"error": "temporarily unavailable, try again"})
        except Exception:
            # A bug, not the client's doing: a 500 with a JSON body (never a dropped connection), and the stack.
            log.exception("unexpected error answering %s %s", method, path[:200])
            return _json(500, {"error": "internal error"})

    @staticmethod
    def _body(event: HttpEvent) -> dict[str, Any]:
        raw = event.get("body") or ""
        if len(raw) > MAX_BODY:
            raise ApiError(413, "request body too large")
        try:
            if event.get("isBase64Encoded"):
                raw = base64.b64decode(raw, validate=True).decode("utf-8", "replace")
            data = json.loads(raw)
        except (ValueError, binascii.Error, RecursionError) as e:
            # RecursionError: a few thousand nested brackets fit in any body limit.
            raise ApiError(400, "the body must be JSON") from e
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        return data

    def create_upload(self, body: dict[str, Any]) -> HttpResponse:
        """A presigned POST for a new key under the input prefix, limited to one image type and size."""
        filename = str(body.get("filename") or "").strip()
        ctype = str(body.get("contentType") or "").lower()
        size = body.get("size")
        if not filename:
            raise ApiError(400, "filename is required")
        if ctype not in ALLOWED_TYPES:
            raise ApiError(
                415, f"content type {ctype or '(none)'} is not allowed; use one of {', '.join(ALLOWED_TYPES)}"
            )
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ApiError(400, "size must be a positive integer (bytes)")
        if size > self.settings.imaging.max_bytes:
            raise ApiError(413, f"{size} bytes is over the limit of {self.settings.imaging.max_bytes}")
        # The server makes the key: a fresh folder per upload, and only a tame version of the name.
        safe = _UNSAFE.sub("_", filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])[:120].strip(". ") or "image"
        key = f"{self.settings.names.input_prefix}web/{uuid.uuid4().hex}/{safe}"
        post = self.s3.generate_presigned_post(
            Bucket=self.settings.names.input_bucket,
            Key=key,
            Fields={"Content-Type": ctype},
            Conditions=[{"Content-Type": ctype}, ["content-length-range", 1, self.settings.imaging.max_bytes]],
            ExpiresIn=URL_TTL_S,
        )
        return _json(
            201,
            {
                "id": image_id(key),
                "key": key,
                "upload": {"url": post["url"], "fields": post["fields"]},
                "expiresIn": URL_TTL_S,
            },
        )

    def _rendition_url(self, bucket: str, key: str) -> str:
        """The CDN's URL for a rendition when one fronts the output bucket, else a short-lived presigned GET."""
        if self.settings.api.cdn_base_url:
            return self.settings.api.cdn_base_url + edge_path(key)
        url: str = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=URL_TTL_S
        )
        return url

    def _size_urls(self, renditions: tuple[StoredRendition, ...]) -> dict[str, str]:
        """Each size's one CDN URL ({} without the CDN): see size_paths."""
        base = self.settings.api.cdn_base_url
        return {name: base + path for name, path in size_paths(renditions).items()} if base else {}

    def get_image(self, image: str) -> HttpResponse:
        """One image's status, metadata and rendition URLs."""
        key = key_of(image)
        if not key.startswith(self.settings.names.input_prefix):
            raise ApiError(404, "no such image")
        record = self.records.get(key)
        if record is None:
            # Uploaded a moment ago, or not at all: the client keeps polling for a while.
            return _json(404, {"id": image, "key": key, "status": "pending", "error": "not processed yet"})
        r = record
        return _json(
            200,
            {
                "id": image,
                "key": key,
                "status": r.status.value,
                # Processed comes before the deferred formats (AVIF) exist: say whether more is coming.
                "complete": r.complete(self.settings.imaging.deferred),
                "pendingFormats": list(r.pending_formats(self.settings.imaging.deferred)),
                "variantsError": r.variants_error.as_dict() if r.variants_error else None,
                "original": r.original.as_dict() if r.original else None,
                # Each size's fallback, then its variants best first: the order of the page's <picture> sources.
                "renditions": [
                    {**x.as_dict(), "url": self._rendition_url(x.bucket, x.key)}
                    # The record's first rendition is the largest size's fallback (rendered first).
                    for x in sorted(r.renditions, key=lambda x: picture_rank(x.format, r.renditions[0].format))
                ],
                # With the CDN: one URL per size, in the best format the browser says it shows (see size_paths).
                "sizeUrls": self._size_urls(r.renditions),
                "error": r.error.as_dict() if r.error else None,
                "lastError": r.last_error.as_dict() if r.last_error else None,
                "attempts": r.attempts,
                "updatedAt": r.updated_at or None,
                "processedAt": r.processed_at or None,
                **r.identity(),
                "placeholderUrl": _placeholder_url(r.blurhash),
            },
        )

    def list_images(self, query: dict[str, str]) -> HttpResponse:
        """Items with one status, newest first, a page at a time."""
        status = query.get("status", "")
        if status not in STATUSES:
            raise ApiError(400, f"status must be one of {', '.join(STATUSES)}")
        try:
            limit = max(1, min(100, int(query.get("limit", "25"))))
        except ValueError as e:
            raise ApiError(400, "limit must be an integer") from e
        start = _cursor(query["cursor"], status) if query.get("cursor") else None
        page = self.records.page_by_status(status, limit=limit, start=start)
        items = [
            {
                "id": image_id(r.source_key),
                "key": r.source_key,
                "status": r.status.value,
                "error": r.error.as_dict() if r.error else None,
                "updatedAt": r.updated_at or None,
            }
            for r in page.records
        ]
        cursor = None
        if page.next:
            cursor = base64.urlsafe_b64encode(json.dumps(page.next).encode()).decode().rstrip("=")
        return _json(200, {"items": items, "cursor": cursor})


def size_paths(renditions: tuple[StoredRendition, ...]) -> dict[str, str]:
    """Per size, the CDN path whose format the edge chooses by the browser's Accept (terraform/cdn/negotiate.js):
    the path the size's formats share, without extension, and `?formats=` its extensions, the default first.

    The default is what a browser that names no modern format gets: the size's fallback (the record's first
    rendition is the largest size's, in the fallback's format), else WebP, which every current browser shows.
    A size whose keys do not share one path (written before keys carried the version) gets no such URL.
    """
    fallback = renditions[0].format if renditions else ""
    # The default first, then the best (a still WebP's fallback is WebP: its first place wins).
    rank = {f: i for i, f in reversed(list(enumerate((fallback, "WEBP", "AVIF"))))}
    out: dict[str, str] = {}
    for name in dict.fromkeys(r.name for r in renditions):
        own = [r for r in renditions if r.name == name]
        if not all(r.format in BY_NAME and r.key.endswith(BY_NAME[r.format].extension) for r in own):
            continue
        bases = {r.key[: -len(BY_NAME[r.format].extension)] for r in own}
        if len(bases) != 1:
            continue
        formats = sorted({r.format for r in own}, key=lambda f: rank.get(f, len(rank)))
        exts = ",".join(BY_NAME[f].extension.lstrip(".") for f in formats)
        out[name] = f"{edge_path(bases.pop())}?formats={exts}"
    return out


# Decoding is about 10 ms of pure Python: a page that polls an image asks for the same one again and again.
@lru_cache(maxsize=1024)
def _placeholder_url(hashed: str) -> str | None:
    """A data: URL of the decoded placeholder, so a page needs no BlurHash decoder of its own (about 1 KB)."""
    if not hashed:
        return None
    from pipeline.imaging import placeholder_png  # Pillow only when an image has one: not at the API's cold start

    return "data:image/png;base64," + base64.b64encode(placeholder_png(hashed)).decode()
