"""The DLQ index: every sub-manifest row the bundler could not archive or copy, with a reason.

``s3://<manifest-bucket>/<manifest-key>.dlq``, CSV with header
``bucket,key,version_id,size,reason,detail``. It exists only when at least one object failed;
a rerun that succeeds for every object deletes a stale one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import NamedTuple

from s3common.csvrows import CsvWriter

DLQ_COLUMNS: tuple[str, ...] = ("bucket", "key", "version_id", "size", "reason", "detail")

# Reasons. Each is also the ``Reason`` dimension of the ObjectErrors metric.
NO_SUCH_KEY = "NoSuchKey"  # deleted (or version gone) since the inventory
NO_SUCH_BUCKET = "NoSuchBucket"
ACCESS_DENIED = "AccessDenied"
GLACIER = "Glacier"  # InvalidObjectState: archived storage class, restore first
THROTTLED = "Throttled"  # SlowDown/503/timeouts after the adaptive retries ran out
CHECKSUM_MISMATCH = "ChecksumMismatch"  # bytes read do not match ETag MD5 or S3 checksum
CHANGED = "Changed"  # the object changed while it was being read
ERROR = "Error"  # any other per-object S3 error; detail has the code
BAD_MANIFEST_ROW = "BadManifestRow"  # the sub-manifest row is malformed; detail: line, why
DUPLICATE_ROW = "DuplicateRow"  # the same object listed again; archived once, at its first line

REASONS = (
    NO_SUCH_KEY,
    NO_SUCH_BUCKET,
    ACCESS_DENIED,
    GLACIER,
    THROTTLED,
    CHECKSUM_MISMATCH,
    CHANGED,
    ERROR,
    BAD_MANIFEST_ROW,
    DUPLICATE_ROW,
)


class DlqRow(NamedTuple):
    bucket: str
    key: str
    version_id: str
    size: int | None
    reason: str
    detail: str


class DlqWriter:
    def __init__(self) -> None:
        self._buf = io.StringIO(newline="")
        self._csv = CsvWriter(self._buf)
        self._csv.writerow(DLQ_COLUMNS)

    def add(self, row: DlqRow) -> None:
        size = "" if row.size is None else str(row.size)
        self._csv.writerow([row.bucket, row.key, row.version_id, size, row.reason, row.detail])

    def getvalue(self) -> bytes:
        return self._buf.getvalue().encode("utf-8")


def read_dlq(data: bytes | str) -> Iterator[DlqRow]:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return
    if tuple(header) != DLQ_COLUMNS:
        raise ValueError(f"not an s3bundler DLQ index (header {header})")
    for bucket, key, version_id, size, reason, detail in reader:
        yield DlqRow(bucket, key, version_id, int(size) if size else None, reason, detail)
