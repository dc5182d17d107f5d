"""CloudFront: have the edges forget renditions that were deleted."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import quote

from botocore.exceptions import ClientError

from pipeline.adapters import CONNECTION_ERRORS, transient

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient


def edge_path(key: str) -> str:
    """The path a viewer asks the CDN for an output key: the API's URLs and the invalidations use this one form."""
    return "/" + quote(key, safe="/")


class CloudFrontEdge:
    """Invalidate deleted output keys in one distribution."""

    def __init__(self, client: CloudFrontClient, distribution_id: str) -> None:
        self.client = client
        self.distribution_id = distribution_id

    def forget(self, keys: list[str]) -> None:
        """One invalidation of these keys' exact paths (no wildcard: a key may hold `*`, and wildcards are scarce)."""
        paths = sorted({edge_path(k) for k in keys})
        # The same paths give the same reference: a retried deletion re-sends the invalidation CloudFront already
        # has, and no second one is made (or paid for). Keys are a version's alone, so no later deletion repeats it.
        reference = hashlib.sha256("\n".join(paths).encode()).hexdigest()
        try:
            self.client.create_invalidation(
                DistributionId=self.distribution_id,
                InvalidationBatch={"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference},
            )
        except (ClientError, *CONNECTION_ERRORS) as e:
            # TooManyInvalidationsInProgress (3,000 paths at once) among them: the event comes back later.
            raise transient("cloudfront create_invalidation", e) from e
