"""The shape of a job, from its inventory alone (``s3grouper --plan``): what the grouper would
select (its own :class:`~s3grouper.selection.Selection`) and group (its own
:class:`~s3grouper.grouping.Grouper`), measured batch by batch -- objects and bytes by size
and storage class, what the bundler would archive or copy, the sub-manifests and archives.
Nothing is written; memory holds one batch and a few numbers per sub-manifest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from s3common.sizes import GiB, KiB, MiB
from s3grouper import readers
from s3grouper.grouping import Grouper, Thresholds
from s3grouper.selection import Selection

#: Upper bounds (exclusive) of the size histogram's buckets; the last bucket is > 5 GiB.
EDGES = (1, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 128 * KiB, 256 * KiB, MiB, 4 * MiB, 16 * MiB,
         64 * MiB, 256 * MiB, GiB, 4 * GiB, 5 * GiB + 1)  # fmt: skip
LABELS = ("0 B", "< 1 KiB", "1-4 KiB", "4-16 KiB", "16-64 KiB", "64-128 KiB", "128-256 KiB",
          "256 KiB-1 MiB", "1-4 MiB", "4-16 MiB", "16-64 MiB", "64-256 MiB", "256 MiB-1 GiB",
          "1-4 GiB", "4-5 GiB", "> 5 GiB")  # fmt: skip
NO_CLASS = "STANDARD"  # an inventory without StorageClass: objects taken as STANDARD


@dataclass
class ClassTally:
    """The selected objects of one storage class."""

    objects: int = 0
    bytes: int = 0
    billable: int = 0  # sum of max(size, the class's minimum billable size)
    small_objects: int = 0  # smaller than the lifecycle minimum (128 KiB): never transitioned
    small_bytes: int = 0
    small_billable: int = 0
    archived_objects: int = 0
    archived_bytes: int = 0
    copied_objects: int = 0
    copied_bytes: int = 0


@dataclass
class JobShape:
    thresholds: Thresholds
    maxsize: int  # the bundler's --maxsize: bigger objects are copied, not archived
    rows: int = 0
    objects: int = 0
    bytes: int = 0
    histogram: list[list[int]] = field(default_factory=lambda: [[0, 0] for _ in LABELS])
    classes: dict[str, ClassTally] = field(default_factory=dict)
    archived_key_bytes: int = 0  # UTF-8 bytes of the archived objects' keys (index rows)
    copies: list[int] = field(default_factory=list)  # sizes of the objects to copy
    archives: dict[int, list[int]] = field(default_factory=dict)  # group -> [members, bytes]
    manifests: int = 0
    data_files: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def archived(self) -> int:
        return sum(c.archived_objects for c in self.classes.values())

    @property
    def archived_bytes(self) -> int:
        return sum(c.archived_bytes for c in self.classes.values())

    @property
    def copied(self) -> int:
        return len(self.copies)

    @property
    def copied_bytes(self) -> int:
        return sum(self.copies)


def measure(
    selection: Selection,
    thresholds: Thresholds,
    maxsize: int,
    min_billable: Mapping[str, int],
    small: int,
) -> JobShape:
    """Read the selection (opened) once and measure it. ``min_billable``: the minimum billable
    size by storage class; ``small``: the size under which lifecycle rules transition
    nothing."""
    manifest = selection.open()
    shape = JobShape(thresholds, maxsize, data_files=len(manifest.files))
    grouper = Grouper(thresholds)
    has_size, has_class = manifest.has("size"), manifest.has("storage_class")
    for table in selection.tables():
        sizes = readers.column(table, "size") if has_size else pa.nulls(table.num_rows)
        sizes = pc.fill_null(sizes.cast(pa.int64()), 0)
        classes = readers.column(table, "storage_class") if has_class else None
        _add(shape, table, sizes, classes, min_billable, small)
        _group(shape, grouper, sizes)
    shape.rows = selection.rows
    shape.manifests = grouper.groups
    shape.skipped = {k: v for k, v in selection.row_filter.skipped.items() if v}
    if not has_size:
        shape.notes.append("inventory has no Size field: every object counted as 0 bytes")
    if not has_class:
        shape.notes.append(f"inventory has no StorageClass field: objects priced as {NO_CLASS}")
    shape.notes += selection.row_filter.notes
    return shape


def _add(
    shape: JobShape,
    table: pa.Table,
    sizes: pa.Array,
    classes: pa.Array | None,
    min_billable: Mapping[str, int],
    small: int,
) -> None:
    shape.objects += len(sizes)
    shape.bytes += _sum(sizes)
    below = [(int(pc.sum(pc.less(sizes, e)).as_py() or 0), _sum(sizes.filter(pc.less(sizes, e))))
             for e in EDGES]  # fmt: skip
    previous = (0, 0)
    for bucket, (n, nbytes) in enumerate([*below, (len(sizes), _sum(sizes))]):
        shape.histogram[bucket][0] += n - previous[0]
        shape.histogram[bucket][1] += nbytes - previous[1]
        previous = (n, nbytes)
    archived = pc.less_equal(sizes, shape.maxsize)
    keys = readers.column(table, "key").filter(archived)
    shape.archived_key_bytes += _sum(pc.binary_length(keys))
    shape.copies += sizes.filter(pc.invert(archived)).to_pylist()
    if classes is None:
        classes = pa.array([NO_CLASS] * len(sizes), pa.string())
    classes = pc.fill_null(classes, NO_CLASS)
    for name in pc.unique(classes).to_pylist():
        in_class = pc.equal(classes, name)
        tally = shape.classes.setdefault(name, ClassTally())
        _tally(tally, sizes.filter(in_class), min_billable.get(name, 0), small, shape.maxsize)


def _tally(tally: ClassTally, sizes: pa.Array, minimum: int, small: int, maxsize: int) -> None:
    billable = pc.max_element_wise(sizes, minimum) if minimum else sizes
    is_small = pc.less(sizes, small)
    is_archived = pc.less_equal(sizes, maxsize)
    tally.objects += len(sizes)
    tally.bytes += _sum(sizes)
    tally.billable += _sum(billable)
    tally.small_objects += is_small.true_count
    tally.small_bytes += _sum(sizes.filter(is_small))
    tally.small_billable += _sum(billable.filter(is_small))
    tally.archived_objects += is_archived.true_count
    tally.archived_bytes += _sum(sizes.filter(is_archived))
    tally.copied_objects += len(sizes) - is_archived.true_count
    tally.copied_bytes += _sum(sizes.filter(pc.invert(is_archived)))


def _group(shape: JobShape, grouper: Grouper, sizes: pa.Array) -> None:
    """Which sub-manifest each object goes to (as the grouper places it), and the members and
    bytes of the archive each sub-manifest makes (its objects up to --maxsize)."""
    archived = pc.less_equal(sizes, shape.maxsize)
    members = pc.if_else(archived, sizes, pa.scalar(None, pa.int64()))
    for segment in grouper.feed(sizes):
        part = members.slice(segment.start, segment.stop - segment.start)
        count = len(part) - part.null_count
        if count:
            archive = shape.archives.setdefault(segment.group, [0, 0])
            archive[0] += count
            archive[1] += _sum(part)


def _sum(values: pa.Array) -> int:
    return int(pc.sum(values).as_py() or 0)
