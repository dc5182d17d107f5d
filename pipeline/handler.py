"""The Lambda entry point: a batch of SQS messages in, the ones to retry out."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from pipeline.errors import TransientError
from pipeline.events import BatchResponse, MalformedMessageError, SQSEvent, VariantsJob, parse_message
from pipeline.process import Processor
from pipeline.wiring import build_processor, from_environment

log = logging.getLogger(__name__)


def handle_batch(event: SQSEvent | dict[str, Any], context: Any, processor: Processor) -> BatchResponse:
    """Process every record; report only the ones SQS must deliver again."""
    request_id = str(getattr(context, "aws_request_id", ""))
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    reserve_ms = processor.settings.timing.start_reserve_ms

    def record_handler(record: SQSRecord) -> None:
        if callable(remaining) and remaining() < reserve_ms:
            # A batch that runs into the timeout loses its whole partial-batch response: all ten come back and
            # each burns a receive (three such, and good jobs are in the DLQ). Records not started are handed
            # back now instead, and only they.
            log.warning(
                "not started: %s ms left, under the %s ms an image may need; SQS delivers it again",
                remaining(),
                reserve_ms,
                extra={"message_id": record.message_id, "request_id": request_id, "stage": "no_time"},
            )
            raise TransientError("not started: too little time left in this invocation", code="no_time")
        try:
            # The variants queue carries the processor's own deferred jobs; the job queue, S3's events.
            message = parse_message(record.body)
        except MalformedMessageError as e:
            # Nothing to record it under: fail it, so it reaches the DLQ after its receives and alarms.
            log.error(
                "malformed message, left for the DLQ: %s",
                e,
                extra={"message_id": record.message_id, "request_id": request_id, "reason": str(e)},
            )
            raise
        # The first delivery is 1; absent (a hand-made event), take it as the first.
        receives = int(str((record.raw_event.get("attributes") or {}).get("ApproximateReceiveCount") or 1))
        if isinstance(message, VariantsJob):
            processor.add_variants(message, request_id, receives)
            return
        for ref in message:
            processor.process(ref, request_id, record.message_id, receives)

    batch = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(dict(event), record_handler, batch, context)
    failures = [{"itemIdentifier": str(f["itemIdentifier"])} for f in response.get("batchItemFailures", [])]
    return {"batchItemFailures": failures}  # type: ignore[typeddict-item]


@lru_cache(maxsize=1)
def _processor() -> Processor:
    # Built once per Lambda container (cold start); clients and connections are reused across invocations.
    return build_processor(from_environment())


def lambda_handler(event: dict[str, Any], context: Any) -> BatchResponse:
    """AWS Lambda entry point for SQS events carrying S3 notifications."""
    return handle_batch(event, context, _processor())
