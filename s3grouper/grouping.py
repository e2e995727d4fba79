"""Pure grouping: split a stream of objects into sub-manifests bounded by bytes and count.

A new group starts when adding the next object would pass either threshold
(``bytes + size > size_threshold`` or ``count + 1 > count_threshold``). An object bigger than
the size threshold therefore ends up alone. Groups are never empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

DEFAULT_SIZE_THRESHOLD = 4 * 1024**3
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

    def feed(self, sizes: Sequence[int | None]) -> list[Segment]:
        """Place a batch of objects; the contiguous runs of it that fall in each group."""
        max_bytes, max_count = self.thresholds.size, self.thresholds.count
        group, count, nbytes = self.group, self.count, self.bytes
        segments: list[Segment] = []
        start = 0
        seg_bytes = 0
        for i, size in enumerate(sizes):
            size = size or 0
            if group < 0 or count + 1 > max_count or nbytes + size > max_bytes:
                if i > start:
                    segments.append(Segment(group, start, i, seg_bytes))
                group, count, nbytes, start, seg_bytes = group + 1, 0, 0, i, 0
            count += 1
            nbytes += size
            seg_bytes += size
        if len(sizes) > start:
            segments.append(Segment(group, start, len(sizes), seg_bytes))
        self.group, self.count, self.bytes = group, count, nbytes
        self.total_objects += len(sizes)
        self.total_bytes += sum(s.bytes for s in segments)
        return segments


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
