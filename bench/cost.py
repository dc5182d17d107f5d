"""What a million uploads cost in AWS, every service counted, from the requests one upload makes.

Prices: us-east-1 list prices, read from the AWS pricing pages on 2026-12-02 (S3 Standard requests; DynamoDB
on-demand, after the November 2024 reduction; SNS standard topics; SQS standard queues; Lambda x86_64 and arm64,
first pricing tier). Free tiers are left out: at 10,000 uploads an hour they are used up within days.

`python bench/cost.py [LAMBDA_MS]` prints the table in docs/performance.md for each FORMATS choice; `make bench` runs it
with the measured milliseconds of a 12 MP JPEG at 512 MB.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.settings import Settings

PRICES = {
    "s3_put": 0.005 / 1000,  # PUT, COPY, POST, LIST per request
    "s3_get": 0.0004 / 1000,  # GET and all other requests
    "ddb_write": 0.625 / 1_000_000,  # per write request unit (1 KB)
    "sns_publish": 0.50 / 1_000_000,  # per 64 KB chunk published
    "sqs_request": 0.40 / 1_000_000,  # per 64 KB chunk of a request (send, receive, delete)
    "lambda_request": 0.20 / 1_000_000,
    "lambda_gb_s_x86_64": 0.0000166667,
    "lambda_gb_s_arm64": 0.0000133334,
}
SIZES = 3  # large, medium, thumb
BATCH = 10  # the event source mapping's batch size: one invocation, one receive and one delete per ten images
MEMORY_MB = 512
# Bytes of the item: its fixed attributes, then each rendition entry (name, bucket, key, size, type, ETag, format).
ITEM_BASE_BYTES = 520
ITEM_BYTES_PER_RENDITION = 190


@dataclass(frozen=True)
class Requests:
    """What one upload asks of each service."""

    s3_put: float
    s3_get: float
    ddb_write: float
    sns_publish: float
    sqs_request: float
    lambda_request: float
    lambda_gb_s: float


def requests_per_upload(
    variants: int, lambda_ms: float, *, deferred: bool = False, objects: int | None = None
) -> Requests:
    """The requests of one upload when each size is written in 1 + `variants` formats, or `objects` renditions in
    all (one format deferred: made by a job of its own, which sends, receives and deletes a message, reads the
    source again, writes the item whole, records its publish and publishes again)."""
    renditions = SIZES * (1 + variants) if objects is None else objects
    item_kb = math.ceil((ITEM_BASE_BYTES + ITEM_BYTES_PER_RENDITION * renditions) / 1024)
    later = 1 if deferred else 0
    return Requests(
        s3_put=1 + renditions,  # the upload itself, then every rendition
        s3_get=1 + later,  # the source, read once (If-Match), and again by the deferred job
        # claim (a small item: 1 KB), the result written whole, the publish recorded (an update is billed on the
        # larger of the item before and after it); the deferred job writes the item whole and records its publish
        ddb_write=1 + 2 * item_kb + later * 2 * item_kb,
        sns_publish=1 + later,
        # S3's send, then the batch's receive and delete; the job's send, receive and delete
        sqs_request=1 + 2 / BATCH + later * (1 + 2 / BATCH),
        lambda_request=(1 + later) / BATCH,
        lambda_gb_s=lambda_ms / 1000 * MEMORY_MB / 1024,
    )


def cost_per_million(
    variants: int, lambda_ms: float, arch: str = "arm64", *, deferred: bool = False, objects: int | None = None
) -> dict[str, float]:
    """US dollars per million uploads, by service, and the total."""
    r = requests_per_upload(variants, lambda_ms, deferred=deferred, objects=objects)
    usd = {
        "s3_put": r.s3_put * PRICES["s3_put"],
        "s3_get": r.s3_get * PRICES["s3_get"],
        "dynamodb": r.ddb_write * PRICES["ddb_write"],
        "sns": r.sns_publish * PRICES["sns_publish"],
        "sqs": r.sqs_request * PRICES["sqs_request"],
        "lambda": r.lambda_request * PRICES["lambda_request"] + r.lambda_gb_s * PRICES[f"lambda_gb_s_{arch}"],
    }
    out = {k: round(v * 1_000_000, 2) for k, v in usd.items()}
    out["total"] = round(sum(usd.values()) * 1_000_000, 2)
    return out


# The lever on cost: S3 PUTs are most of it, one per rendition. Which formats each size is written in, as the
# RENDITIONS setting that makes it (docs/operations.md), and so how many objects an upload makes; a browser that
# shows none of a size's formats is sent the large fallback, scaled by the page (pipeline/web/app.js).
LEVERS = {
    "every size: fallback, WebP, AVIF (the default)": "large:800x600,medium:400x300,thumb:150x150",
    "no AVIF thumbnail": "large:800x600,medium:400x300,thumb:150x150:fallback+webp",
    "fallback at the large size only": "large:800x600,medium:400x300:webp+avif,thumb:150x150:webp+avif",
    "AVIF at the large size, WebP at every size": "large:800x600,medium:400x300:webp,thumb:150x150:webp",
    "WebP everywhere, fallback at the large size": "large:800x600:fallback+webp,medium:400x300:webp,thumb:150x150:webp",
}


def levers(lambda_ms: float, support: dict[str, float]) -> list[dict[str, object]]:
    """Each lever's objects per upload, cost per million uploads, and the share of browsers (caniuse's usage
    figures, `support`: format -> percent) that get a rendition of every size instead of the scaled large one."""
    rows = []
    for name, spec in LEVERS.items():
        imaging = Settings.from_env({"RENDITIONS": spec}).imaging
        # The objects a JPEG source makes (the deferred AVIF included): what the function really writes.
        per_size = [r.formats("JPEG", imaging.variants) for r in imaging.renditions]
        objects = sum(len(formats) for formats in per_size)
        every_size = min(
            100.0 if "JPEG" in formats else max(support.get(f.lower(), 0.0) for f in formats) for formats in per_size
        )
        usd = cost_per_million(0, lambda_ms, deferred=bool(imaging.deferred), objects=objects)
        rows.append(
            {
                "lever": name,
                "renditions": spec,
                "objects": objects,
                "usd_per_million": usd["total"],
                "every_size_pct": every_size,
            }
        )
    return rows


def main() -> int:
    lambda_ms = float(sys.argv[1]) if len(sys.argv) > 1 else 123.0
    rows = {
        name: cost_per_million(n, lambda_ms)
        for name, n in (("fallback", 0), ("fallback,webp", 1), ("fallback,webp,avif", 2))
    }
    rows["avif deferred"] = cost_per_million(2, lambda_ms, deferred=True)
    print(f"{'FORMATS':<20} " + " ".join(f"{k:>8}" for k in next(iter(rows.values()))))
    for name, row in rows.items():
        print(f"{name:<20} " + " ".join(f"{v:>8.2f}" for v in row.values()))
    print(json.dumps({"lambda_ms": lambda_ms, "usd_per_million_uploads": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
