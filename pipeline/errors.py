"""The pipeline's errors: each says whether retrying can help."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose; `code` is a short, stable reason."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def reason(self) -> str:
        """The human-readable reason recorded on the item and sent in the notification."""
        return str(self)


class PermanentError(PipelineError):
    """Bad input: retrying cannot help. Record it as failed, notify, and acknowledge the message."""

    code = "permanent"


class TransientError(PipelineError):
    """A passing fault (AWS error, timeout, lease held elsewhere): let SQS retry, then the DLQ."""

    code = "transient"


class ImageError(PermanentError):
    """The bytes are not an image we can and may process."""

    code = "bad_image"


class TooLargeError(PermanentError):
    """The upload is over the byte limit (known from the event, the object's length, or its body)."""

    code = "too_large"


class SourceMissingError(PermanentError):
    """The source object no longer exists (deleted before we got to it)."""

    code = "source_missing"


class SupersededError(PipelineError):
    """A newer version of the object has replaced the one this event is about; nothing to do."""

    code = "superseded"
