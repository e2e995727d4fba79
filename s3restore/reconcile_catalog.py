"""Reconcile's catalog side: the job's catalog files read (a few at a time, only the columns
needed, ``archive`` and ``manifest`` kept dictionary-encoded as they are stored) into hash
parts of :data:`~s3restore.reconcile_match.CATALOG` rows, with what the later checks need:
the archives the rows point at (and how many rows each), and the copies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from s3common.s3uri import S3Uri
from s3restore import job_outputs
from s3restore.partitions import Partitions
from s3restore.reconcile_report import BAD_CATALOG_FILE, FOREIGN_ROWS, ProblemCsv, Progress

COLUMNS = ("key", "version_id", "status", "size", "archive", "copy", "reason", "detail",
           "manifest")  # fmt: skip
_DICTIONARY = ["archive", "manifest"]  # as the bundler writes them (s3bundler/catalog.py)


def read_catalog_file(fs: pafs.S3FileSystem, uri: S3Uri) -> pa.Table | Exception:
    """One catalog file's columns reconcile uses (an exception, returned, when unreadable)."""
    try:
        with fs.open_input_file(f"{uri.bucket}/{uri.key}") as handle:
            parquet = pq.ParquetFile(handle, read_dictionary=_DICTIONARY)
            return parquet.read(columns=list(COLUMNS))
    except (OSError, pa.ArrowInvalid, KeyError) as exc:
        return job_outputs.not_a_catalog(uri, exc)


def codes(column: pa.ChunkedArray | pa.Array, values: pa.Array) -> pa.ChunkedArray:
    """Each value's position in ``values`` (int32; null when not there), for a plain or
    dictionary-encoded string column (a dictionary is looked up once, not per row)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = []
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            mapped = pc.index_in(chunk.dictionary, value_set=values)
            out.append(pc.take(mapped, chunk.indices))
        else:
            out.append(pc.index_in(chunk, value_set=values))
    return pa.chunked_array(out, pa.int32())


class CatalogScan:
    """Reads the job's catalog files into ``parts``. ``manifests``: the job's sub-manifest
    URIs in order (rows naming another go to the CSV as ``foreign_rows`` and are left out)."""

    def __init__(self, manifests: Sequence[str], parts: Partitions, csv: ProblemCsv) -> None:
        self.mine = pa.array(list(manifests), pa.string())
        self.parts = parts
        self.csv = csv
        self.archives: list[str] = []  # archive number -> URI
        self.archive_rows: Counter[int] = Counter()
        self.copies: list[tuple[str, str, str, int]] = []  # key, version, copy URI, manifest

    def read(
        self,
        fs: pafs.S3FileSystem,
        files: Sequence[tuple[S3Uri, int]],
        window: int,
        progress: Progress,
    ) -> None:
        with ThreadPoolExecutor(window, thread_name_prefix="catalog") as pool:
            results = job_outputs.bounded_map(
                pool, lambda f: read_catalog_file(fs, f[0]), files, window
            )
            for n, ((uri, _size), table) in enumerate(results, 1):
                if isinstance(table, Exception):
                    self.csv.finding(BAD_CATALOG_FILE, location=uri, detail=str(table))
                else:
                    self.add(uri, table)
                rows = self.parts.rows
                progress.update(f"reconcile: catalog: {n}/{len(files)} files, {rows} rows")
        self.parts.close()
        progress.done(f"reconcile: catalog: {len(files)} files, {self.parts.rows} rows")

    def add(self, uri: S3Uri, table: pa.Table) -> None:
        """One catalog file's rows."""
        manifest = codes(table.column("manifest"), self.mine)
        ours = pc.is_valid(manifest)
        if not pc.all(ours, min_count=0).as_py():  # an empty file is all ours
            foreign = table.filter(pc.invert(ours))
            self.csv.finding(
                FOREIGN_ROWS,
                location=uri,
                manifest=foreign.column("manifest")[0].as_py(),
                detail=f"{foreign.num_rows} rows of sub-manifests not in this job (the first "
                "one's named); left out",
            )
            table, manifest = table.filter(ours), manifest.filter(ours)
        archive = self._archive_numbers(table.column("archive"))
        for entry in pc.value_counts(archive.drop_null()).to_pylist():
            self.archive_rows[entry["values"]] += entry["counts"]
        copied = pc.equal(table.column("status"), "copied")
        if pc.any(copied).as_py():
            columns = [table.column(c).filter(copied).to_pylist() for c in ("key", "version_id",
                                                                            "copy")]  # fmt: skip
            self.copies.extend(zip(*columns, manifest.filter(copied).to_pylist(), strict=True))
        rows = table.drop_columns(["archive", "manifest"])
        rows = rows.append_column("manifest", manifest).append_column("archive", archive)
        self.parts.add(rows)

    def _archive_numbers(self, column: pa.ChunkedArray) -> pa.ChunkedArray:
        """The rows' archive numbers, numbering archives met for the first time."""
        known = set(self.archives)
        for chunk in column.chunks:
            values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk.unique()
            for value in values.drop_null().to_pylist():
                if value not in known:
                    known.add(value)
                    self.archives.append(value)
        return codes(column, pa.array(self.archives, pa.string()))
