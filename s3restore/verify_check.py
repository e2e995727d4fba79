"""Every member of an archive against its index row, and every index row against the archive
(``s3bundler verify``; docs/restore.md, "verify").

Members and rows are paired by header offset (then by member name, so a member found at
another offset is named as such). A member with no index row is an error unless the
sub-manifest's DLQ index lists its object with "bytes left unindexed" (a streamed object that
failed verification after its last byte: its bytes stay in the archive, docs/bundler.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from s3bundler.dlq import DlqRow
from s3bundler.index import IndexRow
from s3bundler.members import pax_record
from s3common.s3uri import S3Uri
from s3restore.tar_scan import REGULAR, TarMember
from s3restore.text import object_uri

UNINDEXED = "bytes left unindexed"
#: What :class:`Verification` asks for the DLQ: (its URI or None when the archive names no
#: sub-manifest, its rows or None when there is none).
DlqSource = Callable[[], tuple[S3Uri | None, list[DlqRow] | None]]


def row_name(row: IndexRow) -> str:
    return f"{row.member} ({object_uri(row.bucket, row.key, row.version_id)})"


def pax_object(member: TarMember) -> tuple[str, str, str] | None:
    """(bucket, key, version_id) of the member's pax ``comment`` record, if it is ours."""
    text = member.pax.get("comment", "")
    if not text.startswith("s3bundler "):
        return None
    try:
        doc = json.loads(text[len("s3bundler ") :])
        return str(doc["bucket"]), str(doc["key"]), str(doc["version_id"])
    except (ValueError, KeyError, TypeError):
        return None


