"""The pipeline's errors: each says whether retrying can help."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose; `code` is a short, stable reason."""

    code = "error"

    def __init_subclass__(cls, *, code: str = "", **kwargs: object) -> None:
        # Each kind names its default code in its class line: `class ImageError(PermanentError, code="bad_image")`.
        super().__init_subclass__(**kwargs)
        if code:
            cls.code = code

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def reason(self) -> str:
        """The human-readable reason recorded on the item and sent in the notification."""
        return str(self)


class PermanentError(PipelineError, code="permanent"):
    """Bad input: retrying cannot help. Record it as failed, notify, and acknowledge the message."""


class TransientError(PipelineError, code="transient"):
    """A passing fault (AWS error, timeout, lease held elsewhere): let SQS retry, then the DLQ."""


class ConfigurationError(TransientError, code="configuration"):
    """A setting names something that does not work (CMYK_PROFILE): not the image's fault, so the job is retried
    and reaches the DLQ, whose alarm tells an operator; a redrive after the fix loses nothing."""


class ImageError(PermanentError, code="bad_image"):
    """The bytes are not an image we can and may process."""


class TooLargeError(PermanentError, code="too_large"):
    """The upload is over the byte limit (known from the event, the object's length, or its body)."""


class SourceMissingError(PermanentError, code="source_missing"):
    """The source object no longer exists (deleted before we got to it)."""


class SupersededError(PipelineError, code="superseded"):
    """A newer version of the object has replaced the one this event is about; nothing to do."""
