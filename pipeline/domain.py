"""The idempotency rules and the output-key mapping, as pure code: no AWS, no Pillow, no clock of its own.

Rules (one item per source key; every write to it is conditional on what was read):
- An event is about one version of a key: its kind (created or removed), S3 `sequencer`, ETag and version id.
- Sequencers are compared only with sequencers of the same key, as hex of equal length; never with a time.
- Equal sequencers with a different ETag or version id are different content (LocalStack repeats one
  sequencer on every event); an event without a sequencer cannot be ordered by itself. Either way the event
  asks S3: it is current if the object S3 has now is the one it names (or, for a removal, if there is none).
- A newer version, or an expired lease, may claim the item; the same version already ended is a duplicate;
  an older one is stale. A live lease on an older version makes a newer event wait (retry, in order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import Enum, StrEnum
from typing import Any

# S3 refuses keys longer than this many bytes of UTF-8.
MAX_KEY_BYTES = 1024
# The largest upload accepted by default (MAX_BYTES overrides it): the one place this default is written.
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
# The most source pixels an animation may decode over all its frames (ANIMATION_DECODE_PIXELS overrides it): about
# 4 s of decoding, resizing and encoding on one Lambda vCPU (bench/), well inside the default 60 s timeout.
DEFAULT_ANIMATION_DECODE_PIXELS = 40_000_000


class Status(StrEnum):
    """Where an image stands; the item's `status` attribute."""

    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"
    DELETED = "deleted"


ENDED = (Status.PROCESSED, Status.FAILED, Status.DELETED)


class Kind(StrEnum):
    """What happened to the object."""

    CREATED = "created"
    REMOVED = "removed"


@dataclass(frozen=True)
class Version:
    """One version of one key, as an event or an item names it."""

    kind: Kind
    sequencer: str  # upper-case hex, left-padded to 32; "" when the event had none
    etag: str
    version_id: str

    @staticmethod
    def pad(sequencer: str) -> str:
        """A sequencer in the form that compares as S3 says: upper-case hex of one length."""
        return sequencer.strip().upper().rjust(32, "0") if sequencer.strip() else ""

    @property
    def token(self) -> str:
        """An exact identity for conditional writes (equality only: never compared for order)."""
        return f"{self.kind.value}|{self.sequencer}|{self.etag}|{self.version_id}"

    def same_as(self, other: Version) -> bool:
        """The very same version: same kind, same content, same version id (and sequencer when both have one)."""
        if self.kind is not other.kind or self.etag != other.etag or self.version_id != other.version_id:
            return False
        return not (self.sequencer and other.sequencer) or self.sequencer == other.sequencer


class Order(Enum):
    """How an event's version relates to the item's."""

    OLDER = "older"
    SAME = "same"
    NEWER = "newer"
    UNKNOWN = "unknown"  # the event alone cannot tell: ask S3


def compare(event: Version, stored: Version) -> Order:
    """Order an event against the stored version using sequencers only; UNKNOWN when they cannot decide."""
    if event.same_as(stored):
        return Order.SAME
    if event.sequencer and stored.sequencer and event.sequencer != stored.sequencer:
        return Order.NEWER if event.sequencer > stored.sequencer else Order.OLDER
    return Order.UNKNOWN


@dataclass(frozen=True)
class Current:
    """What S3 holds for the key right now (None of it when the object does not exist)."""

    exists: bool
    etag: str = ""
    version_id: str = ""

    def is_(self, event: Version) -> bool:
        """Whether the event describes the object as it is now."""
        if event.kind is Kind.REMOVED:
            return not self.exists
        if not self.exists or event.etag != self.etag:
            return False
        return not event.version_id or not self.version_id or event.version_id == self.version_id


