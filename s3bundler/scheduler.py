"""The ordered fetch scheduler: reads a manifest's small objects ahead of the archive writer,
concurrently but within a byte budget, and hands them over in manifest order.

It owns the GET client (a fetcher), the window of objects in flight, the budget of bytes
downloaded but not yet written, the stall limit and cancellation. For each row it yields
``(entry, outcome)``, the outcome being

- :class:`~s3bundler.fetched.Fetched` -- the object read whole and verified;
- an opened stream (whatever ``open_stream`` returns) -- for objects above the buffering
  limit, which the writer copies chunk by chunk; it is opened when it enters the window if
  fewer than ``prefetch_streams`` opened streams wait ahead (so the next large object is
  being read while the current one is written), else when its turn comes;
- :class:`~s3bundler.failures.ObjectFailed` -- the row's DLQ reason.

DownloadError (no answer from S3, or a stall) and Cancelled propagate: the manifest fails.
A budget slot is released when the consumer asks for the next row, i.e. once the previous
object has been written.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from s3bundler.failures import ObjectFailed
from s3bundler.fetched import Fetched, Fetcher, TooBigToBuffer
from s3bundler.waiting import result_of
from s3common.sizes import MiB
from s3common.submanifest import ManifestEntry

S = TypeVar("S")  # what open_stream returns


@dataclass(frozen=True)
class FetchLimits:
    buffer_bytes: int = 64 * MiB  # downloaded but not yet written
    stream_threshold: int = 8 * MiB  # larger objects are streamed, not buffered
    window: int = 128  # rows in flight at most (4 x the GET concurrency)
    stall_seconds: float = 300.0  # waiting longer for the next buffered object fails
    prefetch_streams: int = 1  # streams opened ahead of the one being written


@dataclass
class _Slot:
    entry: ManifestEntry
    future: Future[Fetched] | None  # None: stream it
    cost: int  # bytes of the budget it holds
    stream: Any = None  # opened ahead of its turn
    failure: ObjectFailed | None = None  # opening it ahead failed


class FetchScheduler(Generic[S]):
    """``with FetchScheduler(...) as s: for entry, outcome in s.outcomes(entries): ...``;
    leaving the block cancels whatever is still in flight."""

    def __init__(
        self,
        fetcher: Fetcher,
        open_stream: Callable[[ManifestEntry], S],
        limits: FetchLimits,
        cancel: threading.Event,
        what: str = "manifest",
    ) -> None:
        self._fetcher = fetcher
        self._open_stream = open_stream
        self._limits = limits
        self._cancel = cancel
        self._what = what
        self._window: deque[_Slot] = deque()
        self.reserved = 0  # bytes of the budget held by the window

    def __enter__(self) -> FetchScheduler[S]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for slot in self._window:
            if slot.future is not None:
                slot.future.cancel()
            close = getattr(slot.stream, "close", None)
            if close is not None:
                close()
        self._window.clear()
        self.reserved = 0

    def outcomes(
        self, entries: Iterable[ManifestEntry]
    ) -> Iterator[tuple[ManifestEntry, Fetched | S | ObjectFailed]]:
        pending = iter(entries)
        lookahead = next(pending, None)
        while True:
            lookahead = self._fill(lookahead, pending)
            if not self._window:
                return
            slot = self._window.popleft()
            self._open_ahead()  # the next large objects are read while this one is written
            try:
                yield slot.entry, self._outcome(slot)
            finally:
                self.reserved -= slot.cost

    def _fill(
        self, lookahead: ManifestEntry | None, pending: Iterator[ManifestEntry]
    ) -> ManifestEntry | None:
        """Start GETs for the next rows while the window and the byte budget allow; returns
        the first row not started yet."""
        limits = self._limits
        while lookahead is not None and len(self._window) < limits.window:
            e = lookahead
            if e.size is None or e.size > limits.stream_threshold:
                self._window.append(_Slot(e, None, 0))
            else:
                cost = max(e.size, 1)
                if self._window and self.reserved + cost > limits.buffer_bytes:
                    break
                self.reserved += cost
                future = self._fetcher.submit(e, limits.stream_threshold)
                self._window.append(_Slot(e, future, cost))
            lookahead = next(pending, None)
        self._open_ahead()
        return lookahead

    def _open_ahead(self) -> None:
        """Open the first streams of the window, up to ``prefetch_streams`` of them."""
        opened = 0
        for slot in self._window:
            if opened >= self._limits.prefetch_streams:
                return
            if slot.future is not None:
                continue
            if slot.stream is None and slot.failure is None:
                try:
                    slot.stream = self._open_stream(slot.entry)
                except ObjectFailed as failure:
                    slot.failure = failure
            opened += 1

    def _outcome(self, slot: _Slot) -> Fetched | S | ObjectFailed:
        try:
            if slot.future is None:
                if slot.failure is not None:
                    return slot.failure
                return slot.stream if slot.stream is not None else self._open_stream(slot.entry)
            try:
                return result_of(slot.future, self._cancel, self._limits.stall_seconds, self._what)
            except TooBigToBuffer:
                return self._open_stream(slot.entry)
        except ObjectFailed as failure:
            return failure
        except BaseException:
            if slot.future is not None:
                slot.future.cancel()
            raise
