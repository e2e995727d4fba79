"""Finding objects in the catalog (catalog.py) without reading all of it.

The catalog files of one source bucket are listed (one partition); each file's footer is read
(Arrow's S3 filesystem: one ranged GET, the size known from the listing), and only the row
groups whose ``key`` statistics can hold the key are read -- concurrently across files.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from s3bundler.catalog import partition_prefix
from s3common.arrow_s3 import arrow_s3
from s3common.aws import AWS_ERRORS, read_failed
from s3common.errors import InputDataError
from s3common.s3uri import S3Uri

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogFileInfo:
    uri: S3Uri
    size: int


@dataclass
class SearchStats:
    files: int = 0
    row_groups_read: int = 0
    bytes_read: int = 0


class Catalog:
    """The catalog under ``root`` (``s3://<archive-bucket>/<archive-prefix>``)."""

    def __init__(self, session: Any, s3: Any, root: S3Uri, concurrency: int = 16) -> None:
        self.s3 = s3
        self.root = root
        self.concurrency = concurrency
        self._session = session
        self._fs: pafs.S3FileSystem | None = None
        self.stats = SearchStats()

    @property
    def fs(self) -> pafs.S3FileSystem:
        if self._fs is None:
            self._fs = arrow_s3(self._session, self.s3, self.root.bucket)
        return self._fs

    def files(self, bucket: str) -> list[CatalogFileInfo]:
        """The catalog files of one source bucket."""
        prefix = partition_prefix(self.root.key, bucket)
        found = []
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.root.bucket, Prefix=prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith(".parquet"):
                        found.append(
                            CatalogFileInfo(S3Uri(self.root.bucket, obj["Key"]), obj["Size"])
                        )
        except AWS_ERRORS as exc:
            raise read_failed(S3Uri(self.root.bucket, prefix), exc) from exc
        return found

    def find(self, bucket: str, key: str, version_id: str | None = None) -> list[dict[str, Any]]:
        """Every catalog row of ``bucket``/``key`` (of one version when given), with its
        ``bucket``; several rows when the object is in more than one place."""
        files = self.files(bucket)
        self.stats.files += len(files)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="catalog") as pool:
            found = pool.map(lambda f: self._find_in(f, key, version_id), files)
            rows = [row | {"bucket": bucket} for part in found for row in part]
        return rows

    def find_many(self, bucket: str, keys: Iterable[str]) -> list[dict[str, Any]]:
        """Every catalog row of any of ``keys`` in ``bucket``: each file's footer is read
        once, and only the row groups whose key range holds one of the keys."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        files = self.files(bucket)
        self.stats.files += len(files)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="catalog") as pool:
            found = pool.map(lambda f: self._find_keys_in(f, wanted), files)
            return [row | {"bucket": bucket} for part in found for row in part]

    def _find_keys_in(self, info: CatalogFileInfo, wanted: list[str]) -> list[dict[str, Any]]:
        parquet = self._open(info)
        meta = parquet.metadata
        column = parquet.schema_arrow.get_field_index("key")
        keys = pa.array(wanted, pa.string())
        rows: list[dict[str, Any]] = []
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(column).statistics
            if stats is not None and stats.has_min_max:
                first = bisect.bisect_left(wanted, stats.min)
                if first == len(wanted) or wanted[first] > stats.max:
                    continue
            table = parquet.read_row_group(group)
            self.stats.row_groups_read += 1
            self.stats.bytes_read += meta.row_group(group).total_byte_size
            rows.extend(table.filter(pc.is_in(table.column("key"), value_set=keys)).to_pylist())
        return rows

    def _open(self, info: CatalogFileInfo) -> pq.ParquetFile:
        path = f"{info.uri.bucket}/{info.uri.key}"
        try:
            handle = self.fs.open_input_file(path)
            return pq.ParquetFile(handle)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputDataError(f"{info.uri}: not a readable catalog file: {exc}") from exc

    def _find_in(
        self, info: CatalogFileInfo, key: str, version_id: str | None
    ) -> list[dict[str, Any]]:
        parquet = self._open(info)
        meta = parquet.metadata
        key_column = parquet.schema_arrow.get_field_index("key")
        rows: list[dict[str, Any]] = []
        for group in _groups_holding(meta, key_column, key):
            table = parquet.read_row_group(group)
            self.stats.row_groups_read += 1
            self.stats.bytes_read += meta.row_group(group).total_byte_size
            mask = pc.equal(table.column("key"), key)
            if version_id is not None:
                mask = pc.and_(mask, pc.equal(table.column("version_id"), version_id))
            rows.extend(table.filter(mask).to_pylist())
        return rows

    def rows_under(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        """Every catalog row of ``bucket`` whose key starts with ``prefix``, with its
        ``bucket``: only the row groups whose key range can hold such a key are read."""
        files = self.files(bucket)
        self.stats.files += len(files)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="catalog") as pool:
            found = pool.map(lambda f: self._rows_under_in(f, prefix), files)
            return [row | {"bucket": bucket} for part in found for row in part]

    def _rows_under_in(self, info: CatalogFileInfo, prefix: str) -> list[dict[str, Any]]:
        parquet = self._open(info)
        meta = parquet.metadata
        column = parquet.schema_arrow.get_field_index("key")
        rows: list[dict[str, Any]] = []
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(column).statistics
            if stats is not None and stats.has_min_max and not _may_hold_prefix(stats, prefix):
                continue
            table = parquet.read_row_group(group)
            self.stats.row_groups_read += 1
            self.stats.bytes_read += meta.row_group(group).total_byte_size
            rows.extend(table.filter(pc.starts_with(table.column("key"), prefix)).to_pylist())
        return rows

    def scan(self, bucket: str, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Every row of one source bucket's catalog, file by file, in batches."""
        for info in self.files(bucket):
            parquet = self._open(info)
            yield from parquet.iter_batches(columns=list(columns) if columns else None)


def _may_hold_prefix(stats: Any, prefix: str) -> bool:
    """Whether keys between ``stats.min`` and ``stats.max`` can start with ``prefix``: the
    keys starting with it are those >= prefix whose own first len(prefix) characters are
    <= prefix."""
    return stats.max >= prefix and stats.min[: len(prefix)] <= prefix


def _groups_holding(meta: pq.FileMetaData, column: int, key: str) -> Iterator[int]:
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max or stats.min <= key <= stats.max:
            yield group
