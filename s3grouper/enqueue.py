"""Direct delivery: send sub-manifest locations to SQS as ``{"Bucket": .., "Key": ..}``.

Only used with ``--queue``, once the run has published all its sub-manifests (never before:
no message may point at a sub-manifest of a run that fails); otherwise the bucket's S3 event
notification delivers them as they are published.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from s3common.aws import AWS_ERRORS, api_failed, error_code
from s3common.errors import AwsApiError

log = logging.getLogger(__name__)

BATCH = 10  # SQS limit per send_message_batch
ATTEMPTS = 5


def message_body(bucket: str, key: str) -> str:
    return json.dumps({"Bucket": bucket, "Key": key})


class QueueSender:
    """Buffers locations and sends them 10 per call, in order, from a background thread (so
    adding does not wait for SQS); failed entries are retried, never dropped: if they
    keep failing, AwsApiError names them, raised by the next ``add`` or by ``flush``.
    ``close`` (or leaving the context) abandons what was not sent yet."""

    def __init__(self, sqs: Any, queue_url: str, pause: float = 0.5) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self.pause = pause
        self.sent = 0
        self._pending: list[tuple[str, str]] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enqueue")
        self._sending: deque[Future[None]] = deque()

    def __enter__(self) -> QueueSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add(self, bucket: str, key: str) -> None:
        self._pending.append((bucket, key))
        if len(self._pending) >= BATCH:
            self._submit()
        while self._sending and self._sending[0].done():
            self._sending.popleft().result()  # an earlier batch's failure, raised here

    def flush(self) -> None:
        """Send everything added; wait until it is sent (raising the first failure)."""
        self._submit()
        while self._sending:
            self._sending[0].result()
            self._sending.popleft()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            self._sending.append(self._pool.submit(self._send, batch))

    def _entry(self, n: int, bucket: str, key: str) -> dict[str, str]:
        entry = {"Id": str(n), "MessageBody": message_body(bucket, key)}
        if self.fifo:
            digest = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()
            entry["MessageGroupId"] = digest[:64]
            entry["MessageDeduplicationId"] = digest[:64]
        return entry

    def _send(self, batch: list[tuple[str, str]]) -> None:
        todo = {str(n): self._entry(n, b, k) for n, (b, k) in enumerate(batch)}
        for attempt in range(1, ATTEMPTS + 1):
            try:
                resp = self.sqs.send_message_batch(
                    QueueUrl=self.queue_url, Entries=list(todo.values())
                )
            except AWS_ERRORS as exc:
                if attempt == ATTEMPTS:
                    raise api_failed(f"send to {self.queue_url}", exc) from None
                log.warning("send to %s failed (%s), retrying", self.queue_url, error_code(exc))
            else:
                failed = resp.get("Failed", [])
                for ok in resp.get("Successful", []):
                    todo.pop(ok["Id"], None)
                    self.sent += 1
                fatal = [f for f in failed if f.get("SenderFault")]
                if fatal:
                    raise AwsApiError(_describe(self.queue_url, fatal, todo))
                if not todo:
                    return
                if attempt == ATTEMPTS:
                    raise AwsApiError(_describe(self.queue_url, failed, todo))
                log.warning("%s: %d messages not accepted, retrying", self.queue_url, len(todo))
            time.sleep(self.pause * attempt)


def _describe(queue_url: str, failed: list[dict[str, Any]], todo: dict[str, dict[str, str]]) -> str:
    first = failed[0] if failed else {}
    body = todo.get(str(first.get("Id")), {}).get("MessageBody", "?")
    return (
        f"{queue_url}: {len(todo)} message(s) not sent, first {body}: "
        f"{first.get('Code', 'Unknown')}: {first.get('Message', '')}".rstrip(": ")
    )
