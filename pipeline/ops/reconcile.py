"""Reconcile: what is wrong between the input objects, the records and the rendition objects (pure)."""

from __future__ import annotations

from typing import Any

from pipeline.domain import ImageRecord, Status


def reconcile(inputs: set[str], records: list[ImageRecord], outputs: dict[str, str]) -> dict[str, Any]:
    """What is wrong between sources, records and rendition objects (output key -> ETag), as counts and examples."""
    by_key = {r.source_key: r for r in records}
    counts: dict[str, Any] = {"inputs": len(inputs)}
    for name in ("processed", "failed", "processing", "deleted", "missing", "renditions_missing"):
        counts[name] = 0
    counts.update(renditions_foreign=0, orphans=0, deleted_with_source=0)
    missing, foreign = [], []
    for key in sorted(inputs):
        record = by_key.get(key)
        if record is None:
            counts["missing"] += 1
            missing.append(key)
        elif record.status is Status.DELETED:
            counts["deleted_with_source"] += 1  # a removal recorded, yet the object is there
        else:
            counts[record.status.value] += 1
    for record in by_key.values():
        counts["deleted"] += record.status is Status.DELETED and record.source_key not in inputs
        for r in record.renditions:
            if r.key not in outputs:
                counts["renditions_missing"] += 1
            elif r.etag and outputs[r.key] != r.etag:
                counts["renditions_foreign"] += 1  # another image's pixels under this record's key
                foreign.append(r.key)
    owned = {k for r in by_key.values() for k in r.output_keys()}
    orphans = sorted(set(outputs) - owned)
    counts["orphans"] = len(orphans)
    return {**counts, "missing_keys": missing[:50], "foreign_keys": foreign[:50], "orphan_keys": orphans[:50]}
