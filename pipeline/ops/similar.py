"""Pictures like a given one: records whose perceptual hash is within a Hamming distance of its hash (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.domain import ImageRecord, hamming, is_flat


def similar(target: ImageRecord, records: Iterable[ImageRecord], distance: int) -> list[tuple[int, str]]:
    """(distance, source key) of every other hashed record within `distance` bits of the target, closest first.

    A flat target (a blank or evenly shaded picture) is like every other flat picture and nothing else: it gets
    only exact matches.
    """
    limit = 0 if is_flat(target.phash) else distance
    found = (
        (hamming(target.phash, r.phash), r.source_key) for r in records if r.phash and r.source_key != target.source_key
    )
    return sorted(d for d in found if d[0] <= limit)
