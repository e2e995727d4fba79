"""boto3 sessions and clients, configured the same way everywhere.

Endpoint, region and credentials come from the standard boto3 chain only (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``, ``AWS_DEFAULT_REGION``) plus ``--region/--profile``.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from s3common.errors import (
    AwsApiError,
    DownloadError,
    ExitCode,
    S3BundlerError,
    UploadError,
)

#: Retry policy for every client: adaptive mode backs off on throttling (SlowDown, 503).
RETRIES = {"mode": "adaptive", "max_attempts": 10}


def make_session(region: str | None = None, profile: str | None = None) -> boto3.session.Session:
    try:
        return boto3.session.Session(region_name=region, profile_name=profile)
    except botocore.exceptions.ProfileNotFound as exc:
        raise S3BundlerError(str(exc), ExitCode.USAGE) from None


def make_client(
    session: boto3.session.Session,
    service: str,
    *,
    max_pool_connections: int = 10,
    max_attempts: int | None = None,
    **config: Any,
) -> Any:
    """A client of ``service`` with our retry policy and pool size; ``config``: more
    botocore ``Config`` settings."""
    retries = dict(RETRIES)
    if max_attempts is not None:
        retries["max_attempts"] = max_attempts
    if service == "s3":
        # Every upload carries a checksum S3 verifies (botocore's CRC32, or one we computed).
        # When the checksum is given rather than computed, botocore would also SHA-256 the
        # body for the signature: ~14 ms per 8 MiB part, ~1 ms per sub-manifest. A caller's
        # own s3 settings are added to this one (and win where they name it too).
        config["s3"] = {"payload_signing_enabled": False, **(config.get("s3") or {})}
    cfg = Config(retries=retries, max_pool_connections=max_pool_connections, **config)
    return session.client(service, config=cfg)


def error_code(exc: BaseException) -> str:
    """The S3/SQS error code of a botocore ClientError ('NoSuchKey', '404', ...), else the
    exception's class name."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def describe(exc: BaseException) -> str:
    """One-line reason for an AWS failure (an HTML error page is reduced to its status)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "Unknown")
        msg = " ".join(str(err.get("Message") or "").split())
        if msg.startswith("<"):
            msg = ""
        return f"{code}: {msg[:300]}".rstrip(": ")
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)

NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchVersion"})
NO_BUCKET_CODES = frozenset({"NoSuchBucket"})


#: Answers that mean "the service is having trouble, try again" (after botocore's retries).
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestTimeTooSkewed",
        "500",
        "502",
        "503",
        "504",
    }
)
#: No answer at all: connection refused, reset, timed out, cut short.
NO_ANSWER_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """True for an outage (no answer, or a 5xx/throttling answer), not a verdict."""
    if isinstance(exc, NO_ANSWER_ERRORS):
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in TRANSIENT_CODES or int(status or 0) >= 500
    return False


def read_failed(uri: object, exc: BaseException) -> S3BundlerError:
    """The error to raise when reading ``uri`` from S3 failed."""
    return DownloadError(f"cannot read {uri}: {describe(exc)}", transient=is_transient(exc))


def write_failed(uri: object, exc: BaseException) -> S3BundlerError:
    """The error to raise when writing ``uri`` to S3 failed."""
    return UploadError(f"cannot write {uri}: {describe(exc)}", transient=is_transient(exc))


def api_failed(what: str, exc: BaseException) -> S3BundlerError:
    return AwsApiError(f"{what}: {describe(exc)}")
