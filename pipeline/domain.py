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
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
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
    variants_error: Failure | None = None  # why the deferred formats will not come to this version (given up)

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
        if not self.receives_deferred(deferred) or self.variants_error is not None:
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

    # The transitions: each makes the next record from this one and names the condition it is written under.

    def _ended(self, status: Status, at: When) -> ImageRecord:
        """This claimed record, ended: no owner, lease or stale renditions, and the right to publish taken with it."""
        return replace(
            self,
            status=status,
            rev=self.rev + 1,
            owner="",
            message_id="",
            lease_until=0,
            stale_renditions=(),
            last_error=None,
            processed_at=at.iso,
            updated_at=at.iso,
            published=False,
            # Taken in the same write: no extra request, and no duplicate can race us.
            publish_until=at.lease_until,
        )

    def processed(self, owner: str, at: When, result: Processed) -> Write:
        """The claimed record with its renditions and picture: written only while `owner` still holds it."""
        done = replace(
            self._ended(Status.PROCESSED, at),
            renditions=result.renditions,
            original=result.original,
            blurhash=result.blurhash,
            dominant_color=result.dominant_color,
            phash=result.phash,
            duplicate_of=result.duplicate_of,
        )
        return Write(done, Expect.OWNED, owner=owner)

    def failed(self, owner: str, error: Failure, at: When) -> Write:
        """The claimed record ended failed, with the reason: written only while `owner` still holds it."""
        failed = replace(
            self._ended(Status.FAILED, at),
            renditions=(),
            original=None,
            error=error,
            last_error=self.last_error,  # what the attempts before the last one met, kept for the operator
        )
        return Write(failed, Expect.OWNED, owner=owner)

    def released(self, owner: str, error: Failure | None, at: When) -> Write:
        """The lease given back at once (a retry need not wait for it), saying why: while `owner` holds it."""
        back = replace(self, rev=self.rev + 1, lease_until=0, updated_at=at.iso, last_error=error or self.last_error)
        return Write(back, Expect.OWNED, owner=owner)

    def with_variants(self, made: tuple[StoredRendition, ...], at: When) -> Write:
        """This processed record with its deferred variants added, to publish again: if it is still as read."""
        added = replace(
            self,
            rev=self.rev + 1,
            renditions=self.renditions + made,
            variants_error=None,  # (a redrive that worked)
            updated_at=at.iso,
            published=False,
            publish_until=at.lease_until,  # the right to publish, taken in the write
        )
        return Write(added, Expect.UNCHANGED, read_rev=self.rev)

    def variants_failed(self, error: Failure, at: When) -> Write:
        """This processed record without the deferred formats it was waiting for, saying why, to publish again
        (complete: nothing more is coming unless a redrive brings it): if it is still as read."""
        given_up = replace(
            self,
            rev=self.rev + 1,
            variants_error=error,
            updated_at=at.iso,
            published=False,
            publish_until=at.lease_until,
        )
        return Write(given_up, Expect.UNCHANGED, read_rev=self.rev)

    def repointed(self, duplicate_of: str) -> Write:
        """This record naming another earlier duplicate (the one it named was removed): if it is still as read."""
        return Write(replace(self, rev=self.rev + 1, duplicate_of=duplicate_of), Expect.UNCHANGED, read_rev=self.rev)


