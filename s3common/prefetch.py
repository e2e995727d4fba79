"""Iterating a source in a background thread, a few items ahead of its consumer.

The grouper reads (and normalizes) inventory data files this way while it filters, groups and
encodes the batches already read: Arrow releases the GIL for decompression, parsing and its
compute functions, so the two overlap.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Prefetch(Generic[T]):
    """Iterate ``source`` in a background thread, up to ``depth`` items ahead.

    An exception of the source is raised where its item would have been, after the items
    before it. Leaving the context stops the thread (at its next item) and waits for it; the
    source is closed in that thread."""

    def __init__(self, source: Iterator[T], depth: int = 2, name: str = "read") -> None:
        self._source = source
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name)

    def __enter__(self) -> Prefetch[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def __iter__(self) -> Iterator[T]:
        while True:
            kind, item = self._queue.get()
            if kind == "item":
                yield item
            elif kind == "error":
                raise item
            else:
                return

    def _run(self) -> None:
        try:
            try:
                for item in self._source:
                    if not self._put("item", item):
                        return
            finally:
                close = getattr(self._source, "close", None)
                if close is not None:
                    close()  # a generator's clean-up runs here, in its own thread
        except BaseException as exc:  # handed to the consumer, raised there
            self._put("error", exc)
        else:
            self._put("end", None)

    def _put(self, kind: str, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, item), timeout=0.05)
                return True
            except queue.Full:
                pass
        return False
