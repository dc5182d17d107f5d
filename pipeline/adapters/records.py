"""DynamoDB: one item per source key, changed only by conditional writes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from pipeline.adapters import CONNECTION_ERRORS, error_code, transient
from pipeline.domain import Status
from pipeline.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATUSES = tuple(s.value for s in Status)


class RenditionRecord(TypedDict):
    """One stored rendition as the item records it."""

    name: str
    bucket: str
    key: str
    width: int
    height: int
    bytes: int
    contentType: str
    etag: str


class OriginalRecord(TypedDict):
    """What the item records about the original."""

    width: int
    height: int
    format: str
    mime: str
    bytes: int
    orientation: int
    animated: bool


class ErrorRecord(TypedDict):
    """Why an image failed (or, as lastError, why its last attempt did)."""

    code: str
    message: str


class ImageItem(TypedDict, total=False):
    """The DynamoDB item of one source key."""

    sourceKey: str
    bucket: str
    status: str
    version: str
    etag: str
    versionId: str
    sequencer: str
    owner: str
    messageId: str
    leaseUntil: int
    attempts: int
    rev: int
    renditions: list[RenditionRecord]
    staleRenditions: list[str]
    original: OriginalRecord
    error: ErrorRecord
    lastError: ErrorRecord
    notified: bool
    notifyUntil: int
    createdAt: str
    updatedAt: str
    processedAt: str
    expiresAt: int


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


def to_item(data: dict[str, Any]) -> ImageItem:
    """Turn a DynamoDB attribute map into a plain item."""
    out: ImageItem = _plain({k: _de.deserialize(v) for k, v in data.items()})
    return out


def _attrs(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in values.items() if v is not None}


class ImageRecords:
    """Read and change image items; every change is a conditional write."""

    def __init__(self, client: DynamoDBClient, table_name: str, status_index: str = "status-index") -> None:
        self.client = client
        self.table = table_name
        self.status_index = status_index

    def get(self, key: str) -> ImageItem | None:
        """The item of a source key (a strongly consistent read), or None."""
        try:
            resp = self.client.get_item(TableName=self.table, Key=_attrs({"sourceKey": key}), ConsistentRead=True)
        except (ClientError, *CONNECTION_ERRORS) as e:
            raise transient("dynamodb get_item", e) from e
        item = resp.get("Item")
        return to_item(dict(item)) if item else None

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

    # The writes by intent; each one's condition is the rule written beside decide() (pipeline/domain.py).

    def claim(self, item: ImageItem, expected_rev: int | None) -> bool:
        """Take an image for this event's version: a whole-item write, if the item is still as read."""
        return self._put_if_unchanged(item, expected_rev)

    def delete(self, item: ImageItem, expected_rev: int | None) -> bool:
        """Record the source as deleted (a tombstone): a whole-item write, if the item is still as read."""
        return self._put_if_unchanged(item, expected_rev)

    def complete(self, key: str, owner: str, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
        """Record the renditions of an image this owner still holds in processing."""
        return self._if_owned(key, owner, changes, remove)

    def fail(self, key: str, owner: str, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
        """Record the failure of an image this owner still holds in processing."""
        return self._if_owned(key, owner, changes, remove)

    def release(self, key: str, owner: str, changes: dict[str, Any]) -> bool:
        """Give back the lease on an image this owner still holds, saying why (a retry may take it at once)."""
        return self._if_owned(key, owner, changes)

    def _put_if_unchanged(self, item: ImageItem, expected_rev: int | None) -> bool:
        """Write a whole item if nobody changed it since it was read at `expected_rev` (None: absent)."""
        if expected_rev is None:
            cond: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(sourceKey)"}
        else:
            cond = {
                "ConditionExpression": "#rev = :rev",
                "ExpressionAttributeNames": {"#rev": "rev"},
                "ExpressionAttributeValues": _attrs({":rev": expected_rev}),
            }
        return self._conditional("put_item", Item=_attrs(dict(item)), **cond)

    def _if_owned(self, key: str, owner: str, changes: dict[str, Any], remove: tuple[str, ...] = ()) -> bool:
        """Apply changes to an item this owner still holds in `processing`; False if the claim was lost."""
        names = {f"#f{i}": k for i, k in enumerate(changes)}
        values = {f":v{i}": v for i, v in enumerate(changes.values())}
        sets = ", ".join(f"#f{i} = :v{i}" for i in range(len(changes)))
        names.update({"#rev": "rev", "#owner": "owner", "#status": "status"})
        values.update({":one": 1, ":owner": owner, ":processing": "processing"})
        expr = f"SET {sets}, #rev = #rev + :one"
        if remove:
            names.update({f"#r{i}": k for i, k in enumerate(remove)})
            expr += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
        return self._conditional(
            "update_item",
            Key=_attrs({"sourceKey": key}),
            UpdateExpression=expr,
            ConditionExpression="#owner = :owner AND #status = :processing",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=_attrs(values),
        )

    def claim_publish(self, key: str, version: str, status: str, *, now: int, lease_s: int) -> bool:
        """Take the right to publish this result, so two deliveries of one event do not both publish it."""
        return self._conditional(
            "update_item",
            Key=_attrs({"sourceKey": key}),
            UpdateExpression="SET notifyUntil = :until, #rev = #rev + :one",
            ConditionExpression=(
                "#version = :version AND #status = :status AND notified = :f "
                "AND (attribute_not_exists(notifyUntil) OR notifyUntil < :now)"
            ),
            ExpressionAttributeNames={"#version": "version", "#status": "status", "#rev": "rev"},
            ExpressionAttributeValues=_attrs(
                {":until": now + lease_s, ":one": 1, ":version": version, ":status": status, ":f": False, ":now": now}
            ),
        )

    def release_publish(self, key: str, version: str) -> None:
        """Give back the right to publish after a failed publish (best effort: it also expires)."""
        with contextlib.suppress(TransientError):
            self._conditional(
                "update_item",
                Key=_attrs({"sourceKey": key}),
                UpdateExpression="REMOVE notifyUntil",
                ConditionExpression="#version = :version",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues=_attrs({":version": version}),
            )

    def mark_published(self, key: str, version: str, status: str) -> bool:
        """Record that the result of this version was published (only if the item is still that result)."""
        return self._conditional(
            "update_item",
            Key=_attrs({"sourceKey": key}),
            UpdateExpression="SET notified = :t, #rev = #rev + :one REMOVE notifyUntil",
            ConditionExpression="#version = :version AND #status = :status",
            ExpressionAttributeNames={"#version": "version", "#status": "status", "#rev": "rev"},
            ExpressionAttributeValues=_attrs({":t": True, ":one": 1, ":version": version, ":status": status}),
        )

    def _query_status(self, status: str, **extra: Any) -> dict[str, Any]:
        """One Query of the status index for one status (extra: Limit, Select, ExclusiveStartKey, ...)."""
        try:
            resp = self.client.query(
                TableName=self.table,
                IndexName=self.status_index,
                KeyConditionExpression="#s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_attrs({":s": status}),
                **extra,
            )
        except (ClientError, *CONNECTION_ERRORS) as e:
            raise transient("dynamodb query", e) from e
        return dict(resp)

    def page_by_status(self, status: str, *, limit: int, start: dict[str, str] | None = None) -> dict[str, Any]:
        """One page of items with a status, newest first: {"items": [...], "next": plain start key or None}."""
        extra: dict[str, Any] = {"ScanIndexForward": False, "Limit": limit}
        if start:
            extra["ExclusiveStartKey"] = {k: _ser.serialize(v) for k, v in start.items()}
        resp = self._query_status(status, **extra)
        last = resp.get("LastEvaluatedKey")
        return {
            "items": [to_item(dict(i)) for i in resp.get("Items", [])],
            "next": {k: str(_de.deserialize(v)) for k, v in last.items()} if last else None,
        }

    def count_by_status(self) -> dict[str, int]:
        """How many items have each status (a Select=COUNT query per status on the index)."""
        counts: dict[str, int] = {}
        for status in STATUSES:
            extra: dict[str, Any] = {"Select": "COUNT"}
            total = 0
            while True:
                resp = self._query_status(status, **extra)
                total += int(resp.get("Count", 0))
                if "LastEvaluatedKey" not in resp:
                    break
                extra["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
            counts[status] = total
        return counts

    def scan(self) -> Iterator[ImageItem]:
        """Every item (for reconcile and tests)."""
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True):
            for raw in page.get("Items", []):
                yield to_item(dict(raw))
