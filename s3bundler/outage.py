"""Waiting out an S3 outage instead of treating good work as poison.

When S3 does not answer (or answers 5xx / throttling past botocore's retries), the manifest is
not at fault: the worker keeps its message (the heartbeat holds it invisible), waits with
growing pauses until S3 answers a probe, and runs the manifest again. Only after ``limit``
seconds does it give the message back and exit, so the orchestrator restarts it -- during an
outage, messages do not march toward the dead-letter queue.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from s3common.aws import AWS_ERRORS, describe, is_transient

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 900.0  # seconds one manifest waits for S3 before its worker gives up
FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0


class OutageWait:
    def __init__(
        self,
        s3: Any,
        stop: threading.Event,
        limit: float = DEFAULT_LIMIT,
        first_pause: float = FIRST_PAUSE,
        longest_pause: float = LONGEST_PAUSE,
    ) -> None:
        self._s3 = s3
        self._stop = stop
        self.limit = limit
        self._first = first_pause
        self._longest = longest_pause

    def reachable(self, bucket: str) -> bool:
        """True when S3 answers a HEAD of ``bucket`` with anything but an outage (a 403 or a
        404 is an answer: S3 is up)."""
        try:
            self._s3.head_bucket(Bucket=bucket)
        except AWS_ERRORS as exc:
            if is_transient(exc):
                log.info("S3 still unreachable: %s", describe(exc))
                return False
        return True

    def wait(self, bucket: str, since: float, attempt: int = 0) -> bool:
        """Pause until S3 answers; False when the stop signal came or ``limit`` seconds have
        passed since ``since`` (a ``time.monotonic()``) without an answer. The first pause
        grows with ``attempt`` (the outages this manifest already waited out), so a failure
        the probe cannot see is not retried in a tight loop."""
        pause = min(self._first * 2**attempt, self._longest)
        while not self._stop.is_set():
            if time.monotonic() - since > self.limit:
                return False
            if self._stop.wait(pause):
                break
            if self.reachable(bucket):
                return True
            pause = min(pause * 2, self._longest)
        return False
