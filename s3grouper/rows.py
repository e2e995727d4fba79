"""Sub-manifest rows from normalized tables, encoded vectorized with pyarrow.

The bytes are exactly what :func:`s3common.submanifest.write_rows` (s3common/csvrows.py:
minimal quoting that also quotes a bare carriage return, ``\\n`` line ends) writes for the same
cells; the tests hold the two to that. The column order is not repeated here: :data:`CELLS`
says where each sub-manifest column comes from and how its cells are written, and lines are
joined in :data:`s3common.submanifest.COLUMNS` order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from s3common.submanifest import COLUMNS
from s3grouper.keys import raw_contains
from s3grouper.readers import column

_NEEDS_QUOTES = r'[,"\r\n]'
_NULL_TEXT = pa.scalar(None, pa.string())
_EMPTY = pa.scalar("", pa.string())
_TIMESTAMP_WIDTH = len("2024-01-31 12:00:00.000")
_LINE_END = "\n"

#: A column's cells: ``encode(normalized column, end)``, ``end`` appended to every cell (the
#: line end for the last column, else ""). A scalar stands for a column of equal cells.
CellEncoder = Callable[[pa.Array, str], "pa.Array | pa.Scalar"]


def encode_rows(table: pa.Table) -> pa.Buffer:
    """The CSV lines (no header) of a normalized table, in sub-manifest column order."""
    if table.num_rows == 0:
        return pa.py_buffer(b"")
    return line_bytes(encode_lines(table))


def encode_lines(table: pa.Table, keep: pa.Array | None = None) -> pa.Array:
    """One string per row of a normalized table: its CSV line, ``\\n`` included, in sub-manifest
    column order. Rows where ``keep`` is false are null, so their lines take no bytes: the data
    buffer holds exactly the kept rows' lines, back to back (see :func:`line_bytes`)."""
    last = len(COLUMNS) - 1
    cells = []
    for i, name in enumerate(COLUMNS):  # a column without a CELLS entry: KeyError, not a gap
        source, encode = CELLS[name]
        cells.append(encode(column(table, source), _LINE_END if i == last else ""))
    if keep is not None:
        cells[last] = pc.if_else(keep, cells[last], _NULL_TEXT)
    return pc.binary_join_element_wise(*cells, ",")  # a null cell (only the last) -> null line


def line_bytes(lines: pa.Array, start: int = 0, stop: int | None = None) -> pa.Buffer:
    """The bytes of ``lines[start:stop]`` (null lines are empty): a zero-copy slice of the
    string array's data buffer, where the lines lie back to back."""
    stop = len(lines) if stop is None else stop
    bounds = line_offsets(lines)
    first, end = bounds[start], bounds[stop]
    data = lines.buffers()[2]
    if data is None or end == first:
        return pa.py_buffer(b"")
    return data.slice(first, end - first)


def line_offsets(lines: pa.Array) -> memoryview:
    """Byte offsets of the lines in the data buffer: line i is ``[off[i], off[i + 1])``."""
    offsets = lines.buffers()[1]
    return memoryview(offsets).cast("i")[lines.offset : lines.offset + len(lines) + 1]


# --- cells -----------------------------------------------------------------------------------


def _text(col: pa.Array, end: str) -> pa.Array | pa.Scalar:
    return _ended(_quoted(col), end)


def _key(col: pa.Array, end: str) -> pa.Array | pa.Scalar:
    # Never a scalar: with one array cell the join yields an array even if all others are.
    return _ended(_quoted(col, scalar=False), end)


def _integer(col: pa.Array, end: str) -> pa.Array | pa.Scalar:
    return _ended(_filled(pc.cast(col, pa.string())), end)


def _boolean(col: pa.Array, end: str) -> pa.Array | pa.Scalar:
    """``true``/``false``/empty; ``end`` is part of the three choices (no second pass)."""
    if col.null_count == len(col):
        return pa.scalar(end, pa.string())
    cell = pc.if_else(col, "true" + end, "false" + end)
    return pc.fill_null(cell, end) if col.null_count else cell


def _timestamp(col: pa.Array, end: str) -> pa.Array | pa.Scalar:
    return _ended(_timestamps(col), end)


