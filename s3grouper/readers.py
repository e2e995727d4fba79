"""Format-specific readers of inventory data files, yielding normalized pyarrow tables.

Every table has the columns of :data:`NORMALIZED` (absent fields are all-null), keys decoded,
sizes int64, booleans bool, LastModifiedDate timestamp[ms, UTC] and ETags without quotes, so
filtering and writing never care which format the report was in.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from s3common.errors import InputDataError
from s3common.sizes import KiB
from s3grouper.inventory import csv_name
from s3grouper.keys import decode_keys, raw_contains

TIMESTAMP = pa.timestamp("ms", "UTC")

#: The columns every reader yields, by inventory snake name.
NORMALIZED = pa.schema(
    [
        ("bucket", pa.string()),
        ("key", pa.string()),
        ("version_id", pa.string()),
        ("is_latest", pa.bool_()),
        ("is_delete_marker", pa.bool_()),
        ("size", pa.int64()),
        ("last_modified_date", TIMESTAMP),
        ("e_tag", pa.string()),
        ("storage_class", pa.string()),
        ("is_multipart_uploaded", pa.bool_()),
        ("intelligent_tiering_access_tier", pa.string()),
    ]
)

# Arrow's streaming CSV reader reads up to 32 blocks ahead of its consumer, on its I/O thread
# (not configurable): with 4 MiB blocks up to 128 MiB of a large data file sat in memory,
# waiting. 256 KiB blocks bound that to 8 MiB (a CSV row, at most a few KiB, must fit in one);
# they are normalized 16 at a time (~25K rows), so the per-batch work stays as cheap as with
# large blocks. (1 MiB blocks: 32 MiB read ahead, ~40 MiB more peak RSS, same CPU.)
CSV_BLOCK_SIZE = 256 * KiB
CSV_BLOCKS_PER_BATCH = 16
# Parquet batches; ORC stripes are normalized in slices of this. Like the CSV batches (~25K rows
# each), small enough that the few batches in flight (read ahead, normalized, encoded) stay small:
# 64K-row batches cost ~30 MiB more peak RSS, for no less CPU.
TYPED_BATCH_ROWS = 32 * 1024


class _Rows:
    """Where a batch sits in its data file, for error messages."""

    def __init__(self, source: str, first_row: int) -> None:
        self.source = source
        self.first_row = first_row

    def fail(self, index: int, field: str, what: str, value: object) -> InputDataError:
        row = self.first_row + index + 1
        return InputDataError(f"{self.source}: row {row}: {csv_name(field)} {what}: {value!r}")

    def check_names(self, bucket: pa.Array | None, key: pa.Array, source_bucket: str) -> None:
        """Every row names the report's bucket (``bucket``: the batch's own column, if it has
        one) and a key: a row of another bucket would be archived from there as if it were the
        report's, and an empty key makes its whole sub-manifest unreadable."""
        if bucket is not None:
            other = pc.invert(pc.fill_null(pc.equal(bucket, source_bucket), False))
            if pc.any(other).as_py():
                bad = pc.index(other, True).as_py()
                raise InputDataError(
                    f"{self.source}: row {self.first_row + bad + 1}: Bucket "
                    f"{bucket[bad].as_py()!r} is not the manifest's sourceBucket {source_bucket!r}"
                )
        empty = pc.fill_null(pc.equal(key, ""), True)
        if pc.any(empty).as_py():
            bad = pc.index(empty, True).as_py()
            raise self.fail(bad, "key", "is empty", key[bad].as_py())


def _first_bad(values: Sequence[Any], ok: Callable[[Any], bool]) -> int:
    return next((i for i, v in enumerate(values) if not ok(v)), 0)


def _is_int(text: str | None) -> bool:
    return text is None or text.lstrip("-").isdigit()


