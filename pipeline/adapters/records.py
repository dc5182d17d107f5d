"""DynamoDB: one item per source key, mapped to and from an ImageRecord, changed only by conditional writes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from pipeline.adapters import CONNECTION_ERRORS, error_code, transient
from pipeline.domain import Expect, Failure, ImageRecord, Kind, Original, Status, StoredRendition, Version, Write
from pipeline.errors import TransientError
from pipeline.ports import Page

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATUSES = tuple(s.value for s in Status)

_ser = TypeSerializer()
_de = TypeDeserializer()


def _plain(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal; the pipeline only stores integers.
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def to_item(record: ImageRecord) -> dict[str, Any]:
    """The item a record is stored as (plain values; attributes a record leaves empty are not written)."""
    r = record
    item: dict[str, Any] = {
        "sourceKey": r.source_key,
        "bucket": r.bucket,
        "status": r.status.value,
        # The version as its parts (what it is read back from) and as one token (what the publish writes'
        # conditions compare: equality only). A tombstone's version is a removal (the status says which).
        "version": r.version.token,
        "sequencer": r.version.sequencer,
        "etag": r.version.etag,
        "versionId": r.version.version_id,
        "rev": r.rev,
        "createdAt": r.created_at,
        "updatedAt": r.updated_at,
        "expiresAt": r.expires_at,
        "owner": r.owner,
        "messageId": r.message_id,
        "leaseUntil": r.lease_until,
        "attempts": r.attempts,
        "renditions": [x.as_dict() for x in r.renditions],
        "staleRenditions": list(r.stale_renditions),
        "original": r.original.as_dict() if r.original else None,
        "error": r.error.as_dict() if r.error else None,
        "lastError": r.last_error.as_dict() if r.last_error else None,
        "published": r.published,
        "publishUntil": r.publish_until,
        "processedAt": r.processed_at,
        "blurhash": r.blurhash,
        "dominantColor": r.dominant_color,
        "phash": r.phash,
        "duplicateOf": r.duplicate_of,
        "variantsError": r.variants_error.as_dict() if r.variants_error else None,
    }
    # Absent, not empty: a sparse item, and `attribute_not_exists` keeps its meaning.
    return {k: v for k, v in item.items() if v not in (None, "", [], 0) or k in _ALWAYS}


_ALWAYS = {"sourceKey", "status", "version", "rev", "published"}


def from_item(item: dict[str, Any]) -> ImageRecord:
    """The record a stored item holds."""
    i = _plain(item)
    return ImageRecord(
        source_key=i["sourceKey"],
        bucket=i.get("bucket", ""),
        status=Status(i["status"]),
        version=Version(
            Kind.REMOVED if i["status"] == Status.DELETED.value else Kind.CREATED,
            i.get("sequencer", ""),
            i.get("etag", ""),
            i.get("versionId", ""),
        ),
        rev=i.get("rev", 0),
        created_at=i.get("createdAt", ""),
        updated_at=i.get("updatedAt", ""),
        expires_at=i.get("expiresAt", 0),
        owner=i.get("owner", ""),
        message_id=i.get("messageId", ""),
        lease_until=i.get("leaseUntil", 0),
        attempts=i.get("attempts", 0),
        renditions=tuple(StoredRendition.from_dict(x) for x in i.get("renditions", [])),
        stale_renditions=tuple(i.get("staleRenditions", [])),
        original=Original.from_dict(i["original"]) if i.get("original") else None,
        error=Failure.from_dict(i["error"]) if i.get("error") else None,
        last_error=Failure.from_dict(i["lastError"]) if i.get("lastError") else None,
        published=bool(i.get("published", False)),
        publish_until=i.get("publishUntil", 0),
        processed_at=i.get("processedAt", ""),
        blurhash=i.get("blurhash", ""),
        dominant_color=i.get("dominantColor", ""),
        phash=i.get("phash", ""),
        duplicate_of=i.get("duplicateOf", ""),
        variants_error=Failure.from_dict(i["variantsError"]) if i.get("variantsError") else None,
    )


def _attrs(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in values.items() if v is not None}


def _record(raw: Mapping[str, Any]) -> ImageRecord:
    return from_item({k: _de.deserialize(v) for k, v in raw.items()})


def _unchanged(read_rev: int | None) -> dict[str, Any]:
    """The item is as it was read: absent (None), or still at that rev."""
    if read_rev is None:
        return {"ConditionExpression": "attribute_not_exists(sourceKey)"}
    return {
        "ConditionExpression": "#rev = :rev",
        "ExpressionAttributeNames": {"#rev": "rev"},
        "ExpressionAttributeValues": _attrs({":rev": read_rev}),
    }


def _owned(owner: str) -> dict[str, Any]:
    """This owner still holds the item, and it is still processing."""
    return {
        "ConditionExpression": "#owner = :owner AND #status = :processing",
        "ExpressionAttributeNames": {"#owner": "owner", "#status": "status"},
        "ExpressionAttributeValues": _attrs({":owner": owner, ":processing": Status.PROCESSING.value}),
    }


class ImageRecords:
    """Read and write image records; every write is conditional (the rules beside decide(), pipeline/domain.py)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        status_index: str = "status-index",
        phash_index: str = "phash-index",
    ) -> None:
        self.client = client
        self.table = table_name
        self.status_index = status_index
        self.phash_index = phash_index

    def get(self, key: str) -> ImageRecord | None:
        """The record of a source key (a strongly consistent read), or None."""
        try:
            resp = self.client.get_item(TableName=self.table, Key=_attrs({"sourceKey": key}), ConsistentRead=True)
        except (ClientError, *CONNECTION_ERRORS) as e:
            raise transient("dynamodb get_item", e) from e
        item = resp.get("Item")
        return _record(item) if item else None

    def write(self, w: Write) -> bool:
        """Write a transition's record whole under the condition it names (pipeline/domain.py); False if refused."""
        condition = _owned(w.owner) if w.expect is Expect.OWNED else _unchanged(w.read_rev)
        return self._put(w.record, condition)

    def claim_publish(self, record: ImageRecord, *, now: int, lease_s: int) -> bool:
        """Take the right to publish this result, so two deliveries of one event do not both publish it."""
        return self._update(
            record,
            "SET publishUntil = :until, #rev = #rev + :one",
            "published = :f AND (attribute_not_exists(publishUntil) OR publishUntil < :now)",
            {":until": now + lease_s, ":one": 1, ":f": False, ":now": now},
        )

    def release_publish(self, record: ImageRecord) -> None:
        """Give back the right to publish after a failed publish (best effort: it also expires)."""
        with contextlib.suppress(TransientError):
            self._update(record, "REMOVE publishUntil", "", {}, same_status=False)

    def mark_published(self, record: ImageRecord) -> bool:
        """Record that the result of this version was published (only if the record is still that result)."""
        return self._update(
            record, "SET published = :t, #rev = #rev + :one REMOVE publishUntil", "", {":t": True, ":one": 1}
        )

    def _put(self, record: ImageRecord, condition: dict[str, Any]) -> bool:
        return self._conditional("put_item", Item=_attrs(to_item(record)), **condition)

    def _update(
        self, record: ImageRecord, expr: str, cond: str, values: dict[str, Any], *, same_status: bool = True
    ) -> bool:
        """A targeted update of the record's version (and status), under `cond` as well."""
        names = {"#version": "version"} | ({"#status": "status"} if same_status else {})
        values = {**values, ":version": record.version.token}
        full = "#version = :version"
        if same_status:
            full += " AND #status = :status"
            values[":status"] = record.status.value
        if "#rev" in expr:
            names["#rev"] = "rev"
        return self._conditional(
            "update_item",
            Key=_attrs({"sourceKey": record.source_key}),
            UpdateExpression=expr,
            ConditionExpression=f"{full} AND {cond}" if cond else full,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=_attrs(values),
        )

    def _conditional(self, op: str, **kwargs: Any) -> bool:
        try:
            getattr(self.client, op)(TableName=self.table, **kwargs)
        except ClientError as e:
            if error_code(e) == "ConditionalCheckFailedException":
                return False
            raise transient(f"dynamodb {op}", e) from e
        except CONNECTION_ERRORS as e:
            raise transient(f"dynamodb {op}", e) from e
        return True

    def same_picture(self, phash: str) -> list[tuple[str, str]]:
        """(created at, source key) of processed pictures with this perceptual hash, earliest first (the index)."""
        resp = self._query(self.phash_index, "phash", phash, Limit=20)
        found = [
            (str(_de.deserialize(i.get("createdAt", {"S": ""}))), str(_de.deserialize(i["sourceKey"])))
            for i in resp.get("Items", [])
        ]
        return sorted(found)

    def _query(self, index: str, attribute: str, value: str, **extra: Any) -> dict[str, Any]:
        """One Query of an index for one value of its key (extra: Limit, Select, ExclusiveStartKey, ...)."""
        try:
            resp = self.client.query(
                TableName=self.table,
                IndexName=index,
                KeyConditionExpression="#k = :v",
                ExpressionAttributeNames={"#k": attribute},
                ExpressionAttributeValues=_attrs({":v": value}),
                **extra,
            )
        except (ClientError, *CONNECTION_ERRORS) as e:
            raise transient("dynamodb query", e) from e
        return dict(resp)

    def page_by_status(self, status: str, *, limit: int, start: dict[str, str] | None = None) -> Page:
        """One page of records with a status, newest first."""
        extra: dict[str, Any] = {"ScanIndexForward": False, "Limit": limit}
        if start:
            extra["ExclusiveStartKey"] = {k: _ser.serialize(v) for k, v in start.items()}
        resp = self._query(self.status_index, "status", status, **extra)
        last = resp.get("LastEvaluatedKey")
        return Page(
            [_record(i) for i in resp.get("Items", [])],
            {k: str(_de.deserialize(v)) for k, v in last.items()} if last else None,
        )

    def count_by_status(self) -> dict[str, int]:
        """How many items have each status (a Select=COUNT query per status on the index)."""
        counts: dict[str, int] = {}
        for status in STATUSES:
            extra: dict[str, Any] = {"Select": "COUNT"}
            total = 0
            while True:
                resp = self._query(self.status_index, "status", status, **extra)
                total += int(resp.get("Count", 0))
                if "LastEvaluatedKey" not in resp:
                    break
                extra["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
            counts[status] = total
        return counts

    def scan(self) -> Iterator[ImageRecord]:
        """Every record (for reconcile and tests)."""
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True):
            for raw in page.get("Items", []):
                yield _record(raw)
