"""CloudWatch metrics in embedded metric format (EMF): one JSON log line per result, no API calls."""

from __future__ import annotations

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

NAMESPACE = "imgpipe"


def emit_processed(environment: str, *, ms: float, bytes_in: int, bytes_out: int) -> None:
    """Count one processed image, with its processing time and bytes read and written."""
    # EphemeralMetrics keeps no state between instances, so worker threads never mix their metrics.
    m = EphemeralMetrics(namespace=NAMESPACE, service="imgpipe")
    m.add_dimension("environment", environment)
    m.add_metric("ImagesProcessed", MetricUnit.Count, 1)
    m.add_metric("ProcessingMs", MetricUnit.Milliseconds, round(ms, 1))
    m.add_metric("BytesIn", MetricUnit.Bytes, bytes_in)
    m.add_metric("BytesOut", MetricUnit.Bytes, bytes_out)
    m.flush_metrics()


def emit_failed(environment: str, *, reason: str) -> None:
    """Count one failed image, by reason code."""
    m = EphemeralMetrics(namespace=NAMESPACE, service="imgpipe")
    m.add_dimension("environment", environment)
    m.add_dimension("reason", reason)
    m.add_metric("ImagesFailed", MetricUnit.Count, 1)
    m.flush_metrics()
