"""Exit codes and the exceptions that carry them (docs/formats.md, "Exit codes")."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1  # verify / reconcile: the check ran and found problems
    USAGE = 2  # bad arguments or bad input the user gave
    INPUT_DATA = 3  # input exists but cannot be read as what it claims to be
    UPLOAD = 4  # writing to S3 failed
    DOWNLOAD = 5  # reading from S3 failed
    NOT_FOUND = 6  # find / restore: the object is nowhere in the catalog
    AWS = 7  # any other AWS API error
    NOT_YET = 75  # restore: the archive is in cold storage; a restore was requested


class S3BundlerError(Exception):
    """An error that ends the program with a one-line message and a documented exit code.
    ``transient``: the service did not answer, or answered "try again" (5xx, throttling) --
    an outage to wait out, not a verdict on the input."""

    exit_code: ExitCode = ExitCode.AWS
    transient: bool = False

    def __init__(
        self, message: str, exit_code: ExitCode | None = None, *, transient: bool = False
    ) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        self.transient = transient


class UsageError(S3BundlerError):
    exit_code = ExitCode.USAGE


class InputDataError(S3BundlerError):
    exit_code = ExitCode.INPUT_DATA


class UploadError(S3BundlerError):
    exit_code = ExitCode.UPLOAD


class DownloadError(S3BundlerError):
    exit_code = ExitCode.DOWNLOAD


class AwsApiError(S3BundlerError):
    exit_code = ExitCode.AWS


class NotFound(S3BundlerError):
    exit_code = ExitCode.NOT_FOUND


class NotYet(S3BundlerError):
    """The data is in an archival storage class; an S3 restore is under way."""

    exit_code = ExitCode.NOT_YET