def _csv_size(col: pa.Array, rows: _Rows) -> pa.Array:
    try:  # the usual case: every cell a number (no empty cells to make null first)
        return _check_sizes(pc.cast(col, pa.int64()), rows)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    try:
        sizes = pc.cast(text, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = text.to_pylist()
        bad = _first_bad(values, _is_int)
        raise rows.fail(bad, "size", "is not a number", values[bad]) from None
    return _check_sizes(sizes, rows)


def _check_sizes(sizes: pa.Array, rows: _Rows) -> pa.Array:
    negative = pc.fill_null(pc.less(sizes, 0), False)
    if pc.any(negative).as_py():
        bad = pc.index(negative, True).as_py()
        raise rows.fail(bad, "size", "is negative", sizes[bad].as_py())
    return sizes


_TRUE_FALSE = pa.array(["true", "false"])
_TRUE_FALSE_EMPTY = pa.array(["true", "false", ""])


def _csv_bool(col: pa.Array, field: str, rows: _Rows) -> pa.Array:
    if pc.all(pc.is_in(col, value_set=_TRUE_FALSE), min_count=0).as_py():  # as S3 writes
        return pc.equal(col, "true")
    lowered = pc.utf8_lower(col)
    valid = pc.is_in(lowered, value_set=_TRUE_FALSE_EMPTY)
    if not pc.all(valid, min_count=0).as_py():
        bad = pc.index(valid, False).as_py()
        raise rows.fail(bad, field, "is not true/false", col[bad].as_py())
    empty = pc.equal(lowered, "")
    return pc.if_else(empty, pa.scalar(None, pa.bool_()), pc.equal(lowered, "true"))


def _csv_timestamp(col: pa.Array, field: str, rows: _Rows) -> pa.Array:
    try:  # the usual case: every cell a zoned timestamp (no empty cells to make null first)
        return pc.cast(col, TIMESTAMP)
    except pa.ArrowInvalid:
        pass
    text = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    try:
        return pc.cast(text, TIMESTAMP)
    except pa.ArrowInvalid:
        pass
    try:  # some values without a zone designator (or mixed): all are UTC
        return pc.cast(pc.cast(pc.utf8_rtrim(text, "Z"), pa.timestamp("ms")), TIMESTAMP)
    except pa.ArrowInvalid:
        values = text.to_pylist()
        bad = _first_bad(values, _is_timestamp)
        raise rows.fail(bad, field, "is not a timestamp", values[bad]) from None


def _is_timestamp(text: str | None) -> bool:
    try:
        pc.cast(pa.array([text.rstrip("Z") if text else text]), pa.timestamp("ms"))
    except pa.ArrowInvalid:
        return False
    return True


def normalize_csv(
    batch: pa.RecordBatch | pa.Table, source_bucket: str, source: str, first_row: int
) -> pa.Table:
    """A batch of all-string CSV columns (as S3 writes them) -> the normalized table."""
    rows = _Rows(source, first_row)

    def convert(field: pa.Field, col: pa.Array) -> pa.Array:
        if field.name == "key":
            return decode_keys(col)
        if field.name == "size":
            return _csv_size(col, rows)
        if field.type == pa.bool_():
            return _csv_bool(col, field.name, rows)
        if field.type == TIMESTAMP:
            return _csv_timestamp(col, field.name, rows)
        if field.name == "e_tag":
            return pc.utf8_trim(col, '"') if raw_contains(col, b'"') else col
        return col

    return _normalized(batch, source_bucket, convert, rows)


def normalize_typed(
    table: pa.Table | pa.RecordBatch, source_bucket: str, source: str, first_row: int
) -> pa.Table:
    """A batch read from ORC/Parquet (real types, keys not encoded) -> the normalized table."""
    rows = _Rows(source, first_row)

    def convert(field: pa.Field, col: pa.Array) -> pa.Array:
        try:
            if field.type == TIMESTAMP and pa.types.is_timestamp(col.type):
                col = pc.cast(col, TIMESTAMP, safe=False)  # ns/us -> ms; naive means UTC
            elif field.name == "size" and pa.types.is_string(col.type):
                col = _csv_size(col, rows)
            else:
                col = pc.cast(col, field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputDataError(
                f"{source}: column {field.name} ({col.type}) is not {field.type}: {exc}"
            ) from None
        if field.name == "size":
            col = _check_sizes(col, rows)
        elif field.name == "e_tag":
            col = pc.utf8_trim(col, '"')
        return col

    return _normalized(table, source_bucket, convert, rows)


def _normalized(
    batch: pa.RecordBatch | pa.Table,
    source_bucket: str,
    convert: Callable[[pa.Field, pa.Array], pa.Array],
    rows: _Rows,
) -> pa.Table:
    """Every NORMALIZED column: the batch's own, converted, or the default for an absent one;
    checked to name the report's bucket and a key in every row (see :meth:`_Rows.check_names`)."""
    names = set(batch.schema.names)
    n = batch.num_rows
    out = {
        field.name: convert(field, column(batch, field.name))
        if field.name in names
        else _absent(field, n, source_bucket)
        for field in NORMALIZED
    }
    rows.check_names(out["bucket"] if "bucket" in names else None, out["key"], source_bucket)
    return pa.Table.from_pydict(out, schema=NORMALIZED)


def _absent(field: pa.Field, n: int, source_bucket: str) -> pa.Array:
    if field.name == "bucket" and source_bucket:
        return pa.array([source_bucket] * n, pa.string())
    return pa.nulls(n, field.type)


def column(table: pa.Table | pa.RecordBatch, name: str) -> pa.Array:
    """One column of a (normalized) table as a single array."""
    return as_array(table.column(name))


def as_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A table column as one array: its only chunk as it is, several chunks combined."""
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


# --- the three formats -----------------------------------------------------------------------


def read_csv(
    path: str, columns: Sequence[str], source_bucket: str, source: str, gzipped: bool = True
) -> Iterator[pa.Table]:
    """Stream a (gzip) CSV data file: no header, every field quoted, columns as in fileSchema."""
    wanted = [c for c in NORMALIZED.names if c in columns]
    read_opts = pcsv.ReadOptions(column_names=list(columns), block_size=CSV_BLOCK_SIZE)
    convert = pcsv.ConvertOptions(
        column_types=dict.fromkeys(wanted, pa.string()),
        include_columns=wanted,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    first_row = 0
    try:
        with pa.OSFile(path) as raw:
            data = pa.CompressedInputStream(raw, "gzip") if gzipped else raw
            reader = pcsv.open_csv(data, read_options=read_opts, convert_options=convert)
            for blocks in _batched(reader, CSV_BLOCKS_PER_BATCH):
                batch = pa.Table.from_batches(blocks)
                yield normalize_csv(batch, source_bucket, source, first_row)
                first_row += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InputDataError(f"{source}: not a CSV inventory file: {_one_line(exc)}") from None
    except OSError as exc:  # zlib: not gzip, truncated
        raise InputDataError(f"{source}: cannot decompress: {_one_line(exc)}") from None


def _batched(batches: Iterable[pa.RecordBatch], n: int) -> Iterator[list[pa.RecordBatch]]:
    """``n`` batches at a time (fewer at the end)."""
    it = iter(batches)
    while group := list(itertools.islice(it, n)):
        yield group


def read_parquet(
    path: str, columns: Sequence[str], source_bucket: str, source: str
) -> Iterator[pa.Table]:
    """Read a Parquet data file batch by batch, only the columns s3grouper uses."""
    import pyarrow.parquet as pq  # imported by the format that needs it: shorter start-up

    try:
        pfile = pq.ParquetFile(path)
        present = _present(pfile.schema_arrow.names, source)
        first_row = 0
        # One row group at a time: asked for the whole file, Arrow reads row groups ahead of
        # the batches taken (141 MiB allocated at once for a 1M-row file of 8 row groups, 23
        # MiB this way, same CPU).
        for group in range(pfile.metadata.num_row_groups):
            batches = pfile.iter_batches(
                batch_size=TYPED_BATCH_ROWS, columns=present, row_groups=[group]
            )
            for batch in batches:
                yield normalize_typed(batch, source_bucket, source, first_row)
                first_row += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InputDataError(f"{source}: not a Parquet inventory file: {_one_line(exc)}") from None


def read_orc(
    path: str, columns: Sequence[str], source_bucket: str, source: str
) -> Iterator[pa.Table]:
    """Read an ORC data file stripe by stripe, only the columns s3grouper uses."""
    import pyarrow.orc as porc

    try:
        ofile = porc.ORCFile(path)
        present = _present(ofile.schema.names, source)
        first_row = 0
        for stripe in range(ofile.nstripes):
            batch = ofile.read_stripe(stripe, columns=present)
            # A stripe can hold millions of rows: normalized (and read ahead) in slices, so
            # memory holds one stripe plus a few slices, not several whole stripes.
            for start in range(0, batch.num_rows, TYPED_BATCH_ROWS):
                part = batch.slice(start, TYPED_BATCH_ROWS)
                yield normalize_typed(part, source_bucket, source, first_row + start)
            first_row += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InputDataError(f"{source}: not an ORC inventory file: {_one_line(exc)}") from None


def _present(names: Sequence[str], source: str) -> list[str]:
    if "key" not in names:
        raise InputDataError(f"{source}: has no key column")
    return [n for n in NORMALIZED.names if n in names]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_gzip_name(key: str) -> bool:
    return os.path.splitext(key)[1].lower() == ".gz"
