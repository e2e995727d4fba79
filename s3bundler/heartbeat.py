"""Keep an SQS message invisible while its manifest is being processed."""

from __future__ import annotations

import logging
import threading
from typing import Any

from s3common.aws import AWS_ERRORS, describe, error_code
from s3common.running import StartStop

log = logging.getLogger(__name__)

_GONE = {
    "ReceiptHandleIsInvalid",
    "AWS.SimpleQueueService.NonExistentQueue",
    "InvalidParameterValue",
}


class Heartbeat(StartStop):
    """A thread that extends the message's visibility to ``timeout`` seconds every
    ``timeout / 3`` seconds, so it never lapses however long the manifest takes.
    (SQS caps a message's total invisibility at 12 hours from its receipt.)"""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        receipt_handle: str,
        timeout: int,
        interval: float | None = None,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._receipt = receipt_handle
        self._timeout = int(timeout)
        self._interval = interval if interval is not None else max(0.2, timeout / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self.beats = 0

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=self._receipt,
                    VisibilityTimeout=self._timeout,
                )
                self.beats += 1
                log.debug("heartbeat: visibility extended by %ss", self._timeout)
            except AWS_ERRORS as exc:
                log.error("heartbeat failed: %s", describe(exc))
                if error_code(exc) in _GONE:
                    return

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
