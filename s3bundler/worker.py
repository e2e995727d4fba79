"""The queue loop: receive a message, keep it invisible with a heartbeat, process its
manifest(s), commit, delete the message, repeat -- until told to stop.

- SIGTERM/SIGINT (ECS stop, spot interruption): take no more work, abort the in-flight
  multipart upload, make the message visible again at once, exit (code 143).
- A poison message (bad JSON, manifest gone or unreadable as a sub-manifest) is logged and
  left to the queue's redrive policy; the worker carries on with other messages. A message
  naming one of the bundler's own outputs (an archive index, ...) is dropped with a warning:
  it is never bundled.
- S3 not answering (or answering 5xx) is an outage, not poison: the worker keeps the message
  invisible, waits until S3 answers and runs the manifest again (outage.py); past the outage
  limit it releases the message and exits with the documented code.
- A manifest that fails for other reasons beyond the message (archive bucket not writable) is
  aborted, its message left for redelivery, and the worker exits with the documented code so
  the orchestrator restarts it.
"""

from __future__ import annotations

import itertools
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from s3bundler import events
from s3bundler.archiver import BundlerConfig, ManifestJob, ManifestResult
from s3bundler.errors import (
    Cancelled,
    ManifestUnreadable,
    NotASubmanifest,
    OutputCollision,
    PoisonMessage,
)
from s3bundler.fetched import Fetcher
from s3bundler.heartbeat import Heartbeat
from s3bundler.messages import manifest_locations
from s3bundler.outage import DEFAULT_LIMIT, OutageWait
from s3common.aws import AWS_ERRORS, api_failed, describe
from s3common.errors import ExitCode, S3BundlerError
from s3common.metrics import Metrics
from s3common.queues import resolve_queue_url
from s3common.request_options import RequestOptions
from s3common.requests import RequestCounter
from s3common.s3uri import S3Uri

log = logging.getLogger(__name__)

EXIT_STOPPED = 143  # 128 + SIGTERM: stopped on request, work released
_POISON = -1  # _process: leave the message to the queue's redrive policy


@dataclass(frozen=True)
class QueueOptions:
    queue: str  # name or URL
    max_messages: int = 0  # 0 = no limit
    idle_exit: float = 0  # seconds; 0 = never
    visibility_timeout: int = 0  # 0 = the queue's own
    wait_seconds: int = 5  # long-poll length; also the worst-case stop latency when idle
    outage_limit: float = DEFAULT_LIMIT  # seconds a manifest waits for S3 to answer again


def run_manifest(
    s3: Any,
    config: BundlerConfig,
    manifest: S3Uri,
    stop: threading.Event,
    metrics: Metrics,
    fetcher: Fetcher | None,
    outage: OutageWait,
    requests: RequestOptions | None = None,
    counter: RequestCounter | None = None,
) -> ManifestResult:
    """Run one manifest; an outage is waited out and the manifest run again, until the outage
    limit (then the transient error propagates). With a ``counter`` (attached to ``s3`` and
    given to the fetcher), the requests made for it, every attempt included, go into its
    completion report."""
    if requests is not None:
        requests.owned.add(manifest.bucket)  # --expected-bucket-owner covers it, not SSE-C
    since = time.monotonic()
    made = counter.window() if counter is not None else None  # one manifest at a time
    for attempt in itertools.count():
        try:
            job = ManifestJob(
                s3, config, manifest, cancel=stop, metrics=metrics, fetcher=fetcher, requests=made
            )
            return job.run()
        except S3BundlerError as exc:
            if not exc.transient:
                raise
            events.manifest_failed(manifest, "Outage", f"{exc}; waiting for S3 to answer")
            if not outage.wait(manifest.bucket, since, attempt):
                if stop.is_set():
                    raise Cancelled() from exc
                raise


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
    outage_limit: float = DEFAULT_LIMIT,
    requests: RequestOptions | None = None,
    counter: RequestCounter | None = None,
    on_done: Callable[[ManifestResult], None] | None = None,
) -> int:
    """``-m``: process one manifest and return the exit code."""
    try:
        outage = OutageWait(s3, stop, outage_limit)
        result = run_manifest(
            s3, config, manifest, stop, metrics, fetcher, outage, requests, counter
        )
    except Cancelled:
        events.manifest_failed(manifest, "Stopped", "stopped by signal; upload aborted")
        return EXIT_STOPPED
    except S3BundlerError as exc:
        events.manifest_failed(manifest, type(exc).__name__, str(exc))
        raise
    events.manifest_done(result.log_fields())
    if on_done is not None:
        on_done(result)
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
        requests: RequestOptions | None = None,
        counter: RequestCounter | None = None,
        on_done: Callable[[ManifestResult], None] | None = None,
    ) -> None:
        self.s3 = s3
        self.fetcher = fetcher
        self.requests = requests
        self.counter = counter  # S3 requests, for the completion reports
        self.on_done = on_done  # each finished manifest (--report)
        self.metrics = metrics
        self.sqs = sqs
        self.config = config
        self.options = options
        self.stop = stop
        self.queue_url = resolve_queue_url(sqs, options.queue)
        self.visibility = options.visibility_timeout or self._queue_visibility()
        self.outage = OutageWait(s3, stop, options.outage_limit)
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
            code, counted = self._handle(message)
            idle_since = time.monotonic()
            self.handled += counted
            if code is not None:
                return code
            if self.options.max_messages and self.handled >= self.options.max_messages:
                break
        return EXIT_STOPPED if self.stop.is_set() else int(ExitCode.OK)

    def _handle(self, message: dict[str, Any]) -> tuple[int | None, bool]:
        """Process one message: (an exit code when the worker must stop, whether it counts
        toward --max-messages -- test events and ignored messages do not)."""
        mid = message.get("MessageId", "?")
        receipt = message["ReceiptHandle"]
        try:
            manifests = manifest_locations(message.get("Body", ""))
        except PoisonMessage as exc:
            events.message_failed(mid, "PoisonMessage", str(exc))
            return None, True
        if not manifests:
            log.info("ignoring message %s (test event or no created objects)", mid)
            self._delete(receipt)
            return None, False
        with Heartbeat(self.sqs, self.queue_url, receipt, self.visibility):
            for manifest in manifests:
                code = self._process(mid, receipt, manifest)
                if code is not None:
                    return (None if code == _POISON else code), True
        self._delete(receipt)
        return None, True

    def _process(self, mid: str, receipt: str, manifest: S3Uri) -> int | None:
        """One manifest of a message: None when done (or to be ignored), _POISON to leave
        the message to the redrive policy, else the worker's exit code."""
        try:
            result = run_manifest(
                self.s3, self.config, manifest, self.stop, self.metrics, self.fetcher,
                self.outage, self.requests, self.counter,
            )  # fmt: skip
        except Cancelled:
            events.manifest_failed(manifest, "Stopped", "stopped by signal; released")
            self._release(receipt)
            return EXIT_STOPPED
        except NotASubmanifest as exc:
            events.message_ignored(mid, str(exc))
            return None
        except (ManifestUnreadable, OutputCollision) as exc:
            events.message_failed(mid, "PoisonMessage", str(exc))
            return _POISON
        except S3BundlerError as exc:
            events.manifest_failed(manifest, type(exc).__name__, str(exc))
            if exc.transient:
                self._release(receipt)
            return int(exc.exit_code)
        events.manifest_done(result.log_fields())
        if self.on_done is not None:
            self.on_done(result)
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
