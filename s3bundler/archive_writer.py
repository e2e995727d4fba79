"""Tar members into the archive, in manifest order, and what became of each object.

Each scheduled outcome (scheduler.py) becomes one pax tar member (tarstream.py, through the
gzip layer with ``-c``) written to the archive upload, and one entry in the ledger:

- a fetched object: its member, then ``archived``;
- a stream: copied chunk by chunk with a running MD5, then verified. If it fails before its
  last byte, half a member is in the archive and cannot be finished consistently: the archive
  is abandoned (InputDataError; the manifest is redelivered). If its bytes are complete but
  fail verification, the member stays in the archive unindexed and the object is ``failed``
  ("bytes left unindexed");
- a failure: ``failed`` with its reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from s3bundler.errors import Cancelled
from s3bundler.failures import ObjectFailed
from s3bundler.fetched import Fetched
from s3bundler.layout import member_name
from s3bundler.ledger import Ledger
from s3bundler.object_info import ObjectInfo
from s3bundler.records import index_row
from s3bundler.tarstream import GzipMembers, TarStream, Writable
from s3common.errors import InputDataError
from s3common.submanifest import ManifestEntry

TagsReader = Callable[[ManifestEntry, ObjectInfo], tuple[dict[str, str] | None, str]]


class Stream(Protocol):
    """An object too large to buffer, read chunk by chunk (boto_reads.ObjectStream)."""

    entry: ManifestEntry
    info: ObjectInfo
    read: int  # bytes read so far

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
        compress_level: int | None = None,  # None: no compression
    ) -> None:
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

    def _write_fetched(self, f: Fetched) -> None:
        name = member_name(f.entry.bucket, f.entry.key)
        pos = self._tar.begin(name, f.info.size, int(f.info.last_modified.timestamp()))
        self._tar.write(f.data)
        self._tar.end()
        self._ledger.archived(index_row(f.entry, f.info, f.md5, f.tags, f.flags, name, pos))

    def _write_stream(self, stream: Stream) -> None:
        entry, info = stream.entry, stream.info
        name = member_name(entry.bucket, entry.key)
        pos = self._tar.begin(name, info.size, int(info.last_modified.timestamp()))
        try:
            for chunk in stream.chunks():
                if self._cancel.is_set():
                    raise Cancelled()
                self._tar.write(chunk)
        except ObjectFailed as failure:
            stream.close()
            if stream.read < info.size:
                raise InputDataError(
                    f"s3://{entry.bucket}/{entry.key} {failure.reason} while streaming "
                    f"({failure.detail}); archive abandoned for redelivery"
                ) from failure
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
        self._ledger.archived(index_row(entry, info, stream.md5, tags, flags, name, pos))

    def _unindexed(self, entry: ManifestEntry, failure: ObjectFailed) -> None:
        """The bytes are in the archive but not in the index: the object is in the DLQ only."""
        self._ledger.failed(entry, failure.reason, failure.detail + " (bytes left unindexed)")
