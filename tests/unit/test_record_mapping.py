"""Every field of a record survives the item table: a property over all records, so a new field cannot be left
out of the mapping (the animation fields were added to the record after the mapping was written)."""

from __future__ import annotations

from dataclasses import fields, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.adapters import records as adapter
from pipeline.domain import Failure, ImageRecord, Kind, Original, Status, StoredRendition, Version

text = st.text(min_size=0, max_size=12)
word = st.text(min_size=1, max_size=12)
count = st.integers(min_value=0, max_value=2**40)
renditions = st.builds(
    StoredRendition, word, word, word, count, count, count, text, text, text, st.integers(min_value=1, max_value=999)
)
originals = st.builds(Original, count, count, text, text, count, st.integers(1, 8), st.booleans(), text)
failures = st.builds(Failure, text, text)


# One strategy per field of a record, by name: a field added to ImageRecord and not here fails the first test.
FIELDS: dict[str, st.SearchStrategy[object]] = {
    "source_key": word,
    "bucket": text,
    "status": st.sampled_from(Status),
    "version": st.builds(Version, st.just(Kind.CREATED), text, text, text),
    "rev": count,
    "created_at": text,
    "updated_at": text,
    "expires_at": count,
    "owner": text,
    "message_id": text,
    "lease_until": count,
    "attempts": count,
    "renditions": st.lists(renditions, max_size=3).map(tuple),
    "stale_renditions": st.lists(word, max_size=3).map(tuple),
    "original": st.none() | originals,
    "error": st.none() | failures,
    "last_error": st.none() | failures,
    "published": st.booleans(),
    "publish_until": count,
    "processed_at": text,
    "blurhash": text,
    "dominant_color": text,
    "phash": text,
    "duplicate_of": text,
    "variants_error": st.none() | failures,
}


@st.composite
def records(draw: st.DrawFn) -> ImageRecord:
    record = ImageRecord(**{name: draw(strategy) for name, strategy in FIELDS.items()})  # type: ignore[arg-type]
    # A tombstone's version is a removal: the item stores the status, and the kind is read back from it.
    kind = Kind.REMOVED if record.status is Status.DELETED else Kind.CREATED
    return replace(record, version=replace(record.version, kind=kind))


def test_every_field_of_a_record_and_its_parts_is_drawn() -> None:
    assert set(FIELDS) == {f.name for f in fields(ImageRecord)}
    # The parts are built positionally from every field: a new one changes these counts.
    assert (len(fields(StoredRendition)), len(fields(Original)), len(fields(Failure))) == (10, 8, 2)


@settings(max_examples=300, deadline=None)
@given(records())
def test_a_record_reads_back_from_its_item_as_written(record: ImageRecord) -> None:
    raw = adapter._attrs(adapter.to_item(record))
    assert adapter._record(raw) == record
