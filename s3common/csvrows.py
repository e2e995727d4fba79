"""Writing CSV rows for our formats (sub-manifest, index, DLQ index).

Python's ``csv.writer`` with ``\\n`` line ends leaves a cell containing a bare carriage return
unquoted, and its own reader then splits the row in two -- fatal for S3 keys, which may contain
``\\r``. So cells are quoted here whenever they contain ``,``, ``"``, ``\\r`` or ``\\n`` (RFC
4180 quoting, ``\\n`` line ends); reading stays with ``csv.reader``, which parses this
correctly. s3grouper's vectorized encoder (s3grouper/rows.py) produces the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import IO

_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def format_row(cells: Iterable[str]) -> str:
    return (
        ",".join('"' + c.replace('"', '""') + '"' if _NEEDS_QUOTES.search(c) else c for c in cells)
        + "\n"
    )


class CsvWriter:
    """``csv.writer``'s ``writerow``/``writerows`` with the quoting above."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def writerow(self, cells: Iterable[str]) -> None:
        self._out.write(format_row(cells))

    def writerows(self, rows: Iterable[Iterable[str]]) -> None:
        write = self._out.write
        for cells in rows:
            write(format_row(cells))
