"""Waiting for a future while watching for a stop signal and for a stall."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from s3bundler.errors import Cancelled
from s3common.errors import DownloadError

T = TypeVar("T")
POLL_SECONDS = 0.5


def result_of(
    fut: Future[T],
    cancel: threading.Event,
    stall_limit: float | None = None,
    what: str = "",
) -> T:
    """The future's result; Cancelled as soon as ``cancel`` is set; a wait longer than
    ``stall_limit`` seconds cancels the future and raises DownloadError naming ``what`` (the
    manifest fails and is redelivered rather than held forever)."""
    waited = 0.0
    while True:
        if cancel.is_set():
            raise Cancelled()
        try:
            return fut.result(timeout=POLL_SECONDS)
        except FutureTimeout:
            waited += POLL_SECONDS
            if stall_limit is not None and waited >= stall_limit:
                fut.cancel()
                raise DownloadError(
                    f"{what}: no object arrived for {waited:.0f}s; giving up", transient=True
                ) from None
