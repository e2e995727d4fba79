"""Counting the requests a boto3 client makes, by operation (``GetObject``, ``UploadPartCopy``
...): what a command reports it did, and what it cost (docs/restore.md, docs/costs.md).
Requests sent another way (the bundler's awscrt GETs) are counted with :meth:`add`."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any


class RequestCounter:
    """Attach to one or more clients; ``counts`` is a Counter of operation names. Every HTTP
    attempt is counted (retries included), as S3 bills them."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-send.{service}", self._count)
        return client

    def _count(self, event_name: str = "", **kwargs: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1] or "unknown"  # before-send.s3.GetObject
        with self._lock:
            self.counts[operation] += 1

    def add(self, operation: str, n: int = 1) -> None:
        """Count ``n`` requests of ``operation`` sent without a boto3 client."""
        with self._lock:
            self.counts[operation] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def since(self, snapshot: dict[str, int]) -> dict[str, int]:
        """The requests counted after ``snapshot`` was taken, by operation."""
        with self._lock:
            now = dict(self.counts)
        return {
            op: n - snapshot.get(op, 0) for op, n in sorted(now.items()) if n > snapshot.get(op, 0)
        }

    def window(self) -> Callable[[], dict[str, int]]:
        """A function returning the requests counted from now on (one manifest's, when the
        client serves one manifest at a time)."""
        start = self.snapshot()
        return lambda: self.since(start)

    def line(self) -> str:
        """``GetObject 3, PutObject 2`` (``none`` when nothing was sent)."""
        with self._lock:
            items = sorted(self.counts.items())
        return ", ".join(f"{op} {n}" for op, n in items) or "none"

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())
