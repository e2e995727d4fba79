"""Tar members into the archive, in manifest order, and what became of each object.

Each scheduled outcome (scheduler.py) becomes one pax tar member (tarstream.py, through the
gzip layer with ``-c``) written to the archive upload, and one entry in the ledger:

- a fetched object: its member, then ``archived``;
- a stream: copied chunk by chunk with a running MD5, then verified. If it fails before its
  last byte (the object changed or vanished while it was read), half a member is in the
  archive and cannot be finished consistently: :class:`StreamBroken` tells the job to start
  the archive again without that object (it becomes a DLQ row). If its bytes are complete but
  fail verification, the member stays in the archive unindexed and the object is ``failed``
  ("bytes left unindexed");
- a failure: ``failed`` with its reason.

Member names come from members.py (injective and extraction-safe for the archive's rows); every
member carries the exact bucket, key and version in a pax ``comment`` record.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol

from s3bundler.checksums import Crc32c, crc32c_b64
from s3bundler.errors import Cancelled
from s3bundler.failures import ObjectFailed
from s3bundler.fetched import Fetched
from s3bundler.ledger import Ledger
from s3bundler.members import pax_record
from s3bundler.object_info import ObjectInfo
from s3bundler.records import index_row
from s3bundler.tarstream import GzipMembers, MemberPosition, TarStream, Writable
from s3common.submanifest import ManifestEntry

TagsReader = Callable[[ManifestEntry, ObjectInfo], tuple[dict[str, str] | None, str]]
#: Member names by (bucket, key, version_id) of the archive's rows (members.member_names).
MemberNames = Mapping[tuple[str, str, str], str]


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
        compress_level: int | None = None,  # None: no compression
    ) -> None:
        self._names = names
        gzip = GzipMembers(out, level=compress_level) if compress_level is not None else None
        self._tar = TarStream(out, gzip)
        self._ledger = ledger
        self._read_tags = read_tags
        self._cancel = cancel

    def write_all(
        self, outcomes: Iterable[tuple[ManifestEntry, Fetched | Stream | ObjectFailed]]
    ) -> None:
        """Every outcome in order, then the end of the archive."""
        for entry, outcome in outcomes:
            if isinstance(outcome, ObjectFailed):
                self._ledger.failed(entry, outcome.reason, outcome.detail)
            elif isinstance(outcome, Fetched):
                self._write_fetched(outcome)
            else:
                self._write_stream(outcome)
        self._tar.close()

    def _begin(self, entry: ManifestEntry, info: ObjectInfo) -> tuple[str, MemberPosition]:
        name = self._names[row_id(entry)]
        pax = pax_record(entry.bucket, entry.key, info.version_of(entry))
        return name, self._tar.begin(name, info.size, int(info.last_modified.timestamp()), pax)

    def _write_fetched(self, f: Fetched) -> None:
        name, pos = self._begin(f.entry, f.info)
        self._tar.write(f.data)
        self._tar.end()
        crc = crc32c_b64(f.data)
        self._ledger.archived(index_row(f.entry, f.info, f.md5, f.tags, f.flags, name, pos, crc))

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
        self._ledger.archived(row)

    def _unindexed(self, entry: ManifestEntry, failure: ObjectFailed) -> None:
        """The bytes are in the archive but not in the index: the object is in the DLQ only."""
        self._ledger.failed(entry, failure.reason, failure.detail + " (bytes left unindexed)")
