"""Per-object failures: the exception that becomes a DLQ row, how S3 errors map to its
reasons, and which errors mean "no answer from S3" (a manifest-level failure instead)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.exceptions
from urllib3.exceptions import HTTPError as Urllib3Error

from s3bundler import dlq
from s3common.aws import AWS_ERRORS, describe, error_code
from s3common.errors import DownloadError


class ObjectFailed(Exception):
    """A per-object failure that ends up as a DLQ row."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


#: Errors that happen while reading a response body (connection dropped, timeout).
STREAM_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    Urllib3Error,
    ConnectionError,
)
#: Errors with no answer from S3 at all: a manifest-level failure, not an object's.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    *STREAM_ERRORS,
)

#: S3 error code (or bare HTTP status) -> DLQ reason; anything else is ``dlq.ERROR``.
REASON_OF_CODE = {
    "NoSuchKey": dlq.NO_SUCH_KEY,
    "NoSuchVersion": dlq.NO_SUCH_KEY,
    "404": dlq.NO_SUCH_KEY,
    "NotFound": dlq.NO_SUCH_KEY,
    "NoSuchBucket": dlq.NO_SUCH_BUCKET,
    "AccessDenied": dlq.ACCESS_DENIED,
    "403": dlq.ACCESS_DENIED,
    "AllAccessDisabled": dlq.ACCESS_DENIED,
    "InvalidObjectState": dlq.GLACIER,
    "PreconditionFailed": dlq.CHANGED,
    "412": dlq.CHANGED,
    "SlowDown": dlq.THROTTLED,
    "503": dlq.THROTTLED,
    "ServiceUnavailable": dlq.THROTTLED,
    "Throttling": dlq.THROTTLED,
    "ThrottlingException": dlq.THROTTLED,
    "RequestTimeout": dlq.THROTTLED,
    "InternalError": dlq.THROTTLED,
    "500": dlq.THROTTLED,
}


def reason_for(exc: BaseException) -> str:
    """The DLQ reason for a per-object failure."""
    if isinstance(exc, botocore.exceptions.FlexibleChecksumError):
        return dlq.CHECKSUM_MISMATCH
    return reason_for_code(error_code(exc))


def reason_for_code(code: str) -> str:
    """The DLQ reason for an S3 error code (or a bare HTTP status such as '404')."""
    return REASON_OF_CODE.get(code, dlq.ERROR)


def object_call(where: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """``fn(**kwargs)`` for one source object: an S3 error is ObjectFailed (its DLQ row), no
    answer a transient DownloadError naming ``where`` (the manifest waits out the outage)."""
    try:
        return fn(**kwargs)
    except NETWORK_ERRORS as exc:
        raise DownloadError(f"cannot read {where}: {describe(exc)}", transient=True) from exc
    except AWS_ERRORS as exc:
        raise ObjectFailed(reason_for(exc), describe(exc)) from exc
