"""The catalog: where every object of every sub-manifest went, as Parquet (docs/formats.md,
"Catalog").

One file per sub-manifest and source bucket, written by the bundler in the commit order after
the index and the DLQ index, before the completion report::

    <archive-prefix>/catalog/bucket=<source-bucket>/<manifest-name>.parquet

Hive-style: the directory names the ``bucket`` partition, so Athena/Glue, DuckDB and pyarrow
read the whole tree as one dataset (a row with no bucket lands under
``bucket=__HIVE_DEFAULT_PARTITION__``, Hive's name for null). One row per sub-manifest row:
``status`` is ``archived`` (archive, member, offsets, md5, crc32c), ``copied`` (copy) or
``failed`` (reason, detail). ``gz_offset``/``gz_skip`` are the index's: in a compressed archive
(``.tar.gz`` or ``.tar.zst``, the ``archive`` URI's extension says which) the compressed offset
of the frame holding the member's header and the bytes from its start to the member's data
(index.py, codecs.py). Rows are sorted by key and version, in row groups of
:data:`ROW_GROUP_ROWS`, so a reader looking for one key reads the footers and at most one row
group per file (row-group statistics on ``key``).
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from s3bundler.dlq import DlqRow
from s3bundler.index import IndexRow
from s3bundler.ledger import Subscriber
from s3common.s3uri import S3Uri

FORMAT = "s3bundler-catalog/1"
ROW_GROUP_ROWS = 16_384
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
ARCHIVED, COPIED, FAILED = "archived", "copied", "failed"

_STRING = pa.string()
_INT = pa.int64()
#: The columns of every catalog file (``bucket`` is the partition, from the path).
SCHEMA = pa.schema(
    [
        pa.field("key", _STRING, nullable=False),
        ("version_id", _STRING),
        pa.field("status", _STRING, nullable=False),
        ("size", _INT),
        ("etag", _STRING),
        ("last_modified", pa.timestamp("ms", tz="UTC")),
        ("storage_class", _STRING),
        ("md5", _STRING),
        ("crc32c", _STRING),
        ("checksum", _STRING),
        ("archive", _STRING),
        ("member", _STRING),
        ("offset", _INT),
        ("header_offset", _INT),
        ("gz_offset", _INT),
        ("gz_skip", _INT),
        ("copy", _STRING),
        ("content_type", _STRING),
        ("metadata", _STRING),
        ("tags", _STRING),
        ("headers", _STRING),
        ("flags", _STRING),
        ("reason", _STRING),
        ("detail", _STRING),
        ("manifest", _STRING),
    ],
    metadata={"s3bundler": FORMAT},
)
COLUMNS = tuple(SCHEMA.names)


def catalog_key(prefix: str, source_bucket: str, manifest_name: str) -> str:
    partition = f"bucket={source_bucket or NULL_PARTITION}"
    return "/".join(p for p in (prefix.strip("/"), "catalog", partition) if p) + (
        f"/{manifest_name}.parquet"
    )


def partition_prefix(prefix: str, source_bucket: str) -> str:
    """The key prefix of one source bucket's catalog files."""
    return catalog_key(prefix, source_bucket, "x").rsplit("/", 1)[0] + "/"


def _json(value: dict[str, str] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _timestamp(text: str) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def archived_row(row: IndexRow, archive: S3Uri, manifest: S3Uri) -> dict[str, Any]:
    return {
        **_object_fields(row, manifest),
        "status": ARCHIVED,
        "archive": str(archive),
        "member": row.member,
        "offset": row.offset,
        "header_offset": row.header_offset,
        "gz_offset": row.gz_offset,
        "gz_skip": row.gz_skip,
        "crc32c": row.crc32c or None,
    }


def copied_row(row: IndexRow, target: S3Uri, manifest: S3Uri) -> dict[str, Any]:
    return {**_object_fields(row, manifest), "status": COPIED, "copy": str(target)}


def failed_row(row: DlqRow, manifest: S3Uri) -> dict[str, Any]:
    return {
        "key": row.key,
        "version_id": row.version_id,
        "status": FAILED,
        "size": row.size,
        "reason": row.reason,
        "detail": row.detail,
        "manifest": str(manifest),
    }


def _object_fields(row: IndexRow, manifest: S3Uri) -> dict[str, Any]:
    return {
        "key": row.key,
        "version_id": row.version_id,
        "size": row.size,
        "etag": row.etag,
        "last_modified": _timestamp(row.last_modified),
        "storage_class": row.storage_class,
        "md5": row.md5 or None,
        "checksum": row.checksum or None,
        "content_type": row.content_type,
        "metadata": _json(row.metadata),
        "tags": _json(row.tags),
        "headers": _json(row.headers),
        "flags": row.flags or None,
        "manifest": str(manifest),
    }


def encode(rows: Iterable[dict[str, Any]]) -> bytes:
    """Catalog rows as one Parquet file, sorted by key and version."""
    ordered = sorted(rows, key=lambda r: (r["key"], r.get("version_id") or ""))
    table = pa.Table.from_pylist(ordered, schema=SCHEMA)
    out = io.BytesIO()
    pq.write_table(
        table,
        out,
        row_group_size=ROW_GROUP_ROWS,
        compression="zstd",
        write_statistics=True,
        use_dictionary=["status", "archive", "manifest", "storage_class", "content_type"],
    )
    return out.getvalue()


class CatalogFile(Subscriber):
    """The catalog rows of one manifest, by source bucket (each becomes one file)."""

    def __init__(self, manifest: S3Uri, archive: S3Uri | None) -> None:
        self.manifest = manifest
        self.archive = archive
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def on_archived(self, row: IndexRow) -> None:
        assert self.archive is not None
        self.rows[row.bucket].append(archived_row(row, self.archive, self.manifest))

    def on_copied(self, row: IndexRow, target: S3Uri) -> None:
        self.rows[row.bucket].append(copied_row(row, target, self.manifest))

    def on_failed(self, row: DlqRow) -> None:
        self.rows[row.bucket].append(failed_row(row, self.manifest))

    def files(self, prefix: str, manifest_name: str) -> dict[str, bytes]:
        """{catalog key: Parquet bytes} for each source bucket with rows."""
        return {
            catalog_key(prefix, bucket, manifest_name): encode(rows)
            for bucket, rows in sorted(self.rows.items())
        }
