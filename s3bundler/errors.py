"""Worker-level failures. Per-object failures are not exceptions: they become DLQ rows."""

from __future__ import annotations

from s3common.errors import ExitCode, S3BundlerError


class Cancelled(Exception):
    """Shutdown was requested (SIGTERM/SIGINT) while a manifest was in progress."""


class PoisonMessage(S3BundlerError):
    """A queue message that can never be processed (bad JSON, unknown shape, manifest gone).
    It is left to the queue's redrive policy."""


class ManifestUnreadable(S3BundlerError):
    """The sub-manifest itself cannot be read (gone, denied, malformed). For a queue message
    this is poison: logged, left to the redrive policy, and the worker carries on."""


class OutputCollision(S3BundlerError):
    """The archive key of this sub-manifest already holds another sub-manifest's archive.
    Nothing is written; for a queue message this is poison (left to the redrive policy)."""

    exit_code = ExitCode.USAGE


class NotASubmanifest(S3BundlerError):
    """The message names one of the bundler's own outputs (an archive index, a DLQ index, a
    completion report, an archive): it is never bundled; the queue worker drops the message."""

    exit_code = ExitCode.INPUT_DATA