@dataclass(frozen=True)
class StoredRendition:
    """One rendition written for an image, as the record keeps it and the result message and the API show it."""

    name: str
    bucket: str
    key: str
    width: int
    height: int
    bytes: int
    content_type: str
    etag: str
    format: str = ""  # JPEG, PNG, WEBP or AVIF: one size is written in its fallback and each modern variant
    frames: int = 1  # more than one: an animated WebP

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (the item's, the message's and the API's)."""
        return {
            "name": self.name,
            "bucket": self.bucket,
            "key": self.key,
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
            "contentType": self.content_type,
            "etag": self.etag,
            "format": self.format,
            "frames": self.frames,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> StoredRendition:
        """Back from the JSON form."""
        return StoredRendition(
            str(d["name"]), str(d["bucket"]), str(d["key"]), int(d["width"]), int(d["height"]), int(d["bytes"]),
            str(d.get("contentType", "")), str(d.get("etag", "")), str(d.get("format", "")), int(d.get("frames", 1)),
        )  # fmt: skip


@dataclass(frozen=True)
class Original:
    """What the record keeps about the source image."""

    width: int
    height: int
    format: str
    mime: str
    bytes: int
    orientation: int
    animated: bool
    # For an animated source, what became of the animation (imaging.Animation): "animated", or why the renditions
    # are stills ("still_over_budget", "still_damaged", "still_no_animated_format").
    animation: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Original:
        """Back from the JSON form."""
        return Original(
            int(d["width"]), int(d["height"]), str(d["format"]), str(d.get("mime", "")), int(d.get("bytes", 0)),
            int(d.get("orientation", 1)), bool(d.get("animated", False)), str(d.get("animation", "")),
        )  # fmt: skip


@dataclass(frozen=True)
class Failure:
    """Why an image failed (`error`), or why its last attempt did (`lastError`)."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form."""
        return {"code": self.code, "message": self.message}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Failure:
        """Back from the JSON form."""
        return Failure(str(d.get("code", "")), str(d.get("message", "")))


@dataclass(frozen=True)
class ImageRecord:
    """The record of one source key: what decide() reads and every write of the item table holds.

    Records are values: each step makes the next one with `dataclasses.replace`, and the table stores it whole,
    under the condition of that step (the table below `Decision`).
    """

    source_key: str
    bucket: str
    status: Status
    version: Version
    rev: int = 1
    created_at: str = ""
    updated_at: str = ""
    expires_at: int = 0
    owner: str = ""  # the delivery processing it (processing only)
    message_id: str = ""
    lease_until: int = 0
    attempts: int = 0
    renditions: tuple[StoredRendition, ...] = ()
    stale_renditions: tuple[str, ...] = ()  # the replaced version's, removed once this one ends
    original: Original | None = None
    error: Failure | None = None
    last_error: Failure | None = None
    published: bool = False
    publish_until: int = 0  # the lease on the right to publish the result
    processed_at: str = ""
    blurhash: str = ""  # the BlurHash: the placeholder a client paints until the image loads
    dominant_color: str = ""  # "#rrggbb"
    phash: str = ""  # 64-bit dHash, 16 hex digits (indexed: processed pictures by hash)
    duplicate_of: str = ""  # the source key of an earlier upload with the same phash

    @property
    def ended(self) -> bool:
        """Processed, failed or deleted: a result that is (or is to be) published."""
        return self.status in ENDED

    def receives_deferred(self, deferred: tuple[str, ...]) -> bool:
        """Whether the deferred formats (AVIF) come to this record: to a processed still; an animation gets none."""
        animated = self.original is not None and self.original.animation == "animated"
        return bool(deferred) and self.status is Status.PROCESSED and not animated

    def pending_formats(self, deferred: tuple[str, ...]) -> tuple[str, ...]:
        """The deferred formats still to come to this record (written by the variants queue's jobs)."""
        if not self.receives_deferred(deferred):
            return ()
        have = {r.format for r in self.renditions}
        return tuple(f for f in deferred if f not in have)

    def final(self, deferred: tuple[str, ...]) -> bool:
        """Nothing more will be written for this version: ended, and every deferred format there."""
        return self.status in ENDED and not self.pending_formats(deferred)

    def complete(self, deferred: tuple[str, ...]) -> bool:
        """Done as a person means it: processed or failed, the result published, and every format there.

        The one notion of "done" that `upload --wait`, `status --watch`, the API's `complete`, the page and the
        SNS message's `complete` (which is `final`: the message is the publishing) share.
        """
        return self.status in (Status.PROCESSED, Status.FAILED) and self.published and self.final(deferred)

    def identity(self) -> dict[str, str | None]:
        """The placeholder, dominant colour, hash and earlier duplicate, as the message and the API give them."""
        return {
            "blurhash": self.blurhash or None,
            "dominantColor": self.dominant_color or None,
            "phash": self.phash or None,
            "duplicateOf": self.duplicate_of or None,
        }

    def output_keys(self) -> list[str]:
        """Every output key the record accounts for: its renditions and those of a version it is replacing."""
        keys = [r.key for r in self.renditions]
        return keys + [k for k in self.stale_renditions if k not in keys]


class Decision(Enum):
    """What to do with an event, given the item as it stands."""

    CLAIM = "claim"  # a newer version, or an expired lease: process it
    REMOVE = "remove"  # the object is gone: remove its renditions and mark the item deleted
    DONE = "done"  # this version (or this content) already ended; only make sure it was notified
    STALE = "stale"  # the item, or S3, already shows a newer version: acknowledge
    BUSY = "busy"  # this version is being processed under a live lease by another delivery
    WAIT = "wait"  # an older version is being processed under a live lease: retry later, in order
    ASK = "ask"  # the event cannot be ordered by itself: call again with what S3 holds now


# What decide() allows is done by the item table's writes (pipeline/ports.py, Records), each under one condition
# that DynamoDB checks, so that two deliveries racing cannot both win:
#
#   write            when                           condition (checked by the table)
#   claim            CLAIM                          the item is as read: absent, or still at the rev read
#   delete           REMOVE (the tombstone)         the same
#   complete, fail   the image is rendered/refused  this owner still holds it, and it is still processing
#   release          a transient failure            the same (the lease is given back, with lastError)
#   claim_publish    an ended item not published    same version and status, not published, no live lease
#   release_publish  the publish failed             same version (best effort: the lease also expires)
#   mark_published   the result went out            same version and status
#   repoint          the duplicate named was removed  the item is as read (the rev read)
#
# Every write but release_publish moves `rev` on, which is what the next whole-item write is conditional on.
# tests/integration/test_contracts.py holds the adapter and the unit tests' fake to these conditions.


def decide(stored: ImageRecord | None, event: Version, now: float, current: Current | None = None) -> Decision:
    """The idempotency rules as one pure function of the stored item, the event and (when asked) S3."""
    act = Decision.CLAIM if event.kind is Kind.CREATED else Decision.REMOVE
    if stored is None:
        return act
    order = compare(event, stored.version)
    if order is Order.UNKNOWN:
        if current is None:
            return Decision.ASK
        order = Order.NEWER if current.is_(event) else Order.OLDER
    if order is Order.OLDER:
        return Decision.STALE
    if stored.status is Status.PROCESSING:
        if stored.lease_until > now:
            return Decision.BUSY if order is Order.SAME else Decision.WAIT
        return act
    if order is Order.SAME:
        return Decision.DONE
    if event.kind is Kind.REMOVED and stored.status is Status.DELETED:
        return Decision.DONE  # already gone: nothing left to remove
    if event.kind is Kind.CREATED and stored.status is not Status.DELETED and event.etag == stored.version.etag:
        return Decision.DONE  # the same bytes uploaded again: the renditions are already these
    return act


# A dHash with this few bits set (or unset) says "flat": a blank or evenly shaded picture, which shares its hash
# with every other flat picture; such pictures are never called duplicates of each other.
FLAT_HASH_BITS = 4


# `pipeline similar`'s default: one picture re-encoded (JPEG 30-90), rescaled (1/4 to 1) or cropped by 5% stays
# within 11 bits of itself; two different photo-like pictures were never closer than 20 (bench/similar.py).
SIMILAR_DISTANCE = 12


def hamming(a: str, b: str) -> int:
    """How many of the 64 bits of two dHashes differ."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def is_flat(phash: str) -> bool:
    """Whether a dHash has too little detail to identify a picture (almost all bits the same)."""
    ones = int(phash, 16).bit_count()
    return ones < FLAT_HASH_BITS or ones > 64 - FLAT_HASH_BITS


def deferred_key(source_key: str, input_prefix: str, rendition: str, extension: str, version: Version) -> str:
    """Where a deferred variant goes: `{rendition}.v/{version hash}/...`, a key of that version alone.

    Deferred variants are written outside the claim that keeps one version's writes from another's, so two
    versions must never share a key: the loser of the record write can then delete its own objects safely.
    Injective like rendition_key: rendition names hold no dot, and the hash has a fixed length.
    """
    tag = hashlib.sha256(version.token.encode()).hexdigest()[:16]
    return rendition_key(source_key, input_prefix, f"{rendition}.v/{tag}", extension)


def rendition_key(source_key: str, input_prefix: str, rendition: str, extension: str) -> str:
    """Where a rendition goes: `{rendition}/{source key below the prefix}{extension}`.

    Injective for every source key: the relative path is kept byte for byte (empty segments, dots, a leading
    slash) and the extension is always appended, never substituted, so `c/x` and `c/x.jpg` stay apart. A key
    that would pass S3's 1,024-byte limit goes to `{rendition}.h/{sha256 of the path}{extension}`: rendition
    names cannot hold a dot, so that folder can never be another rendition's.
    """
    if not source_key.startswith(input_prefix) or source_key == input_prefix:
        raise ValueError(f"{source_key!r} is not below the input prefix {input_prefix!r}")
    rel = source_key[len(input_prefix) :]
    key = f"{rendition}/{rel}{extension}"
    if len(key.encode()) <= MAX_KEY_BYTES:
        return key
    return f"{rendition}.h/{hashlib.sha256(rel.encode()).hexdigest()}{extension}"
