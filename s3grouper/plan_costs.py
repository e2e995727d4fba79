"""What a job costs and saves, from its shape (plan_shape.py) and a price table: the monthly
storage of the selected objects today, after bundling into a storage class, and after a
lifecycle rule moved them there instead; the one-time requests of the job; the break-even.
Every figure is explained in docs/costs.md, which a hand computation in the tests follows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from s3bundler.archiver import TAR_OVERHEAD, BundlerConfig
from s3bundler.multipart import GROWTH_EVERY, MAX_PART_SIZE, initial_part_size
from s3common.prices import STANDARD, Prices
from s3grouper.plan_shape import ClassTally, JobShape

INDEX_ROW_BYTES = 220  # an index row but its key, which it holds twice (key, member name)
CATALOG_ROW_BYTES = 60  # a catalog row, compressed (zstd Parquet)
METADATA_BYTES = 1024  # the .metadata JSON beside a big object's copy
SQS_PER_MANIFEST = 3  # its delivery (S3 event or SendMessage), ReceiveMessage, DeleteMessage
ARCHIVE_CLASSES = ("STANDARD", "STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")
#: Lifecycle transitions go down this list only (S3's "waterfall").
WATERFALL = {"STANDARD": 0, "INTELLIGENT_TIERING": 1, "STANDARD_IA": 1, "ONEZONE_IA": 2,
             "GLACIER_IR": 3, "GLACIER": 4, "DEEP_ARCHIVE": 5}  # fmt: skip
RESTORE_TIER = "Bulk"  # archived sources (-g) are assumed restored in bulk


@dataclass
class Item:
    """One line of the job's one-time cost: requests by operation, and dollars."""

    what: str
    requests: dict[str, int]
    dollars: float


@dataclass
class Estimate:
    target: str  # the storage class archives and copies are written in
    today: dict[str, float]  # $/month by source storage class
    after: dict[str, float]  # $/month: archives, copies, indexes, catalog
    lifecycle: float  # $/month had a lifecycle rule moved the objects to ``target`` instead
    transitions: int  # the lifecycle transitions that would take
    transition_cost: float
    one_time: list[Item] = field(default_factory=list)

    @property
    def today_total(self) -> float:
        return sum(self.today.values())

    @property
    def after_total(self) -> float:
        return sum(self.after.values())

    @property
    def one_time_total(self) -> float:
        return sum(item.dollars for item in self.one_time)

    @property
    def saving(self) -> float:
        """$/month saved by bundling (negative: it costs more)."""
        return self.today_total - self.after_total

    @property
    def break_even(self) -> float | None:
        """Months until the saving has paid for the job; None when it never does."""
        if self.saving <= 0:
            return None
        return self.one_time_total / self.saving


def archive_bytes(members: int, data: int) -> int:
    """An archive's size as the bundler estimates it (its ``TAR_OVERHEAD`` per member)."""
    return data + TAR_OVERHEAD * members


def upload_parts(size: int) -> int:
    """The UploadParts of an archive of ``size`` bytes: parts of the bundler's
    ``initial_part_size``, doubling every 1,000 parts (s3bundler/multipart.py)."""
    part, parts, left, tier = initial_part_size(size), 0, max(size, 1), 0
    while left > 0:
        each = min(part << tier, MAX_PART_SIZE)
        n = min(GROWTH_EVERY, math.ceil(left / each))
        parts, left, tier = parts + n, left - n * each, tier + 1
    return parts


