"""The idempotency rules as a table, and the output-key mapping as properties over every S3 key."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import (
    MAX_KEY_BYTES,
    Current,
    Decision,
    Expect,
    Failure,
    ImageRecord,
    Kind,
    Original,
    Processed,
    Status,
    StoredRendition,
    Version,
    When,
    claim,
    decide,
    rendition_key,
    tombstone,
)
from pipeline.imaging import EXTENSIONS

NOW = 1_800_000_000.0
LIVE, EXPIRED = int(NOW) + 30, int(NOW) - 1
LOCALSTACK_SEQ = Version.pad("0055AED6DCD90281E5")  # LocalStack puts this one sequencer on every event


def v(seq: str = "0A", etag: str = "e1", kind: Kind = Kind.CREATED, vid: str = "") -> Version:
    return Version(kind, Version.pad(seq), etag, vid)


def stored(status: Status, version: Version | None = None, lease: int = 0) -> ImageRecord:
    return ImageRecord("uploads/x", "in", status, version or v(), lease_until=lease)


@pytest.mark.parametrize(
    ("item", "event", "current", "want"),
    [
        (None, v(), None, Decision.CLAIM),
        (None, v(kind=Kind.REMOVED, etag=""), None, Decision.REMOVE),
        (stored(Status.PROCESSED), v(), None, Decision.DONE),  # the same event again
        (stored(Status.FAILED), v(), None, Decision.DONE),  # a failure is final for that version
        (stored(Status.PROCESSED), v("0B", "e2"), None, Decision.CLAIM),  # new content, newer sequencer
        (stored(Status.PROCESSED), v("0B", "e1"), None, Decision.DONE),  # the same bytes uploaded again
        (stored(Status.PROCESSED, v("0B")), v("0A", "e0"), None, Decision.STALE),
        (stored(Status.PROCESSING, lease=LIVE), v(), None, Decision.BUSY),
        (stored(Status.PROCESSING, lease=LIVE), v("0B", "e2"), None, Decision.WAIT),
        (stored(Status.PROCESSING, lease=EXPIRED), v(), None, Decision.CLAIM),  # the holder died
        # sequencers compare as hex of one length: FF < 0100
        (stored(Status.PROCESSED, v("FF")), v("0100", "e2"), None, Decision.CLAIM),
        # LocalStack: one sequencer for every event. New content cannot be ordered by the event: ask S3.
        (stored(Status.PROCESSED, v(LOCALSTACK_SEQ, "e1")), v(LOCALSTACK_SEQ, "e2"), None, Decision.ASK),
        (
            stored(Status.PROCESSED, v(LOCALSTACK_SEQ, "e1")),
            v(LOCALSTACK_SEQ, "e2"),
            Current(True, "e2"),
            Decision.CLAIM,
        ),
        (
            stored(Status.PROCESSED, v(LOCALSTACK_SEQ, "e2")),
            v(LOCALSTACK_SEQ, "e1"),
            Current(True, "e2"),
            Decision.STALE,
        ),
        (stored(Status.PROCESSED, v(LOCALSTACK_SEQ, "e1")), v(LOCALSTACK_SEQ, "e1"), None, Decision.DONE),
        # no sequencer (some emulators): never ordered by time; S3 decides
        (stored(Status.PROCESSED, v("", "e1")), v("", "e2"), None, Decision.ASK),
        (stored(Status.PROCESSED, v("", "e1")), v("", "e2"), Current(True, "e2"), Decision.CLAIM),
        (stored(Status.PROCESSED, v("", "e1")), v("", "e2"), Current(True, "e3"), Decision.STALE),
        # a stray event without a sequencer never blocks a later genuine one
        (stored(Status.PROCESSED, v("", "e1")), v("0B", "e2"), Current(True, "e2"), Decision.CLAIM),
        # removals
        (stored(Status.PROCESSED), v("0B", "", Kind.REMOVED), None, Decision.REMOVE),
        (stored(Status.PROCESSED, v("0C")), v("0B", "", Kind.REMOVED), None, Decision.STALE),
        (stored(Status.DELETED, v("0B", "", Kind.REMOVED)), v("0A"), None, Decision.STALE),  # create after delete
        (stored(Status.DELETED, v("0B", "", Kind.REMOVED)), v("0C", "e1"), None, Decision.CLAIM),  # re-upload
        (stored(Status.DELETED, v("0B", "", Kind.REMOVED)), v("0C", "", Kind.REMOVED), None, Decision.DONE),
        (stored(Status.PROCESSING, lease=LIVE), v("0B", "", Kind.REMOVED), None, Decision.WAIT),
        (stored(Status.PROCESSED, v(LOCALSTACK_SEQ)), v(LOCALSTACK_SEQ, "", Kind.REMOVED), None, Decision.ASK),
        (
            stored(Status.PROCESSED, v(LOCALSTACK_SEQ)),
            v(LOCALSTACK_SEQ, "", Kind.REMOVED),
            Current(False),
            Decision.REMOVE,
        ),
        (
            stored(Status.PROCESSED, v(LOCALSTACK_SEQ)),
            v(LOCALSTACK_SEQ, "", Kind.REMOVED),
            Current(True, "e1"),
            Decision.STALE,
        ),
    ],
)
def test_decide(item: ImageRecord | None, event: Version, current: Current | None, want: Decision) -> None:
    assert decide(item, event, NOW, current) is want


# ---- output keys ------------------------------------------------------------------------------------------

PREFIX = "uploads/"
NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)
# Any S3 key below the prefix: empty segments, dots, slashes, control characters, long UTF-8, up to 1,024 bytes.
SEGMENT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40) | st.sampled_from(["", ".", "..", "/"])
KEYS = (
    st.lists(SEGMENT, min_size=1, max_size=30)
    .map(lambda parts: PREFIX + "/".join(parts))
    .filter(lambda k: k != PREFIX and len(k.encode()) <= MAX_KEY_BYTES)
)
EXT = st.sampled_from(sorted(set(EXTENSIONS.values())))


VERSIONS = st.builds(Version, st.just(Kind.CREATED), st.text(max_size=4), st.text(max_size=4), st.text(max_size=4))
V1 = Version(Kind.CREATED, "1".rjust(32, "0"), "e1", "")


@settings(max_examples=400)
@given(a=KEYS, b=KEYS, name=NAMES, ext_a=EXT, ext_b=EXT)
def test_rendition_keys_are_injective(a: str, b: str, name: str, ext_a: str, ext_b: str) -> None:
    if (a, ext_a) != (b, ext_b):
        assert rendition_key(a, PREFIX, name, ext_a, V1) != rendition_key(b, PREFIX, name, ext_b, V1)


@settings(max_examples=400)
@given(key=KEYS, a=NAMES, b=NAMES, ext=EXT)
def test_different_renditions_never_share_a_key(key: str, a: str, b: str, ext: str) -> None:
    if a != b:
        assert rendition_key(key, PREFIX, a, ext, V1) != rendition_key(key, PREFIX, b, ext, V1)


@settings(max_examples=400)
@given(key=KEYS, name=NAMES, ext=EXT, version=VERSIONS)
def test_rendition_keys_fit_s3(key: str, name: str, ext: str, version: Version) -> None:
    assert len(rendition_key(key, PREFIX, name, ext, version).encode()) <= MAX_KEY_BYTES


@settings(max_examples=400)
@given(key=KEYS, name=NAMES, version=VERSIONS)
def test_a_sizes_formats_share_one_path_but_the_extension(key: str, name: str, version: Version) -> None:
    # The CDN's Accept function (terraform/cdn/negotiate.js) appends the chosen extension to this shared path.
    keys = {e: rendition_key(key, PREFIX, name, e, version) for e in set(EXTENSIONS.values())}
    assert len({k.removesuffix(e) for e, k in keys.items()}) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("uploads/c/x", "uploads/c/x.jpg"),  # both wrote large/c/x.jpg
        ("uploads/y.jpg", "uploads/y.jpg.png"),  # y.jpg holding PNG wrote y.jpg.png
        ("uploads//d.jpg", "uploads/d.jpg"),  # the leading slash was stripped
    ],
)
def test_the_reported_collisions_are_gone(a: str, b: str) -> None:
    ka = {rendition_key(a, PREFIX, "large", e, V1) for e in EXTENSIONS.values()}
    kb = {rendition_key(b, PREFIX, "large", e, V1) for e in EXTENSIONS.values()}
    assert not ka & kb


def test_longest_source_key_gives_keys_s3_accepts() -> None:
    longest = PREFIX + "k" * (MAX_KEY_BYTES - len(PREFIX))
    for name in ("large", "medium", "thumb"):
        key = rendition_key(longest, PREFIX, name, ".webp", V1)
        assert len(key.encode()) <= MAX_KEY_BYTES and key.startswith(f"{name}.v/") and ".h/" in key


def test_keys_outside_the_prefix_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        rendition_key("elsewhere/x.jpg", PREFIX, "large", ".jpg", V1)


@settings(max_examples=400)
@given(a=KEYS, b=KEYS, name=NAMES, ext_a=EXT, ext_b=EXT, va=VERSIONS, vb=VERSIONS)
def test_rendition_keys_belong_to_one_version_and_meet_no_other_key(
    a: str, b: str, name: str, ext_a: str, ext_b: str, va: Version, vb: Version
) -> None:
    # A key is its version's alone: never another version's or another source's. A job that loses its write
    # deletes its keys (they must be nobody else's), and a URL's bytes never change (served immutable).
    key_a = rendition_key(a, PREFIX, name, ext_a, va)
    key_b = rendition_key(b, PREFIX, name, ext_b, vb)
    assert (key_a == key_b) == ((a, ext_a, va.token) == (b, ext_b, vb.token))


def test_a_new_version_of_a_key_gets_new_rendition_keys() -> None:
    # Re-uploading a picture gives it new URLs: an edge or a browser holding the old ones cannot show them for it.
    v2 = Version(Kind.CREATED, "2".rjust(32, "0"), "e2", "")
    assert rendition_key("uploads/a.jpg", PREFIX, "large", ".jpg", V1) != rendition_key(
        "uploads/a.jpg", PREFIX, "large", ".jpg", v2
    )


@given(
    status=st.sampled_from(list(Status)),
    published=st.booleans(),
    animated=st.booleans(),
    formats=st.sets(st.sampled_from(["JPEG", "WEBP", "AVIF"])),
    deferred=st.sampled_from([(), ("AVIF",)]),
)
def test_complete_is_one_notion_of_done(
    status: Status, published: bool, animated: bool, formats: set[str], deferred: tuple[str, ...]
) -> None:
    # `upload --wait`, `status --watch`, the API and the page all read this: ended, published, nothing to come.
    original = Original(10, 10, "JPEG", "image/jpeg", 1, 1, animated, "animated" if animated else "")
    renditions = tuple(StoredRendition("thumb", "o", f"k.{f}", 1, 1, 1, "image/x", "e", f) for f in sorted(formats))
    version = Version(Kind.CREATED, "1".rjust(32, "0"), "e1", "")
    record = ImageRecord(
        "uploads/a.jpg", "in", status, version, renditions=renditions, original=original, published=published
    )
    pending = record.pending_formats(deferred)
    assert set(pending) <= set(deferred) and not set(pending) & formats
    # Only a processed still waits for deferred formats; a failure or an animation never does.
    if status is not Status.PROCESSED or animated:
        assert pending == ()
    assert record.complete(deferred) == (status in (Status.PROCESSED, Status.FAILED) and published and not pending)


AT = When(1_700_000_000.5, lease_s=60, ttl_days=2)
PICTURE = Processed((), Original(8, 8, "PNG", "image/png", 10, 1, False), phash="ff00ff00ff00ff00")


@given(
    status=st.sampled_from(list(Status)),
    rev=st.integers(1, 10**6),
    attempts=st.integers(0, 5),
    published=st.booleans(),
)
def test_every_transition_moves_rev_on_by_one_and_names_the_condition_of_the_table(
    status: Status, rev: int, attempts: int, published: bool
) -> None:
    read = replace(stored(status), rev=rev, attempts=attempts, published=published, owner="o")
    writes = {
        "claim": claim(read.source_key, read.bucket, v("0B"), read, "o2", "m", AT),
        "tombstone": tombstone(read.source_key, read.bucket, v("0B", kind=Kind.REMOVED), read, AT, publish=True),
        "processed": read.processed("o", AT, PICTURE),
        "failed": read.failed("o", Failure("bad", "no"), AT),
        "released": read.released("o", None, AT),
        "with_variants": read.with_variants((), AT),
        "repointed": read.repointed(""),
    }
    for name, w in writes.items():
        assert w.record.rev == rev + 1, name
        owned = name in ("processed", "failed", "released")
        assert w.expect is (Expect.OWNED if owned else Expect.UNCHANGED), name
        assert (w.owner, w.read_rev) == (("o", None) if owned else ("", rev)), name
    # ended records hold the right to publish, taken in the same write, and no lease or owner
    for name in ("processed", "failed"):
        ended = writes[name].record
        assert (
            not ended.published and ended.publish_until == AT.lease_until and not ended.owner and not ended.lease_until
        )
    assert writes["claim"].record.attempts == 1  # another version: attempts start again
    assert writes["claim"].record.stale_renditions == tuple(read.output_keys())
    assert writes["tombstone"].record.expires_at == int(AT.now) + 2 * 86400


def test_a_claim_of_nothing_is_written_only_where_there_is_nothing() -> None:
    w = claim("uploads/a.jpg", "in", v(), None, "o", "m", AT)
    assert (w.expect, w.read_rev, w.record.rev, w.record.created_at) == (Expect.UNCHANGED, None, 1, AT.iso)
    assert AT.iso == "2023-11-14T22:13:20.500Z"
