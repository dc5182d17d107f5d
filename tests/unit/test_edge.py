"""The CDN forgets what the pipeline deletes: the real CloudFront adapter on moto's in-process CloudFront, driven by
the processor (upload, overwrite, delete), and the URLs the API hands out for the paths it invalidates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from pipeline.adapters.edge import CloudFrontEdge, edge_path
from pipeline.domain import Kind, Outcome, Status
from pipeline.errors import TransientError
from pipeline.events import ObjectRef
from pipeline.http_api import Api, image_id
from pipeline.process import Processor
from pipeline.settings import Settings
from tests.fakes import FakePublisher, FakeStore, memory_records, offline_client
from tests.images import encode, marked

SETTINGS = Settings.from_env(
    {"NAME_PREFIX": "unit", "ENVIRONMENT": "test", "FORMATS": "fallback,webp", "CDN_BASE_URL": "https://d1.cf.net"}
)
IN = SETTINGS.names.input_bucket
KEY = "uploads/a b/x#1.jpg"


class Edge:
    """The real adapter on moto; `fail` makes the next N calls refused as CloudFront refuses a busy distribution."""

    def __init__(self, client: Any, distribution: str) -> None:
        self.real = CloudFrontEdge(client, distribution)
        self.client, self.distribution, self.fail = client, distribution, 0

    def forget(self, keys: list[str]) -> None:
        if self.fail:
            self.fail -= 1
            raise TransientError("cloudfront create_invalidation failed: TooManyInvalidationsInProgress")
        self.real.forget(keys)

    def invalidated(self) -> set[str]:
        """Every path of every invalidation made on the distribution."""
        listed = self.client.list_invalidations(DistributionId=self.distribution)["InvalidationList"]
        paths: set[str] = set()
        for item in listed.get("Items", []):
            got = self.client.get_invalidation(DistributionId=self.distribution, Id=item["Id"])
            paths |= set(got["Invalidation"]["InvalidationBatch"]["Paths"]["Items"])
        return paths


@pytest.fixture
def env() -> Iterator[tuple[Processor, FakeStore, Edge, Api]]:
    with memory_records(SETTINGS) as records, mock_aws():
        client = offline_client("cloudfront", "https://cloudfront.amazonaws.com")
        origin = {"Id": "o", "DomainName": "out.s3.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}}
        made = client.create_distribution(
            DistributionConfig={
                "CallerReference": "unit",
                "Comment": "",
                "Enabled": True,
                "Origins": {"Quantity": 1, "Items": [origin]},
                "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "https-only"},
            }
        )
        edge = Edge(client, made["Distribution"]["Id"])
        store = FakeStore()
        processor = Processor(SETTINGS, store, records, FakePublisher(), edge=edge)
        yield processor, store, edge, Api(SETTINGS, None, records)  # type: ignore[arg-type]  # no presigning here


def upload(store: FakeStore, etag: str, w: int = 900) -> None:
    store.objects[(IN, KEY)] = (encode(marked(w, 700), "JPEG"), "image/jpeg")
    store.etags[(IN, KEY)] = etag


def event(seq: str, etag: str, kind: Kind = Kind.CREATED) -> ObjectRef:
    return ObjectRef(IN, KEY, None, etag, None, seq, kind)


def urls(api: Api) -> set[str]:
    """Every rendition URL the API gives for the image now, as paths on the CDN."""
    body = json.loads(api.get_image(image_id(KEY))["body"])
    return {r["url"].removeprefix(SETTINGS.api.cdn_base_url) for r in body["renditions"]}


def test_an_overwrite_gives_new_urls_and_the_edge_forgets_the_old_ones(env: Any) -> None:
    processor, store, edge, api = env
    upload(store, "e1")
    assert processor.process(event("0A", "e1")) is Outcome.PROCESSED
    first = urls(api)
    assert first and not edge.invalidated()  # nothing was deleted: nothing to forget
    upload(store, "e2", w=1000)
    assert processor.process(event("0B", "e2")) is Outcome.PROCESSED
    second = urls(api)
    # The new picture is at new URLs (a browser holding the old ones keeps them a year), and every old URL's
    # path was invalidated: the exact form the API handed out (spaces and # escaped), so the edge's key matches.
    assert not first & second
    assert edge.invalidated() == first
    assert all(p.startswith("/") and " " not in p and "#" not in p for p in first)


def test_a_deleted_source_is_forgotten_at_the_edge_before_it_is_recorded_deleted(env: Any) -> None:
    processor, store, edge, api = env
    upload(store, "e1")
    processor.process(event("0A", "e1"))
    served = urls(api)
    del store.objects[(IN, KEY)]
    edge.fail = 1
    # The CDN refuses (3,000 paths already in flight): the objects are gone from S3 but the record still lists
    # them, and the event comes back; the deletion is done only once the edge was told.
    with pytest.raises(TransientError):
        processor.process(event("0B", "", Kind.REMOVED))
    assert processor.records.get(KEY).status is Status.PROCESSED
    assert processor.process(event("0B", "", Kind.REMOVED)) is Outcome.DELETED
    assert processor.records.get(KEY).status is Status.DELETED
    assert edge.invalidated() == served


def test_an_overwrite_the_edge_refuses_is_retried_at_once_not_after_the_lease(env: Any) -> None:
    processor, store, edge, _ = env
    upload(store, "e1")
    processor.process(event("0A", "e1"))
    upload(store, "e2", w=1000)
    edge.fail = 1
    with pytest.raises(TransientError):
        processor.process(event("0B", "e2"))
    # The lease was given back: the retry works now instead of finding the image busy until the lease ends.
    assert processor.process(event("0B", "e2")) is Outcome.PROCESSED


def test_the_edge_is_told_the_path_a_viewer_asks_for() -> None:
    # Invalidation paths are URL paths: a key's spaces, # and ? escaped, as in the URLs the API hands out.
    assert edge_path("large.v/t/a b/x#1?.jpg.jpg") == "/large.v/t/a%20b/x%231%3F.jpg.jpg"


def test_a_failed_version_the_edge_refuses_is_failed_again_at_once_not_after_the_lease(env: Any) -> None:
    # A new version that is no image removes the old version's renditions before it is recorded failed: when that
    # removal fails (the CDN, or S3 itself), the lease is given back, so the retry is not refused as busy.
    processor, store, edge, _ = env
    upload(store, "e1")
    processor.process(event("0A", "e1"))
    store.objects[(IN, KEY)] = (b"not an image at all", "image/jpeg")
    store.etags[(IN, KEY)] = "e2"
    edge.fail = 1
    with pytest.raises(TransientError):
        processor.process(event("0B", "e2"))
    assert processor.process(event("0B", "e2")) is Outcome.FAILED
