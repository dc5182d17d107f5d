"""Reconcile: what is wrong between the input objects, the items and the rendition objects (pure)."""

from __future__ import annotations

from typing import Any


def reconcile(inputs: set[str], items: list[Any], outputs: dict[str, str]) -> dict[str, Any]:
    """What is wrong between sources, items and rendition objects (output key -> ETag), as counts and examples."""
    by_key = {i["sourceKey"]: i for i in items if "sourceKey" in i}
    counts: dict[str, Any] = {"inputs": len(inputs)}
    for name in ("processed", "failed", "processing", "deleted", "missing", "renditions_missing"):
        counts[name] = 0
    counts.update(renditions_foreign=0, orphans=0, deleted_with_source=0)
    missing, foreign = [], []
    for key in sorted(inputs):
        item = by_key.get(key)
        status = item.get("status", "") if item else ""
        if status in ("processed", "failed", "processing"):
            counts[status] += 1
        elif status == "deleted":
            counts["deleted_with_source"] += 1  # a removal recorded, yet the object is there
        else:
            counts["missing"] += 1
            missing.append(key)
    for item in by_key.values():
        counts["deleted"] += item.get("status") == "deleted" and item["sourceKey"] not in inputs
        for r in item.get("renditions", []):
            if r["key"] not in outputs:
                counts["renditions_missing"] += 1
            elif r.get("etag") and outputs[r["key"]] != r["etag"]:
                counts["renditions_foreign"] += 1  # another image's pixels under this item's key
                foreign.append(r["key"])
    owned = {r["key"] for i in by_key.values() for r in i.get("renditions", [])}
    owned |= {k for i in by_key.values() for k in i.get("staleRenditions", [])}
    orphans = sorted(set(outputs) - owned)
    counts["orphans"] = len(orphans)
    return {**counts, "missing_keys": missing[:50], "foreign_keys": foreign[:50], "orphan_keys": orphans[:50]}
