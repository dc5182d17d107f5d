"""The one place boto3 clients are made: endpoint, region, retries and timeouts come from Settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import boto3
from botocore.config import Config

from pipeline.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient


def client_config(settings: Settings, *, max_attempts: int = 4) -> Config:
    """Bounded timeouts and botocore's standard retry mode, so a stuck call never hangs a worker."""
    s3_style: dict[str, Any] = {}
    if settings.endpoint_url:
        # Emulators answer on an IP or localhost, where virtual-host bucket names cannot resolve.
        s3_style = {"addressing_style": "path"}
    # Checksums only where an API requires them (boto3's behaviour before 1.36): CRC32 over every image body in
    # and out cost the worker a third of its CPU in bench/, and TLS already guards the bytes. An older botocore
    # (the Lambda runtime's own) behaves so already and refuses the options: they are given only where they exist.
    checksums = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
    return Config(
        region_name=settings.region,
        retries={"mode": "standard", "total_max_attempts": max_attempts},  # attempts in all, the first included
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=max(10, 4 * settings.local.worker_concurrency),
        s3=s3_style,  # type: ignore[arg-type]
        **{k: v for k, v in checksums.items() if k in Config.OPTION_DEFAULTS},  # type: ignore[arg-type]
    )


T = TypeVar("T")


class _Service(Generic[T]):
    """A client attribute of Clients: the boto3 client of one service, typed, made once and shared."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __get__(self, clients: Clients, owner: type[Clients]) -> T:
        client: T = clients._client(self.service)
        return client


@dataclass
class Clients:
    """Lazily made, shared boto3 clients (thread-safe once made; one session for all of them)."""

    settings: Settings
    config: Config | None = None
    _session: boto3.session.Session | None = None
    _cache: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._cache:
                if self._session is None:
                    self._session = boto3.session.Session()
                kwargs: dict[str, Any] = {
                    "config": self.config or client_config(self.settings),
                    "region_name": self.settings.region,
                }
                if self.settings.endpoint_url:
                    kwargs["endpoint_url"] = self.settings.endpoint_url
                    if self._session.get_credentials() is None:
                        # Emulators accept any key; AWS itself never gets here (it has an endpoint of its own).
                        kwargs["aws_access_key_id"] = "test"
                        kwargs["aws_secret_access_key"] = "test"  # noqa: S105 - emulator placeholder
                if service == "s3":
                    # SigV4 for presigned URLs and POSTs too (boto3 still presigns POSTs with SigV2 by default).
                    kwargs["config"] = kwargs["config"].merge(Config(signature_version="s3v4"))
                self._cache[service] = self._session.client(service, **kwargs)  # type: ignore[call-overload]
            return self._cache[service]

    # One typed attribute per service, each made on first use.
    s3: ClassVar[_Service[S3Client]] = _Service("s3")
    sqs: ClassVar[_Service[SQSClient]] = _Service("sqs")
    sns: ClassVar[_Service[SNSClient]] = _Service("sns")
    dynamodb: ClassVar[_Service[DynamoDBClient]] = _Service("dynamodb")
    cloudwatch: ClassVar[_Service[CloudWatchClient]] = _Service("cloudwatch")
    sts: ClassVar[_Service[STSClient]] = _Service("sts")
    cloudfront: ClassVar[_Service[CloudFrontClient]] = _Service("cloudfront")


def make_clients(settings: Settings, *, max_attempts: int = 4) -> Clients:
    """Build the client factory for these settings (honours AWS_ENDPOINT_URL through Settings)."""
    return Clients(settings, client_config(settings, max_attempts=max_attempts))


def resolve_topic_arns(settings: Settings, clients: Clients) -> Settings:
    """Fill in topic ARNs from their names when the environment gave none (terraform always gives them)."""
    if settings.names.results_topic_arn and settings.names.alerts_topic_arn:
        return settings
    account = clients.sts.get_caller_identity()["Account"]
    partition = "aws"

    def arn(name: str) -> str:
        return f"arn:{partition}:sns:{settings.region}:{account}:{name}"

    return settings.with_(
        results_topic_arn=settings.names.results_topic_arn or arn(settings.names.results_topic_name),
        alerts_topic_arn=settings.names.alerts_topic_arn or arn(settings.names.alerts_topic_name),
    )
