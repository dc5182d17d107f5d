"""S3: read sources and write renditions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from pipeline.adapters import CONNECTION_ERRORS, error_code, transient
from pipeline.domain import Current
from pipeline.errors import SourceMissingError, SupersededError, TooLargeError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

RENDITION_CACHE_CONTROL = "public, max-age=31536000, immutable"
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}
_CHANGED = {"PreconditionFailed", "412"}


class ObjectStore:
    """Get and put objects, with S3 errors turned into the pipeline's errors."""

    def __init__(self, client: S3Client) -> None:
        self.client = client

    def get(self, bucket: str, key: str, *, max_bytes: int, etag: str = "") -> bytes:
        """Read the current object whole, if it still has this ETag; refused by its length before the body."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if etag:
            # Never by version id: a deleted version stays readable that way, and must not be rendered.
            kwargs["IfMatch"] = f'"{etag}"'
        try:
            resp = self.client.get_object(**kwargs)
        except ClientError as e:
            code = error_code(e)
            if code in _MISSING:
                raise SourceMissingError(f"s3://{bucket}/{key} no longer exists") from e
            if code in _CHANGED:
                raise SupersededError(f"s3://{bucket}/{key} was replaced since the event") from e
            raise transient("s3 get_object", e) from e
        except CONNECTION_ERRORS as e:
            raise transient("s3 get_object", e) from e
        body = resp["Body"]
        try:
            length = int(resp.get("ContentLength", 0))
            if length > max_bytes:
                raise TooLargeError(f"{length} bytes is over the limit of {max_bytes}")
            # Read one byte more than allowed: a body longer than its header said is refused too.
            data = body.read(max_bytes + 1)
        except CONNECTION_ERRORS as e:
            raise transient("s3 read body", e) from e
        finally:
            body.close()
        if len(data) > max_bytes:
            raise TooLargeError(f"object is over the limit of {max_bytes} bytes")
        return data

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str, source_key: str) -> str:
        """Write one rendition with its content type and a pointer back to its source; returns its ETag."""
        try:
            resp = self.client.put_object(
                Bucket=bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                # A key is one version's (domain.rendition_key): its bytes never change, so caches keep it a year
                # and never revalidate. A deleted or replaced version's keys are invalidated at the CDN.
                CacheControl=RENDITION_CACHE_CONTROL,
                # S3 metadata must be ASCII; keys may be any Unicode.
                Metadata={"source-key": quote(source_key, safe="/")},
            )
        except (ClientError, *CONNECTION_ERRORS) as e:
            raise transient("s3 put_object", e) from e
        return str(resp.get("ETag", "")).strip('"')

    def delete(self, bucket: str, key: str) -> None:
        """Remove one object (a no-op when it is already gone)."""
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except (ClientError, *CONNECTION_ERRORS) as e:
            raise transient("s3 delete_object", e) from e

    def current(self, bucket: str, key: str) -> Current:
        """What the key holds now: its ETag and version id, or that it does not exist."""
        head = self.head(bucket, key)
        if head is None:
            return Current(exists=False)
        return Current(True, str(head.get("ETag", "")).strip('"'), str(head.get("VersionId") or ""))

    def head(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The object's headers, or None when it does not exist."""
        try:
            return dict(self.client.head_object(Bucket=bucket, Key=key))
        except ClientError as e:
            if error_code(e) in _MISSING:
                return None
            raise transient("s3 head_object", e) from e
        except CONNECTION_ERRORS as e:
            raise transient("s3 head_object", e) from e

    def source_of(self, bucket: str, key: str) -> str | None:
        """The source key a rendition object names in its metadata (None: no such object, or it names none)."""
        head = self.head(bucket, key)
        source = (head or {}).get("Metadata", {}).get("source-key")
        return unquote(source) if source else None

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under a prefix."""
        return list(self.etags(bucket, prefix))

    def etags(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """Every key under a prefix, with its ETag."""
        out: dict[str, str] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            out.update({obj["Key"]: str(obj.get("ETag", "")).strip('"') for obj in page.get("Contents", [])})
        return out