@dataclass(frozen=True)
class When:
    """When a transition happens, and the lease and lifetime it gives (from the settings' timing)."""

    now: float
    lease_s: int
    ttl_days: int

    @property
    def iso(self) -> str:
        """The moment as the record keeps it (UTC, milliseconds)."""
        return datetime.fromtimestamp(self.now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @property
    def lease_until(self) -> int:
        """When a lease taken now runs out."""
        return int(self.now) + self.lease_s


@dataclass(frozen=True)
class Processed:
    """What the work made of a claimed image: its renditions and what the record keeps of the picture."""

    renditions: tuple[StoredRendition, ...]
    original: Original
    blurhash: str = ""
    dominant_color: str = ""
    phash: str = ""
    duplicate_of: str = ""


class Expect(Enum):
    """The condition a whole-record write is made under: the table checks it, so two racing writers cannot both win."""

    UNCHANGED = "unchanged"  # the item is as read: absent (no rev read), or still at the rev read
    OWNED = "owned"  # this owner still holds the item, and it is still processing


@dataclass(frozen=True)
class Write:
    """A next record and the condition it must be written under: what every transition returns; the records
    adapter maps the two to an item and a condition expression, and only writes."""

    record: ImageRecord
    expect: Expect
    read_rev: int | None = None  # UNCHANGED: the rev read (None: there was no item)
    owner: str = ""  # OWNED: who must still hold it


def _fresh(key: str, bucket: str, version: Version, read: ImageRecord | None, status: Status, at: When) -> ImageRecord:
    """What every write that starts a version's record starts from: key, version, next rev, dates, TTL."""
    return ImageRecord(
        source_key=key,
        bucket=bucket,
        status=status,
        version=version,
        rev=read.rev + 1 if read else 1,
        created_at=read.created_at if read and read.created_at else at.iso,
        updated_at=at.iso,
        expires_at=int(at.now) + at.ttl_days * 86400,
    )


def claim(
    key: str, bucket: str, version: Version, read: ImageRecord | None, owner: str, message_id: str, at: When
) -> Write:
    """The record that takes the image for this event's version (decide() said CLAIM): if the item is as read."""
    same_version = read is not None and read.version.token == version.token
    claimed = replace(
        _fresh(key, bucket, version, read, Status.PROCESSING, at),
        owner=owner,
        message_id=message_id,
        lease_until=at.lease_until,
        attempts=read.attempts + 1 if read and same_version else 1,
        last_error=read.last_error if read and same_version else None,
        # The renditions of the version being replaced: removed once the new one has its own, or fails.
        stale_renditions=tuple(read.output_keys()) if read else (),
    )
    return Write(claimed, Expect.UNCHANGED, read_rev=read.rev if read else None)


def tombstone(key: str, bucket: str, version: Version, read: ImageRecord | None, at: When, *, publish: bool) -> Write:
    """The key recorded as deleted at this version (kept until the TTL, so older events stay stale): if as read.

    `publish`: the removal of a processed image is announced; a source removed before it was ever processed is not.
    """
    gone = replace(
        _fresh(key, bucket, version, read, Status.DELETED, at),
        attempts=1,
        published=not publish,
        publish_until=at.lease_until if publish else 0,
        processed_at=at.iso,
    )
    return Write(gone, Expect.UNCHANGED, read_rev=read.rev if read else None)


class Outcome(Enum):
    """How one event ended for the handler."""

    PROCESSED = "processed"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    STALE = "stale"
    BUSY = "busy"
    SKIPPED = "skipped"
    SUPERSEDED = "superseded"
    DELETED = "deleted"


class Decision(Enum):
    """What to do with an event, given the item as it stands."""

    CLAIM = "claim"  # a newer version, or an expired lease: process it
    REMOVE = "remove"  # the object is gone: remove its renditions and mark the item deleted
    DONE = "done"  # this version (or this content) already ended; only make sure it was notified
    STALE = "stale"  # the item, or S3, already shows a newer version: acknowledge
    BUSY = "busy"  # this version is being processed under a live lease by another delivery
    WAIT = "wait"  # an older version is being processed under a live lease: retry later, in order
    ASK = "ask"  # the event cannot be ordered by itself: call again with what S3 holds now


# What decide() allows is done by the transitions above (each returns a `Write`: the next record and its
# condition), written by the item table's adapter (pipeline/ports.py, Records.write) under the condition that
# DynamoDB checks, so that two deliveries racing cannot both win:
#
#   transition        when                              condition (Expect)
#   claim()           CLAIM                             UNCHANGED: the item is as read (absent, or at the rev read)
#   tombstone()       REMOVE                            UNCHANGED
#   .processed()      the image is rendered             OWNED: this owner still holds it, and it is still processing
#   .failed()         the image is refused              OWNED
#   .released()       a transient failure               OWNED (the lease is given back, with lastError)
#   .with_variants()  the deferred variants are made    UNCHANGED (the processed record read)
#   .variants_failed()  they failed for good, or on the job's last receive   UNCHANGED
#   .repointed()      the duplicate named was removed   UNCHANGED
#
# The publish mark is not a whole-record write but three targeted updates of the adapter (claim_publish: same
# version and status, not published, no live lease; release_publish, best effort; mark_published). Every write
# but release_publish moves `rev` on, which is what the next whole-item write is conditional on.
# tests/integration/test_contracts.py holds the adapter and the unit tests' records to these conditions.


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


def rendition_key(source_key: str, input_prefix: str, rendition: str, extension: str, version: Version) -> str:
    """Where a rendition of one version goes: `{rendition}.v/{version hash}/{path below the prefix}{extension}`.

    Every format of every size of a version shares the path but its extension (the CDN's Accept function relies on
    it), and a new version never reuses an old one's key, so a URL's bytes never change (served immutable) and a
    picture's new version has new URLs. Deferred variants are written outside the claim that keeps one version's
    writes from another's: the loser of the record write can delete its own objects safely, they are nobody else's.
    Injective for every source key: the relative path is kept byte for byte (empty segments, dots, a leading
    slash) and the extension is always appended, never substituted, so `c/x` and `c/x.jpg` stay apart. A key that
    would pass S3's 1,024-byte limit goes to `{rendition}.v/{version hash}.h/{sha256 of the path}{extension}`:
    rendition names cannot hold a dot and the hash has a fixed length, so no folder is another one's.
    """
    if not source_key.startswith(input_prefix) or source_key == input_prefix:
        raise ValueError(f"{source_key!r} is not below the input prefix {input_prefix!r}")
    tag = f"{rendition}.v/{hashlib.sha256(version.token.encode()).hexdigest()[:16]}"
    rel = source_key[len(input_prefix) :]
    key = f"{tag}/{rel}{extension}"
    if len(key.encode()) <= MAX_KEY_BYTES:
        return key
    return f"{tag}.h/{hashlib.sha256(rel.encode()).hexdigest()}{extension}"
