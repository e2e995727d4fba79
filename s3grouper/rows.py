"""Sub-manifest rows from normalized tables, encoded vectorized with pyarrow.

The bytes are exactly what :func:`s3common.submanifest.write_rows` (s3common/csvrows.py:
minimal quoting that also quotes a bare carriage return, ``\\n`` line ends) writes for the same
cells; the tests hold the two to that.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from s3grouper.readers import column, raw_contains

_NEEDS_QUOTES = r'[,"\r\n]'
_TEXT_COLUMNS = ("bucket", "version_id", "e_tag", "storage_class")
_NULL_TEXT = pa.scalar(None, pa.string())
_EMPTY = pa.scalar("", pa.string())
_TIMESTAMP_WIDTH = len("2024-01-31 12:00:00.000")


def encode_rows(table: pa.Table) -> pa.Buffer:
    """The CSV lines (no header) of a normalized table, in sub-manifest column order."""
    if table.num_rows == 0:
        return pa.py_buffer(b"")
    return line_bytes(encode_lines(table))


def encode_lines(table: pa.Table, keep: pa.Array | None = None) -> pa.Array:
    """One string per row of a normalized table: its CSV line, ``\\n`` included, in sub-manifest
    column order. Rows where ``keep`` is false are null, so their lines take no bytes: the data
    buffer holds exactly the kept rows' lines, back to back (see :func:`line_bytes`)."""
    text = {name: _quoted(column(table, name)) for name in _TEXT_COLUMNS}
    text["key"] = _quoted(column(table, "key"), scalar=False)  # at least one array cell
    last = _multipart(column(table, "is_multipart_uploaded"))  # the last cell ends the line
    if keep is not None:
        last = pc.if_else(keep, last, _NULL_TEXT)
    cells = [
        text["bucket"],
        text["key"],
        _filled(pc.cast(column(table, "size"), pa.string())),
        text["version_id"],
        text["e_tag"],
        _timestamps(column(table, "last_modified_date")),
        text["storage_class"],
        last,
    ]
    return pc.binary_join_element_wise(*cells, ",")  # a null cell (only `last`) -> a null line


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


def _multipart(col: pa.Array) -> pa.Array | pa.Scalar:
    """``true``/``false``/empty, and the line end."""
    if col.null_count == len(col):
        return pa.scalar("\n", pa.string())
    cell = pc.if_else(col, "true\n", "false\n")
    return pc.fill_null(cell, "\n") if col.null_count else cell


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
