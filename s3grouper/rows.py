"""Sub-manifest rows from normalized tables, encoded vectorized with pyarrow.

The bytes are exactly what :func:`s3common.submanifest.write_rows` (s3common/csvrows.py:
minimal quoting that also quotes a bare carriage return, ``\\n`` line ends) writes for the same
cells; the tests hold the two to that.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from s3grouper.readers import raw_contains

_NEEDS_QUOTES = r'[,"\r\n]'
_TEXT_COLUMNS = ("bucket", "key", "version_id", "e_tag", "storage_class")


def encode_rows(table: pa.Table) -> pa.Buffer:
    """The CSV lines (no header) of a normalized table, in sub-manifest column order."""
    if table.num_rows == 0:
        return pa.py_buffer(b"")
    text = {name: _quoted(_filled(_column(table, name))) for name in _TEXT_COLUMNS}
    multipart = pc.if_else(_column(table, "is_multipart_uploaded"), "true", "false")
    cells = [
        text["bucket"],
        text["key"],
        _filled(pc.cast(_column(table, "size"), pa.string())),
        text["version_id"],
        text["e_tag"],
        _filled(_timestamps(_column(table, "last_modified_date"))),
        text["storage_class"],
        pc.binary_join_element_wise(_filled(multipart), "\n", ""),  # last cell ends the line
    ]
    lines = pc.binary_join_element_wise(*cells, ",")
    # The lines lie back to back in the string array's data buffer: no copy needed.
    _validity, offsets, data = lines.buffers()
    bounds = memoryview(offsets).cast("i")
    start, stop = bounds[lines.offset], bounds[lines.offset + len(lines)]
    return data.slice(start, stop - start)


def _column(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def _filled(col: pa.Array) -> pa.Array:
    return pc.fill_null(col, "") if col.null_count else col


def _quoted(col: pa.Array) -> pa.Array:
    if not raw_contains(col, b",", b'"', b"\r", b"\n"):
        return col
    needs = pc.match_substring_regex(col, _NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return col
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, col)


def _timestamps(col: pa.Array) -> pa.Array:
    """timestamp[ms, UTC] -> ``2024-01-31T12:00:00.000Z`` (as the CSV inventory writes it)."""
    if col.null_count == len(col):
        return pa.nulls(len(col), pa.string())
    naive = pc.cast(col, pa.timestamp("ms"))  # same instants, rendered without the zone
    text = pc.replace_substring(pc.cast(naive, pa.string()), " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, "Z", "")
