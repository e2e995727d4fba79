"""Pure grouping: split a stream of objects into sub-manifests bounded by bytes and count.

A new group starts when adding the next object would pass either threshold
(``bytes + size > size_threshold`` or ``count + 1 > count_threshold``). An object bigger than
the size threshold therefore ends up alone. Groups are never empty.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from s3common.sizes import GiB

T = TypeVar("T")

DEFAULT_SIZE_THRESHOLD = 4 * GiB
DEFAULT_COUNT_THRESHOLD = 65000


@dataclass(frozen=True)
class Thresholds:
    size: int = DEFAULT_SIZE_THRESHOLD
    count: int = DEFAULT_COUNT_THRESHOLD

    def __post_init__(self) -> None:
        if self.size < 1 or self.count < 1:
            raise ValueError(f"thresholds must be positive: {self}")


@dataclass(frozen=True)
class Segment:
    """Objects ``start:stop`` of a batch belong to group ``group`` (numbered from 0)."""

    group: int
    start: int
    stop: int
    bytes: int


class Grouper:
    """Assigns objects, batch after batch, to groups. Sizes of None (no Size field) count 0."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.group = -1  # no group open yet
        self.count = 0  # objects in the open group
        self.bytes = 0  # bytes in the open group
        self.total_objects = 0
        self.total_bytes = 0

    @property
    def groups(self) -> int:
        """Groups started so far."""
        return self.group + 1

    def feed(self, sizes: Sequence[int | None] | pa.Array) -> list[Segment]:
        """Place a batch of objects (their sizes: a sequence or an int64 array); the contiguous
        runs of it that fall in each group.

        Works group by group (a binary search over the running byte total), not object by
        object, so a batch costs O(groups x log n) Python steps."""
        ends: Sequence[int]  # bytes up to and including object i
        if isinstance(sizes, pa.Array):
            ends = _running_total(sizes)
        else:
            ends = list(accumulate(0 if s is None else s for s in sizes))
        return self._place(ends)

    def _place(self, ends: Sequence[int]) -> list[Segment]:
        max_bytes, max_count = self.thresholds.size, self.thresholds.count
        group, count, nbytes = self.group, self.count, self.bytes
        n = len(ends)
        segments: list[Segment] = []
        pos = 0
        while pos < n:
            base = ends[pos - 1] if pos else 0
            room_bytes, room_count = max_bytes - nbytes, max_count - count
            hi = min(n, pos + room_count)
            stop = bisect_right(ends, base + room_bytes, pos, hi) if hi > pos else pos
            if stop == pos:
                if count:  # the next object does not fit: close the open group, retry
                    count = nbytes = 0
                    continue
                stop = pos + 1  # bigger than the size threshold on its own: alone
            if not count:
                group += 1
            seg_bytes = ends[stop - 1] - base
            segments.append(Segment(group, pos, stop, seg_bytes))
            count += stop - pos
            nbytes += seg_bytes
            pos = stop
        self.group, self.count, self.bytes = group, count, nbytes
        self.total_objects += n
        self.total_bytes += ends[-1] if n else 0
        return segments


def _running_total(sizes: pa.Array) -> Sequence[int]:
    """The running byte total of an int64 array (nulls count 0), computed by Arrow and read in
    place: the binary search looks at O(log n) of its values per group."""
    if sizes.null_count:
        sizes = pc.fill_null(sizes, 0)
    if not len(sizes):
        return []
    total = pc.cumulative_sum_checked(sizes.cast(pa.int64()))
    return memoryview(total.buffers()[1]).cast("q")[total.offset : total.offset + len(total)]


def group(items: Iterable[tuple[T, int | None]], thresholds: Thresholds) -> Iterator[list[T]]:
    """The simple form: ``(item, size)`` pairs -> lists of items, one per group."""
    grouper = Grouper(thresholds)
    current: list[T] = []
    current_group = 0
    for item, size in items:
        (segment,) = grouper.feed([size])
        if segment.group != current_group and current:
            yield current
            current = []
        current_group = segment.group
        current.append(item)
    if current:
        yield current
