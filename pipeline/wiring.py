"""The one place clients become adapters and adapters become the processor and the API (typed; no local tools).

The Lambda handler, the API function, the CLI, the local worker (pipeline/local/worker.py), the operator tools,
the e2e harness and the tests all wire through here, so an adapter is built one way only
(tests/static/test_imports.py refuses an adapter built anywhere else).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from pipeline.adapters.edge import CloudFrontEdge
from pipeline.adapters.queue import Queue
from pipeline.adapters.records import ImageRecords
from pipeline.adapters.storage import ObjectStore
from pipeline.adapters.topic import Topic
from pipeline.aws import Clients, make_clients, resolve_topic_arns
from pipeline.errors import ConfigurationError, PipelineError, TransientError
from pipeline.http_api import Api
from pipeline.imaging import cmyk_profile_error
from pipeline.logs import setup_logging
from pipeline.process import Processor
from pipeline.settings import Settings

# Printing profiles run to a few MB; anything far bigger is not one.
CMYK_PROFILE_MAX_BYTES = 16 * 1024 * 1024


def from_environment() -> Settings:
    """The settings a function reads once per container (its cold start), with the JSON logging set up."""
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    return settings


def clients(settings: Settings) -> Clients:
    """The AWS clients for these settings (the endpoint, retries and timeouts of pipeline/aws.py)."""
    return make_clients(settings)


def store(clients: Clients) -> ObjectStore:
    """S3, both buckets (each call names its bucket)."""
    return ObjectStore(clients.s3)


def jobs_queue(settings: Settings, clients: Clients) -> Queue:
    """The queue S3's events arrive on, looked up by name at first use."""
    return Queue.by_name(clients.sqs, settings.names.queue_name)


def dlq(settings: Settings, clients: Clients) -> Queue:
    """The jobs' dead-letter queue, looked up by name at first use."""
    return Queue.by_name(clients.sqs, settings.names.dlq_name)


def queue_at(clients: Clients, url: str) -> Queue:
    """A queue known by its URL (the e2e harness's audit queue, a DLQ found through a redrive policy)."""
    return Queue(clients.sqs, url)


def alerts(settings: Settings, clients: Clients) -> Topic:
    """The operators' alerts topic (where the local DLQ alarm publishes)."""
    return Topic(clients.sns, settings.names.alerts_topic_arn)


def records(settings: Settings, clients: Clients) -> ImageRecords:
    """The image items of this stack's table, with its status index."""
    names = settings.names
    return ImageRecords(clients.dynamodb, names.table_name, names.status_index, names.phash_index)


def build_processor(settings: Settings, clients: Clients | None = None) -> Processor:
    """The processor wired to S3, the item table and the results topic for these settings."""
    clients = clients or make_clients(settings)
    settings = resolve_topic_arns(settings, clients)
    return Processor(
        settings=settings,
        store=store(clients),
        records=records(settings, clients),
        publisher=Topic(clients.sns, settings.names.results_topic_arn),
        variants_queue=variants_queue(settings, clients),
        cmyk_profile=cmyk_profile(settings, clients),
        edge=edge(settings, clients),
    )


def edge(settings: Settings, clients: Clients) -> CloudFrontEdge | None:
    """The CDN that serves the renditions (None without one: nothing cached to forget)."""
    distribution = settings.names.cdn_distribution_id
    return CloudFrontEdge(clients.cloudfront, distribution) if distribution else None


ProfileLoader = Callable[[], bytes | None]


def cmyk_profile(settings: Settings, clients: Clients) -> ProfileLoader:
    """CMYK_PROFILE's bytes, read once at first need (a file, or s3://bucket/key through the store): wiring itself
    makes no AWS call. A profile that is not a CMYK one stops the render with one line that names the setting."""
    where = settings.imaging.cmyk_profile

    @functools.cache
    def load() -> bytes | None:
        if not where:
            return None
        try:
            if where.startswith("s3://"):
                bucket, _, key = where.removeprefix("s3://").partition("/")
                data = store(clients).get(bucket, key, max_bytes=CMYK_PROFILE_MAX_BYTES)
            else:
                data = Path(where).read_bytes()
        except TransientError:
            raise
        except (PipelineError, OSError) as e:  # missing, too big, not allowed: the setting's fault, not the image's
            raise ConfigurationError(f"CMYK_PROFILE={where} cannot be read ({e}): fix it, then redrive the DLQ") from e
        if why := cmyk_profile_error(data):
            raise ConfigurationError(f"CMYK_PROFILE={where} is {why}: name a CMYK ICC profile (or none), then redrive")
        return data

    return load


def variants_queue(settings: Settings, clients: Clients) -> Queue | None:
    """The lower-priority queue of deferred variants (None when nothing is deferred): by URL (the Lambda's
    environment), else by name at first use (wiring makes no AWS call: it runs at every cold start)."""
    if not settings.imaging.deferred:
        return None
    names = settings.names
    return Queue(clients.sqs, names.variants_queue_url, name=names.variants_queue_name)


def build_api(settings: Settings, clients: Clients | None = None) -> Api:
    """The upload API wired to S3 (for presigning) and the item table."""
    clients = clients or make_clients(settings)
    s3 = clients.s3
    if settings.api.public_endpoint_url and settings.api.public_endpoint_url != settings.endpoint_url:
        # Presigned URLs must name the endpoint a browser reaches (compose: localhost, not the service name).
        s3 = make_clients(settings.with_(endpoint_url=settings.api.public_endpoint_url)).s3
    return Api(settings, s3, records(settings, clients))