class Verification:
    """Counts problems as members are checked; ``report(line, is_problem)`` is called with
    each problem and each note (``unindexed (in DLQ)``) as they are found, one line each."""

    def __init__(
        self,
        rows: list[IndexRow],
        compressed: bool,
        dlq: DlqSource,
        report: Callable[[str, bool], Any],
    ) -> None:
        self._compressed = compressed
        self._dlq_source = dlq
        self._dlq: tuple[S3Uri | None, dict[tuple[str, str, str], DlqRow] | None] | None = None
        self._report = report
        self.problems = 0
        self.unindexed = 0
        self.members = 0
        self.data_bytes = 0
        self.rows = len(rows)
        self._by_header: dict[int, IndexRow] = {}
        self._by_name: dict[str, IndexRow] = {}
        for row in rows:
            assert row.header_offset is not None
            if row.header_offset in self._by_header:
                self.problem(
                    f"{row_name(row)}: index row repeats header offset {row.header_offset}"
                )
                continue
            self._by_header[row.header_offset] = row
            self._by_name.setdefault(row.member, row)

    def problem(self, text: str) -> None:
        self.problems += 1
        self._report(text, True)

    def member(self, m: TarMember, gz_region: tuple[int, int] | None) -> None:
        """One member of the archive (``gz_region``: the compressed offset and output offset
        of the frame holding its header, for a .tar.gz or .tar.zst)."""
        self.members += 1
        self.data_bytes += m.size
        row = self._by_header.pop(m.header_offset, None)
        if row is None:
            row = self._by_name.get(m.name)
            if row is None or row.header_offset not in self._by_header:
                self._no_row(m)
                return
            self._by_header.pop(row.header_offset)
            self.problem(
                f"{row_name(row)}: header at byte {m.header_offset} in the archive, "
                f"{row.header_offset} in the index"
            )
        for text in self._differences(m, row, gz_region):
            self.problem(f"{row_name(row)}: {text}")

    def _differences(
        self, m: TarMember, row: IndexRow, gz_region: tuple[int, int] | None
    ) -> list[str]:
        out = list(m.problems)
        if m.type not in REGULAR:
            out.append(f"not a regular file in the archive (tar type {m.type!r})")
        if m.name != row.member:
            out.append(f"member name {m.name!r} in the archive, {row.member!r} in the index")
        if m.data_offset != row.offset:
            out.append(f"data at byte {m.data_offset} in the archive, {row.offset} in the index")
        if m.size != row.size:
            out.append(f"{m.size} bytes in the archive, {row.size} in the index")
        elif row.md5 and m.md5 != row.md5:
            out.append(f"MD5 {m.md5} of the archived bytes != {row.md5} in the index")
        elif row.crc32c and m.crc32c != row.crc32c:
            out.append(f"CRC32C {m.crc32c} of the archived bytes != {row.crc32c} in the index")
        expected = pax_record(row.bucket, row.key, row.version_id)["comment"]
        if m.pax.get("comment") != expected:
            found = pax_object(m)
            named = object_uri(*found) if found else repr(m.pax.get("comment", "")[:200])
            indexed = object_uri(row.bucket, row.key, row.version_id)
            out.append(f"pax comment names {named}, the index {indexed}")
        mtime = _epoch(row.last_modified)
        if mtime is not None and m.mtime != mtime:
            out.append(
                f"mtime {m.mtime} in the archive, last_modified {row.last_modified} in the index"
            )
        out.extend(self._frame_differences(m, row, gz_region))
        return out

    def _frame_differences(
        self, m: TarMember, row: IndexRow, gz_region: tuple[int, int] | None
    ) -> list[str]:
        if gz_region is None:
            if row.gz_offset is not None or row.gz_skip is not None:
                return ["the index has gz_offset/gz_skip, the archive is not compressed"]
            return []
        gz_offset, origin = gz_region
        skip = m.data_offset - origin
        if (row.gz_offset, row.gz_skip) != (gz_offset, skip):
            return [
                f"gz_offset/gz_skip {gz_offset}/{skip} in the archive, "
                f"{row.gz_offset}/{row.gz_skip} in the index"
            ]
        return []

    def _no_row(self, m: TarMember) -> None:
        found = pax_object(m)
        where = f"{m.name} at byte {m.header_offset}"
        if found is None:
            self.problem(f"{where}: member with no index row (and no s3bundler pax comment)")
            return
        subject = f"{m.name} ({object_uri(*found)})"
        dlq_uri, dlq = self._dlq_rows()
        row = dlq.get(found) if dlq is not None else None
        if row is not None and UNINDEXED in row.detail:
            self.unindexed += 1
            self._report(
                f"{subject}: unindexed (in DLQ {dlq_uri}: {row.reason}, {row.detail})", False
            )
        elif dlq_uri is None:
            self.problem(f"{subject}: no index row (the archive names no sub-manifest: no DLQ)")
        elif row is not None:
            self.problem(
                f"{subject}: no index row; DLQ {dlq_uri} lists it as {row.reason}, "
                "not as left unindexed"
            )
        else:
            self.problem(f"{subject}: no index row, and not in DLQ {dlq_uri}")

    def _dlq_rows(self) -> tuple[S3Uri | None, dict[tuple[str, str, str], DlqRow] | None]:
        """The DLQ index, read the first time a member has no index row."""
        if self._dlq is None:
            uri, rows = self._dlq_source()
            by_object = {(r.bucket, r.key, r.version_id): r for r in rows or ()}
            self._dlq = (uri, by_object if rows is not None else None)
        return self._dlq

    def finish(self, unread_from: int | None = None) -> None:
        """The index rows no member matched. ``unread_from``: the archive could not be read
        from this member boundary on; the rows from there are one problem, not one each."""
        rows = sorted(self._by_header.values(), key=lambda r: r.header_offset or 0)
        if unread_from is not None:
            beyond = [r for r in rows if (r.header_offset or 0) >= unread_from]
            rows = [r for r in rows if (r.header_offset or 0) < unread_from]
            if beyond:
                self.problem(
                    f"{len(beyond)} index rows from header offset {beyond[0].header_offset} on "
                    "not checked: the archive cannot be read from there"
                )
        for row in rows:
            self.problem(
                f"{row_name(row)}: index row with no member (header offset {row.header_offset})"
            )
        self._by_header.clear()


def _epoch(last_modified: str) -> int | None:
    try:
        return int(datetime.fromisoformat(last_modified).timestamp())
    except ValueError:
        return None
