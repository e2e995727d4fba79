"""Hash partitions on local disk: tables too big for memory, split by key so that each part
(every row of a key in the same part) can be worked on alone.

``reconcile`` compares a job's selected inventory rows with its catalog rows, 10^7 and more
of each: both sides go through :class:`Partitions` of the same number of parts, hashed on
``key``, and part ``i`` of one side is compared with part ``i`` of the other. Memory holds one
buffer of rows being split plus one part of each side, whatever the number of rows.

Parts are Arrow IPC streams (zstd) in a directory the caller owns. The part of a row is
CRC32 of its key's UTF-8 bytes modulo the number of parts: deterministic across runs.
"""

from __future__ import annotations

import math
import os
import resource
import zlib
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

#: Rows buffered before they are split into parts (written in one go per part).
BUFFER_ROWS = 128 * 1024
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def parts_for(rows: int, rows_per_part: int) -> int:
    """How many parts for about ``rows`` rows, ``rows_per_part`` each (at least one)."""
    return max(1, math.ceil(max(rows, 1) / max(rows_per_part, 1)))


def part_numbers(keys: pa.Array | pa.ChunkedArray, parts: int) -> pa.Array:
    """The part (int32) of each key."""
    if parts == 1:
        return pa.repeat(pa.scalar(0, pa.int32()), len(keys))
    crc = zlib.crc32
    raw = keys.cast(pa.binary()).to_pylist()  # bytes: no decoding, one object per row at a time
    return pa.array([crc(k) % parts for k in raw], pa.int32())


def allow_open_files(count: int) -> None:
    """Raise this process's soft limit of open files to ``count`` if it is lower (as far as
    the hard limit allows): each part is an open file while it is written."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= count:
        return
    wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class Partitions:
    """Rows of one ``schema`` written into ``parts`` files under ``directory``, by the hash of
    their ``key`` column. :meth:`add` tables (extra columns are dropped), :meth:`close`, then
    :meth:`read` each part."""

    def __init__(
        self, directory: str, name: str, schema: pa.Schema, parts: int, key: str = "key"
    ) -> None:
        self.schema = schema
        self.parts = parts
        self.key = key
        self.rows = 0
        allow_open_files(parts + 64)
        self._paths = [os.path.join(directory, f"{name}.{i}.arrows") for i in range(parts)]
        self._sinks = [pa.OSFile(path, "wb") for path in self._paths]
        self._writers = [
            pa.ipc.new_stream(sink, schema, options=_WRITE_OPTIONS) for sink in self._sinks
        ]
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._closed = False

    def add(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self._buffer.append(table.select(self.schema.names).cast(self.schema))
        self._buffered += table.num_rows
        self.rows += table.num_rows
        if self._buffered >= BUFFER_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._buffered:
            return
        table = pa.concat_tables(self._buffer).combine_chunks()
        self._buffer, self._buffered = [], 0
        numbers = part_numbers(table.column(self.key), self.parts)
        order = pc.sort_indices(numbers)
        table, numbers = table.take(order), numbers.take(order)
        start = 0
        for entry in pc.value_counts(numbers):  # in order of appearance: ascending
            part, count = entry["values"].as_py(), entry["counts"].as_py()
            self._writers[part].write_table(table.slice(start, count))
            start += count

    def close(self) -> None:
        """Write what is buffered and close every part (idempotent)."""
        if self._closed:
            return
        self._flush()
        for writer, sink in zip(self._writers, self._sinks, strict=True):
            writer.close()
            sink.close()
        self._closed = True

    def read(self, part: int) -> pa.Table:
        """Every row of one part (after :meth:`close`)."""
        with pa.OSFile(self._paths[part], "rb") as source:
            return pa.ipc.open_stream(source).read_all()

    def __iter__(self) -> Iterator[pa.Table]:
        for part in range(self.parts):
            yield self.read(part)

    def remove(self) -> None:
        """Delete the part files (after :meth:`close`)."""
        self.close()
        for path in self._paths:
            if os.path.exists(path):
                os.unlink(path)