#: Sub-manifest column -> (normalized-table column, cell encoder); see :data:`COLUMNS` for the
#: order and :func:`s3common.submanifest.entry_row` for the same cells written one by one.
CELLS: dict[str, tuple[str, CellEncoder]] = {
    "bucket": ("bucket", _text),
    "key": ("key", _key),
    "size": ("size", _integer),
    "version_id": ("version_id", _text),
    "etag": ("e_tag", _text),
    "last_modified": ("last_modified_date", _timestamp),
    "storage_class": ("storage_class", _text),
    "is_multipart": ("is_multipart_uploaded", _boolean),
}


def _ended(cell: pa.Array | pa.Scalar, end: str) -> pa.Array | pa.Scalar:
    """``cell`` (never null: filled) with ``end`` appended."""
    if not end:
        return cell
    if isinstance(cell, pa.Scalar):
        return pa.scalar(cell.as_py() + end, pa.string())
    return pc.binary_join_element_wise(cell, end, "")


def _filled(col: pa.Array, scalar: bool = True) -> pa.Array | pa.Scalar:
    if scalar and col.null_count == len(col):
        return _EMPTY  # a field the inventory lacks: one scalar instead of a column
    return pc.fill_null(col, "") if col.null_count else col


def _quoted(col: pa.Array, scalar: bool = True) -> pa.Array | pa.Scalar:
    col = _filled(col, scalar)
    if isinstance(col, pa.Scalar) or not raw_contains(col, b",", b'"', b"\r", b"\n"):
        return col
    needs = pc.match_substring_regex(col, _NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return col
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, col)


def _timestamps(col: pa.Array) -> pa.Array | pa.Scalar:
    """timestamp[ms, UTC] -> ``2024-01-31T12:00:00.000Z`` (as the CSV inventory writes it)."""
    if col.null_count == len(col):
        return _EMPTY
    naive = pc.cast(col, pa.timestamp("ms"))  # same instants, rendered without the zone
    text = pc.cast(naive, pa.string())  # 2024-01-31 12:00:00.000
    # Arrow renders exactly one space per value (between date and time): turning it into 'T'
    # byte for byte over the whole data buffer keeps every offset.
    validity, offsets, data = text.buffers()
    if data is not None:
        data = pa.py_buffer(data.to_pybytes().replace(b" ", b"T"))
    text = pa.StringArray.from_buffers(
        len(text), offsets, data, validity, text.null_count, text.offset
    )
    # Years 0-9999 render in exactly 23 characters (others in more): when all values do,
    # padding to 24 with 'Z' appends it, 4x faster than joining.
    bounds = memoryview(offsets).cast("i")[text.offset : text.offset + len(text) + 1]
    if bounds[len(text)] - bounds[0] == _TIMESTAMP_WIDTH * (len(text) - text.null_count):
        return _filled(pc.ascii_rpad(text, _TIMESTAMP_WIDTH + 1, "Z"))
    return _filled(pc.binary_join_element_wise(text, "Z", ""))


def kept_line_starts(lines: pa.Array, keep: pa.Array | None) -> Sequence[int]:
    """Where the kept rows' lines of :func:`encode_lines` start in its data buffer, and where
    the last one ends: kept rows ``a:b`` are the bytes ``[starts[a], starts[b])``."""
    bounds = line_offsets(lines)
    if keep is None:
        return bounds
    n = len(lines)
    starts = pa.Array.from_buffers(pa.int32(), n, [None, lines.buffers()[1]], 0, lines.offset)
    kept = pc.filter(starts, keep)
    at = memoryview(kept.buffers()[1]).cast("i")[kept.offset : kept.offset + len(kept)]
    return _Starts(at, bounds[n])


class _Starts(Sequence[int]):
    """Kept rows' line starts and, one past them, the end of the last line."""

    def __init__(self, starts: memoryview, end: int) -> None:
        self._starts = starts
        self._end = end

    def __len__(self) -> int:
        return len(self._starts) + 1

    def __getitem__(self, index: int) -> int:  # type: ignore[override]
        return self._end if index == len(self._starts) else int(self._starts[index])
