"""The queue loop: receive a message, keep it invisible with a heartbeat, process its
manifest(s), commit, delete the message, repeat -- until told to stop.

- SIGTERM/SIGINT (ECS stop, spot interruption): take no more work, abort the in-flight
  multipart upload, make the message visible again at once, exit (code 143).
- A poison message (bad JSON, manifest gone or malformed) is logged and left to the queue's
  redrive policy; the worker carries on with other messages.
- A manifest that fails for reasons beyond the message (archive bucket unwritable, S3
  unreachable) is aborted, its message left for redelivery, and the worker exits with the
  documented code so the orchestrator restarts it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

from s3bundler import events
from s3bundler.archiver import BundlerConfig, ManifestJob
from s3bundler.errors import Cancelled, ManifestUnreadable, OutputCollision, PoisonMessage
from s3bundler.fetched import Fetcher
from s3bundler.heartbeat import Heartbeat
from s3bundler.messages import manifest_locations
from s3common.aws import AWS_ERRORS, api_failed, describe
from s3common.errors import ExitCode, S3BundlerError
from s3common.metrics import Metrics
from s3common.queues import resolve_queue_url
from s3common.s3uri import S3Uri

log = logging.getLogger(__name__)

EXIT_STOPPED = 143  # 128 + SIGTERM: stopped on request, work released


@dataclass(frozen=True)
class QueueOptions:
    queue: str  # name or URL
    max_messages: int = 0  # 0 = no limit
    idle_exit: float = 0  # seconds; 0 = never
    visibility_timeout: int = 0  # 0 = the queue's own
    wait_seconds: int = 5  # long-poll length; also the worst-case stop latency when idle


class StopSignal:
    """Turns SIGTERM/SIGINT into an Event that every loop checks."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def install(self) -> StopSignal:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.event.is_set():
            log.warning("received %s: stopping", signal.Signals(signum).name)
        self.signum = signum
        self.event.set()


def process_one(
    s3: Any,
    config: BundlerConfig,
    manifest: S3Uri,
    stop: threading.Event,
    metrics: Metrics,
    fetcher: Fetcher | None = None,
) -> int:
    """``-m``: process one manifest and return the exit code."""
    try:
        job = ManifestJob(s3, config, manifest, cancel=stop, metrics=metrics, fetcher=fetcher)
        result = job.run()
    except Cancelled:
        events.manifest_failed(manifest, "Stopped", "stopped by signal; upload aborted")
        return EXIT_STOPPED
    except S3BundlerError as exc:
        events.manifest_failed(manifest, type(exc).__name__, str(exc))
        raise
    events.manifest_done(result.log_fields())
    return int(ExitCode.OK)


class Worker:
    def __init__(
        self,
        s3: Any,
        sqs: Any,
        config: BundlerConfig,
        options: QueueOptions,
        stop: threading.Event,
        metrics: Metrics,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.s3 = s3
        self.fetcher = fetcher
        self.metrics = metrics
        self.sqs = sqs
        self.config = config
        self.options = options
        self.stop = stop
        self.queue_url = resolve_queue_url(sqs, options.queue)
        self.visibility = options.visibility_timeout or self._queue_visibility()
        self.handled = 0

    # -- the story ----------------------------------------------------------------------------
    def run(self) -> int:
        idle_since = time.monotonic()
        while not self.stop.is_set():
            message = self._receive()
            if message is None:
                idle = time.monotonic() - idle_since
                if self.options.idle_exit and idle >= self.options.idle_exit:
                    log.warning("queue idle for %.0fs: exiting", idle)
                    break
                continue
            code = self._handle(message)
            idle_since = time.monotonic()
            self.handled += 1
            if code is not None:
                return code
            if self.options.max_messages and self.handled >= self.options.max_messages:
                break
        return EXIT_STOPPED if self.stop.is_set() else int(ExitCode.OK)

    def _handle(self, message: dict[str, Any]) -> int | None:
        """Process one message; returns an exit code when the worker must stop."""
        mid = message.get("MessageId", "?")
        receipt = message["ReceiptHandle"]
        try:
            manifests = manifest_locations(message.get("Body", ""))
        except PoisonMessage as exc:
            events.message_failed(mid, "PoisonMessage", str(exc))
            return None
        if not manifests:
            log.info("ignoring message %s (test event or no created objects)", mid)
            self._delete(receipt)
            return None
        with Heartbeat(self.sqs, self.queue_url, receipt, self.visibility):
            for manifest in manifests:
                try:
                    job = ManifestJob(
                        self.s3,
                        self.config,
                        manifest,
                        cancel=self.stop,
                        metrics=self.metrics,
                        fetcher=self.fetcher,
                    )
                    result = job.run()
                except Cancelled:
                    events.manifest_failed(manifest, "Stopped", "stopped by signal; released")
                    self._release(receipt)
                    return EXIT_STOPPED
                except (ManifestUnreadable, OutputCollision) as exc:
                    events.message_failed(mid, "PoisonMessage", str(exc))
                    return None
                except S3BundlerError as exc:
                    events.manifest_failed(manifest, type(exc).__name__, str(exc))
                    return int(exc.exit_code)
                events.manifest_done(result.log_fields())
        self._delete(receipt)
        return None

    # -- SQS ----------------------------------------------------------------------------------
    def _queue_visibility(self) -> int:
        try:
            attrs = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]
        except AWS_ERRORS as exc:
            raise api_failed(f"queue {self.queue_url}", exc) from exc
        return int(attrs.get("VisibilityTimeout", 30))

    def _receive(self) -> dict[str, Any] | None:
        try:
            resp = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=self.options.wait_seconds,
                VisibilityTimeout=self.visibility,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except AWS_ERRORS as exc:
            raise api_failed(f"receive from {self.queue_url}", exc) from exc
        messages = resp.get("Messages") or []
        if not messages:
            return None
        message = messages[0]
        if self.stop.is_set():  # arrived while stopping: hand it straight back
            self._release(message["ReceiptHandle"])
            return None
        log.info(
            "received message %s (receive count %s)",
            message.get("MessageId"),
            message.get("Attributes", {}).get("ApproximateReceiveCount", "?"),
        )
        return message

    def _delete(self, receipt: str) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except AWS_ERRORS as exc:
            # The work is committed; a redelivery would only redo it idempotently.
            log.error("cannot delete message from %s: %s", self.queue_url, describe(exc))

    def _release(self, receipt: str) -> None:
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
            )
        except AWS_ERRORS as exc:
            log.error("cannot release message on %s: %s", self.queue_url, describe(exc))
