"""Tar members into the archive, in manifest order, and what became of each object.

Each scheduled outcome (scheduler.py) becomes one pax tar member (tarstream.py, through the
compression layer, frames.py, with ``--compress``) written to the archive upload, and one entry
in the ledger:

- a fetched object: its member, then ``archived``;
- a stream: copied chunk by chunk with a running MD5, then verified. If it fails before its
  last byte (the object changed or vanished while it was read), half a member is in the
  archive and cannot be finished consistently: :class:`StreamBroken` tells the job to start
  the archive again without that object (it becomes a DLQ row). If its bytes are complete but
  fail verification, the member stays in the archive unindexed and the object is ``failed``
  ("bytes left unindexed");
- a failure: ``failed`` with its reason.

Ledger entries are made in manifest order. With compression a member's index row is final only
once the compressed offset of the frame holding its header is known (every frame before it
written), so entries wait in that order until then (a few frames at most).

Member names come from members.py (injective and extraction-safe for the archive's rows); every
member carries the exact bucket, key and version in a pax ``comment`` record.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol

from s3bundler.checksums import Crc32c
from s3bundler.errors import Cancelled
from s3bundler.failures import ObjectFailed
from s3bundler.fetched import Fetched
from s3bundler.frames import Compression, FrameWriter
from s3bundler.index import IndexRow
from s3bundler.ledger import Ledger
from s3bundler.members import pax_record
from s3bundler.object_info import ObjectInfo
from s3bundler.records import index_row
from s3bundler.tarstream import MemberPosition, TarStream, Writable
from s3common.submanifest import ManifestEntry

TagsReader = Callable[[ManifestEntry, ObjectInfo], tuple[dict[str, str] | None, str]]
#: Member names by (bucket, key, version_id) of the archive's rows (members.member_names).
MemberNames = Mapping[tuple[str, str, str], str]
#: A ledger entry waiting for its frame's offset: (frame number or None, an index row to
#: archive, or a failure (entry, reason, detail)).
Pending = tuple[int | None, IndexRow | tuple[ManifestEntry, str, str]]


def row_id(entry: ManifestEntry) -> tuple[str, str, str]:
    return entry.bucket, entry.key, entry.version_id


class StreamBroken(Exception):
    """A streamed object failed half-way through its member: the archive must start again
    without it (``failure`` is its DLQ reason)."""

    def __init__(self, entry: ManifestEntry, failure: ObjectFailed) -> None:
        super().__init__(f"s3://{entry.bucket}/{entry.key}: {failure}")
        self.entry = entry
        self.failure = failure


class Stream(Protocol):
    """An object too large to buffer, read chunk by chunk (ranged_stream.RangedStream)."""

    entry: ManifestEntry

    @property
    def info(self) -> ObjectInfo: ...

    @property
    def md5(self) -> str: ...

    def chunks(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class ArchiveWriter:
    def __init__(
        self,
        out: Writable,
        ledger: Ledger,
        read_tags: TagsReader,
        cancel: threading.Event,
        names: MemberNames,
        compression: Compression | None = None,  # None: a plain .tar
    ) -> None:
        self._names = names
        self._frames = FrameWriter(out, compression) if compression is not None else None
        self._tar = TarStream(out, self._frames)
        self._ledger = ledger
        self._read_tags = read_tags
        self._cancel = cancel
        self._pending: deque[Pending] = deque()

    def write_all(
        self, outcomes: Iterable[tuple[ManifestEntry, Fetched | Stream | ObjectFailed]]
    ) -> None:
        """Every outcome in order, then the end of the archive."""
        try:
            for entry, outcome in outcomes:
                if isinstance(outcome, ObjectFailed):
                    self._failed(entry, outcome.reason, outcome.detail)
                elif isinstance(outcome, Fetched):
                    self._write_fetched(outcome)
                else:
                    self._write_stream(outcome)
                self._record()
            self._tar.close()
            self._record()
            assert not self._pending, "every frame is written once the archive is closed"
        finally:
            if self._frames is not None:
                self._frames.shutdown()

    def _archived(self, row: IndexRow, pos: MemberPosition) -> None:
        self._pending.append((pos.frame, row))

    def _failed(self, entry: ManifestEntry, reason: str, detail: str) -> None:
        self._pending.append((None, (entry, reason, detail)))

    def _record(self) -> None:
        """Hand the waiting entries to the ledger, in order, as far as their frames' offsets
        are known."""
        while self._pending:
            frame, what = self._pending[0]
            if isinstance(what, IndexRow) and frame is not None:
                assert self._frames is not None
                offset = self._frames.offset(frame)
                if offset is None:
                    return
                what.gz_offset = offset
            self._pending.popleft()
            if isinstance(what, IndexRow):
                self._ledger.archived(what)
            else:
                self._ledger.failed(*what)

    def _begin(self, entry: ManifestEntry, info: ObjectInfo) -> tuple[str, MemberPosition]:
        name = self._names[row_id(entry)]
        pax = pax_record(entry.bucket, entry.key, info.version_of(entry))
        return name, self._tar.begin(name, info.size, int(info.last_modified.timestamp()), pax)

    def _write_fetched(self, f: Fetched) -> None:
        name, pos = self._begin(f.entry, f.info)
        crc = Crc32c()
        for piece in f.pieces:
            self._tar.write(piece)
            crc.update(piece)
        self._tar.end()
        row = index_row(f.entry, f.info, f.md5, f.tags, f.flags, name, pos, crc.b64digest())
        self._archived(row, pos)

    def _write_stream(self, stream: Stream) -> None:
        entry = stream.entry
        try:
            info = stream.info
            chunks = stream.chunks()
            first = next(chunks, b"")  # a failure before the first byte costs no member
        except ObjectFailed as failure:
            stream.close()
            self._ledger.failed(entry, failure.reason, failure.detail)
            return
        name, pos = self._begin(entry, info)
        crc = Crc32c()
        written = 0
        try:
            for chunk in itertools.chain((first,), chunks):
                if self._cancel.is_set():
                    raise Cancelled()
                self._tar.write(chunk)
                crc.update(chunk)
                written += len(chunk)
        except ObjectFailed as failure:
            stream.close()
            if written < info.size:
                raise StreamBroken(entry, failure) from failure
            self._tar.end()
            self._unindexed(entry, failure)
            return
        self._tar.end()
        try:
            info.check_md5(stream.md5)
        except ObjectFailed as failure:
            self._unindexed(entry, failure)
            return
        tags, tag_flag = self._read_tags(entry, info)
        flags = info.flags_against(entry) + ([tag_flag] if tag_flag else [])
        row = index_row(entry, info, stream.md5, tags, flags, name, pos, crc.b64digest())
        self._archived(row, pos)

    def _unindexed(self, entry: ManifestEntry, failure: ObjectFailed) -> None:
        """The bytes are in the archive but not in the index: the object is in the DLQ only."""
        self._failed(entry, failure.reason, failure.detail + " (bytes left unindexed)")
