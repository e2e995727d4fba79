"""Archives (and copies) in archival storage classes: asking S3 to restore them, and waiting.

An object in GLACIER (Flexible Retrieval) or DEEP_ARCHIVE cannot be read until S3 restores a
temporary copy (``RestoreObject``: hours, by tier); GLACIER_IR and the Intelligent-Tiering
access tiers are read directly. ``restore`` requests what it needs, says when to come back
and exits 75 (NotYet), or with ``--wait`` polls until every one is readable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from s3common.aws import AWS_ERRORS, error_code, read_failed
from s3common.errors import NotYet
from s3common.s3uri import S3Uri

log = logging.getLogger(__name__)

ARCHIVAL = frozenset({"GLACIER", "DEEP_ARCHIVE"})
#: Typical hours until a restore is readable, by storage class and tier (AWS documentation).
HOURS = {
    ("GLACIER", "Expedited"): "1-5 minutes",
    ("GLACIER", "Standard"): "3-5 hours",
    ("GLACIER", "Bulk"): "5-12 hours",
    ("DEEP_ARCHIVE", "Standard"): "up to 12 hours",
    ("DEEP_ARCHIVE", "Bulk"): "up to 48 hours",
}
READY, IN_PROGRESS, NOT_REQUESTED = "ready", "in progress", "not requested"


@dataclass(frozen=True)
class Coldness:
    uri: S3Uri
    storage_class: str
    state: str  # READY, IN_PROGRESS or NOT_REQUESTED


def coldness(s3: Any, uri: S3Uri) -> Coldness:
    try:
        head = s3.head_object(Bucket=uri.bucket, Key=uri.key)
    except AWS_ERRORS as exc:
        raise read_failed(uri, exc) from exc
    storage = head.get("StorageClass") or "STANDARD"
    if storage not in ARCHIVAL:
        return Coldness(uri, storage, READY)
    restore = head.get("Restore") or ""
    if 'ongoing-request="false"' in restore:
        return Coldness(uri, storage, READY)
    return Coldness(uri, storage, IN_PROGRESS if restore else NOT_REQUESTED)


def request_restore(s3: Any, cold: Coldness, days: int, tier: str) -> None:
    try:
        s3.restore_object(
            Bucket=cold.uri.bucket,
            Key=cold.uri.key,
            RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}},
        )
    except AWS_ERRORS as exc:
        if error_code(exc) != "RestoreAlreadyInProgress":
            raise read_failed(cold.uri, exc) from exc
    log.warning(
        "restore of %s (%s) requested, tier %s: readable in %s",
        cold.uri,
        cold.storage_class,
        tier,
        HOURS.get((cold.storage_class, tier), "hours"),
    )


def make_readable(
    s3: Any,
    uris: Iterable[S3Uri],
    *,
    days: int,
    tier: str,
    wait: bool,
    poll_seconds: float = 60.0,
    stop: threading.Event | None = None,
) -> None:
    """Return once every one of ``uris`` is readable: request restores as needed; without
    ``wait``, raise NotYet (exit 75) naming what is on its way."""
    stop = stop or threading.Event()
    pending = []
    for uri in sorted(set(uris)):
        cold = coldness(s3, uri)
        if cold.state == NOT_REQUESTED:
            request_restore(s3, cold, days, tier)
        if cold.state != READY:
            pending.append(cold)
    while pending:
        if not wait:
            first = pending[0]
            eta = HOURS.get((first.storage_class, tier), "hours")
            raise NotYet(
                f"{len(pending)} archive(s) in {first.storage_class} are being restored by S3 "
                f"(e.g. {first.uri}, tier {tier}: {eta}); run the same command again then, "
                "or add --wait"
            )
        log.info(
            "waiting for %d archive restore(s), next check in %.0fs", len(pending), poll_seconds
        )
        if stop.wait(poll_seconds):
            raise NotYet("stopped while waiting for archive restores")
        pending = [c for c in pending if coldness(s3, c.uri).state != READY]