def copy_parts(size: int) -> int:
    """The UploadPartCopy requests of a big object's multipart copy (s3bundler/copier.py)."""
    part = max(BundlerConfig.copy_part_size, -(-size // 10_000))
    return -(-size // part)


def grouper_requests(data_files: int, manifests: int) -> dict[str, int]:
    """The S3 requests of a first grouper run (measured: tests/s3grouper/test_plan.py): the
    manifest.json and its checksum, a HEAD and a GET per data file, the output checks, three
    requests per sub-manifest (published whole: a multipart upload), the job summary."""
    return {
        "GetObject": 2 + data_files,
        "HeadObject": 1 + data_files,
        "HeadBucket": 1,
        "ListObjectsV2": 1,
        "CreateMultipartUpload": manifests,
        "UploadPart": manifests,
        "CompleteMultipartUpload": manifests,
        "PutObject": 1,
    }


def estimate(shape: JobShape, prices: Prices, target: str) -> Estimate:
    today = {c: _stored_today(prices, c, t) for c, t in sorted(shape.classes.items())}
    lifecycle, transitions = _lifecycle(shape, prices, target)
    return Estimate(
        target=target,
        today=today,
        after=_after(shape, prices, target),
        lifecycle=lifecycle,
        transitions=transitions,
        transition_cost=transitions * prices.transition(target) if transitions else 0.0,
        one_time=_one_time(shape, prices, target),
    )


# -- monthly storage ----------------------------------------------------------------------------
def _stored_today(prices: Prices, cls: str, t: ClassTally) -> float:
    cost = prices.stored(cls, t.objects, t.billable)
    if prices.storage_class(cls) == "INTELLIGENT_TIERING":  # monitored: 128 KiB and up
        cost += (t.objects - t.small_objects) * prices.monitoring()
    return cost


def _after(shape: JobShape, prices: Prices, target: str) -> dict[str, float]:
    minimum = prices.min_billable(target)
    sizes = [archive_bytes(n, data) for n, data in shape.archives.values()]
    gb, standard = prices.gb, prices.storage(STANDARD)
    return {
        "archives": prices.stored(target, len(sizes), sum(max(s, minimum) for s in sizes)),
        "copies": prices.stored(target, shape.copied, sum(max(s, minimum) for s in shape.copies))
        + shape.copied * METADATA_BYTES / gb * standard,
        "indexes": (shape.archived * INDEX_ROW_BYTES + 2 * shape.archived_key_bytes)
        / gb
        * standard,
        "catalog": shape.objects * CATALOG_ROW_BYTES / gb * standard,
    }


def _lifecycle(shape: JobShape, prices: Prices, target: str) -> tuple[float, int]:
    """$/month had a lifecycle rule moved every object it can to ``target`` (not those under
    128 KiB, by S3's default; not up the waterfall), and how many transitions that takes."""
    monthly, transitions = 0.0, 0
    for cls, t in shape.classes.items():
        movable = WATERFALL.get(prices.storage_class(cls), 0) < WATERFALL.get(target, 0)
        if not movable:
            monthly += _stored_today(prices, cls, t)
            continue
        moved = t.objects - t.small_objects
        transitions += moved
        monthly += prices.stored(target, moved, t.bytes - t.small_bytes)
        monthly += prices.stored(cls, t.small_objects, t.small_billable)
    return monthly, transitions


# -- one-time requests --------------------------------------------------------------------------
def _one_time(shape: JobShape, prices: Prices, target: str) -> list[Item]:
    items = [_reads(shape, prices), *_restores(shape, prices)]
    archives, parts = (
        len(shape.archives),
        sum(upload_parts(archive_bytes(n, d)) for n, d in shape.archives.values()),
    )
    writes = {"CreateMultipartUpload": archives, "UploadPart": parts,
              "CompleteMultipartUpload": archives}  # fmt: skip
    items.append(_priced("write the archives", writes, prices, target))
    m = shape.manifests
    fixed = {"GetObject": m, "HeadObject": 2 * m, "ListMultipartUploads": m,
             "PutObject": 2 * m + archives}  # fmt: skip
    items.append(_priced("per sub-manifest (read it, check, index, catalog, report)", fixed,
                         prices, STANDARD))  # fmt: skip
    if shape.copies:
        items.append(_copies(shape, prices, target))
    grouper = grouper_requests(shape.data_files, m)
    items.append(_priced("the grouper (estimated)", grouper, prices, STANDARD))
    sqs = SQS_PER_MANIFEST * m
    items.append(Item("SQS messages (deliver, receive, delete)", {"SQS": sqs}, sqs * prices.sqs()))
    return items


def _priced(what: str, counts: Mapping[str, int], prices: Prices, write_class: str) -> Item:
    counts = {op: n for op, n in counts.items() if n}
    return Item(what, counts, sum(prices.requests(counts, write_class).values()))


def _reads(shape: JobShape, prices: Prices) -> Item:
    """A GetObject per archived object, at its class's GET rate, plus the data retrieval fee
    of the classes that have one."""
    dollars = sum(
        t.archived_objects * prices.request(c, "get")
        + t.archived_bytes / prices.gb * prices.retrieval(c)
        for c, t in shape.classes.items()
    )
    return Item("read the objects (GetObject, data retrieval)", {"GetObject": shape.archived},
                dollars)  # fmt: skip


def _restores(shape: JobShape, prices: Prices) -> list[Item]:
    """Archived sources (GLACIER, DEEP_ARCHIVE: grouped with -g) restored in bulk first."""
    count, dollars = 0, 0.0
    for cls, t in shape.classes.items():
        per_request, per_gb = prices.restore(prices.storage_class(cls), RESTORE_TIER)
        if cls in ("GLACIER", "DEEP_ARCHIVE"):
            count += t.objects
            dollars += t.objects * per_request + t.bytes / prices.gb * per_gb
    if not count:
        return []
    return [Item(f"restore them first ({RESTORE_TIER})", {"RestoreObject": count}, dollars)]


def _copies(shape: JobShape, prices: Prices, target: str) -> Item:
    multipart = [s for s in shape.copies if s > BundlerConfig.copy_multipart_threshold]
    writes = {
        "CopyObject": shape.copied - len(multipart),
        "CreateMultipartUpload": len(multipart),
        "UploadPartCopy": sum(copy_parts(s) for s in multipart),
        "CompleteMultipartUpload": len(multipart),
        "PutObject": shape.copied,  # the .metadata beside each copy
    }
    item = _priced("copy the big objects (HEAD, tags, copy, .metadata)", writes, prices, target)
    for cls, t in shape.classes.items():  # HeadObject + GetObjectTagging, the copy's read
        item.dollars += 2 * t.copied_objects * prices.request(cls, "get")
        item.dollars += t.copied_bytes / prices.gb * prices.retrieval(cls)
    item.requests |= {"HeadObject": shape.copied, "GetObjectTagging": shape.copied}
    return item
