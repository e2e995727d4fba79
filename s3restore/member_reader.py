"""Reading archived objects back: where each one is, which ranged GETs fetch a set of them,
and the bytes, verified.

- A member of a ``.tar`` is ``offset .. offset+size-1`` of the archive. Members of one archive
  close to each other are fetched by one GET (gaps up to ``max_gap`` are read and thrown
  away); when the members asked for cover most of the archive, it is read whole, once.
- A member of a ``.tar.gz`` or ``.tar.zst`` starts in the frame (gzip member, zstd frame) at
  ``gz_offset``: the read starts there and decompresses until the member's last byte,
  ``gz_skip + size`` bytes into that frame's output (read_stream.py); members of the same
  region are taken from one read as the decompressed stream passes them. The read asks for
  that many bytes plus the frames' overhead and (zstd) the rest of a 128 KiB block
  (``compressed_end``): less than a frame (the writer starts a new one at the first member
  boundary past 1 MiB) plus the member. Frames that take more are read on by a second GET.
- Every object comes back with its size, MD5 and (when the index has it) CRC32C checked; a
  mismatch is :class:`CorruptMember`, nothing is handed out. :func:`stream_members` hands
  out each object as chunks instead (bounded memory for big ones) and raises
  :class:`CorruptMember` at the end of a member's chunks: nothing of it may be committed
  before they are all taken.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from s3bundler.checksums import Crc32c
from s3bundler.codecs import GZIP, Codec, codec_of
from s3bundler.index import IndexRow
from s3common.s3uri import S3Uri, parse_s3_uri
from s3common.sizes import KiB, MiB
from s3restore.read_stream import CorruptMember, FrameStream, PositionedStream, ranged_chunks

MAX_GAP = MiB  # bytes between two members still read by one GET
MAX_SPAN = 64 * MiB  # at most this much by one coalesced GET
WHOLE_ARCHIVE_SHARE = 0.5  # asked-for bytes above this share of the archive: read it whole
#: A compressed member's read asks for its uncompressed span from its frame's start, 1/128 of it
#: (frame, block and checksum overhead when the data does not compress) and this: zstd decodes
#: whole blocks (up to 128 KiB), zlib streams. Frames that take more are read on by a 2nd GET.
FRAME_SLACK = {"gzip": 16 * KiB, "zstd": 144 * KiB}


@dataclass(frozen=True)
class Member:
    """An archived object: where its bytes are and what they must be."""

    archive: S3Uri
    bucket: str
    key: str
    version_id: str
    size: int
    offset: int
    md5: str
    crc32c: str = ""
    gz_offset: int | None = None
    gz_skip: int | None = None
    content_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    last_modified: str = ""
    member: str = ""  # the tar member name

    @property
    def compressed(self) -> bool:
        return self.gz_offset is not None

    @property
    def codec(self) -> Codec:
        """The codec of a compressed member's archive, as its extension says."""
        return codec_of(self.archive.key) or GZIP

    @property
    def compressed_end(self) -> int:
        """The compressed offset a read of this (compressed) member is planned to reach."""
        span = (self.gz_skip or 0) + self.size
        return (self.gz_offset or 0) + span + span // 128 + FRAME_SLACK[self.codec.name]

    @classmethod
    def from_index(cls, row: IndexRow, archive: S3Uri) -> Member:
        assert row.offset is not None, "index rows of archived objects have an offset"
        return cls(
            archive=archive,
            bucket=row.bucket,
            key=row.key,
            version_id=row.version_id,
            size=row.size,
            offset=row.offset,
            md5=row.md5,
            crc32c=row.crc32c,
            gz_offset=row.gz_offset,
            gz_skip=row.gz_skip,
            content_type=row.content_type,
            metadata=dict(row.metadata or {}),
            tags=dict(row.tags or {}),
            headers=dict(row.headers or {}),
            last_modified=row.last_modified,
            member=row.member,
        )

    @classmethod
    def from_catalog(cls, row: dict[str, Any]) -> Member:
        """From a catalog row with ``status == "archived"`` (and its ``bucket``)."""
        modified = row.get("last_modified")
        return cls(
            archive=parse_s3_uri(row["archive"]),
            bucket=row["bucket"],
            key=row["key"],
            version_id=row.get("version_id") or "",
            size=int(row["size"]),
            offset=int(row["offset"]),
            md5=row.get("md5") or "",
            crc32c=row.get("crc32c") or "",
            gz_offset=row.get("gz_offset"),
            gz_skip=row.get("gz_skip"),
            content_type=row.get("content_type") or "",
            metadata=json.loads(row.get("metadata") or "{}"),
            tags=json.loads(row.get("tags") or "{}"),
            headers=json.loads(row.get("headers") or "{}"),
            last_modified=modified.isoformat() if modified is not None else "",
            member=row.get("member") or "",
        )

    def verify(self, data: bytes) -> bytes:
        """``data`` if it is this member's bytes, else CorruptMember naming what differs."""
        check = MemberCheck(self)
        check.update(data)
        check.finish()
        return data


class MemberCheck:
    """Size, MD5 and (when recorded) CRC32C of a member's bytes, fed in order."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.size = 0
        self._md5 = hashlib.md5()
        self._crc = Crc32c() if member.crc32c else None

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self._md5.update(data)
        if self._crc is not None:
            self._crc.update(data)

    def finish(self) -> None:
        """CorruptMember naming what differs, if anything does."""
        m = self.member
        where = f"{m.archive} member for s3://{m.bucket}/{m.key}"
        if self.size != m.size:
            raise CorruptMember(f"{where}: {self.size} bytes read, {m.size} archived")
        md5 = self._md5.hexdigest()
        if m.md5 and md5 != m.md5:
            raise CorruptMember(f"{where}: MD5 {md5} of bytes read != {m.md5} archived")
        if self._crc is not None and (crc := self._crc.b64digest()) != m.crc32c:
            raise CorruptMember(f"{where}: CRC32C {crc} of bytes read != {m.crc32c} archived")


@dataclass(frozen=True)
class Read:
    """One ranged GET of an archive and the members it serves, in archive order."""

    archive: S3Uri
    start: int  # first byte (a frame's compressed offset for a compressed archive)
    end: int | None  # last byte, inclusive; None: to the end (the whole archive)
    members: tuple[Member, ...]

    @property
    def range_header(self) -> str:
        return f"bytes={self.start}-" + ("" if self.end is None else str(self.end))


def plan_reads(
    members: Iterable[Member],
    archive_sizes: dict[S3Uri, int] | None = None,
    max_gap: int = MAX_GAP,
    max_span: int = MAX_SPAN,
) -> list[Read]:
    """The GETs that fetch ``members``: per archive, neighbours coalesced; a whole-archive
    read when the members cover more than half of it (``archive_sizes`` known)."""
    by_archive: dict[S3Uri, list[Member]] = {}
    for m in members:
        by_archive.setdefault(m.archive, []).append(m)
    reads: list[Read] = []
    for archive, group in by_archive.items():
        size = (archive_sizes or {}).get(archive)
        if group[0].compressed:
            reads.extend(_compressed_reads(archive, group, max_gap, max_span, size))
            continue
        group.sort(key=lambda m: m.offset)
        wanted = sum(m.size for m in group)
        if size and wanted > size * WHOLE_ARCHIVE_SHARE:
            reads.append(Read(archive, 0, None, tuple(group)))
            continue
        reads.extend(_coalesced(archive, group, max_gap, max_span))
    return reads


def _coalesced(archive: S3Uri, group: list[Member], gap: int, span: int) -> Iterator[Read]:
    batch = [group[0]]
    for m in group[1:]:
        first, last = batch[0], batch[-1]
        if m.offset - (last.offset + last.size) <= gap and m.offset + m.size - first.offset <= span:
            batch.append(m)
            continue
        yield _read(archive, batch)
        batch = [m]
    yield _read(archive, batch)


def _read(archive: S3Uri, batch: list[Member]) -> Read:
    start = batch[0].offset
    end = max(m.offset + m.size for m in batch) - 1
    return Read(archive, start, max(end, start), tuple(batch))


def _compressed_reads(
    archive: S3Uri, group: list[Member], gap: int, span: int, size: int | None
) -> Iterator[Read]:
    """From the frame of each batch's first member to the planned end of its members."""
    group.sort(key=lambda m: (m.gz_offset or 0, m.gz_skip or 0))
    first, last = group[0].gz_offset or 0, group[-1].gz_offset or 0
    if size and last - first > size * WHOLE_ARCHIVE_SHARE:  # most of it: one read
        yield Read(archive, first, None, tuple(group))
        return
    batch = [group[0]]
    for m in group[1:]:
        start = batch[0].gz_offset or 0
        if (m.gz_offset or 0) - _end(batch) <= gap and m.compressed_end - start <= span:
            batch.append(m)
            continue
        yield Read(archive, start, _end(batch), tuple(batch))
        batch = [m]
    yield Read(archive, batch[0].gz_offset or 0, _end(batch), tuple(batch))


def _end(batch: list[Member]) -> int:
    return max(m.compressed_end for m in batch) - 1


def fetch(s3: Any, read: Read) -> Iterator[tuple[Member, bytes]]:
    """The members of one planned read, each verified, in archive order."""
    for m, stream in _positioned(s3, read):
        yield m, m.verify(stream.take(m.size))


def fetch_streams(s3: Any, read: Read) -> Iterator[tuple[Member, Iterator[bytes]]]:
    """The members of one planned read, in archive order, each as its chunks: the chunks'
    iterator raises CorruptMember at its end if they are not the bytes archived. Take a
    member's chunks before asking for the next member (what is left of it is skipped)."""
    for m, stream in _positioned(s3, read):
        yield m, _checked(m, stream.chunks(m.size))


def _checked(m: Member, chunks: Iterator[bytes]) -> Iterator[bytes]:
    check = MemberCheck(m)
    for chunk in chunks:
        check.update(chunk)
        yield chunk
    check.finish()


def _positioned(s3: Any, read: Read) -> Iterator[tuple[Member, PositionedStream]]:
    """The read's body as a stream placed at the start of each member's bytes in turn."""
    compressed = read.members[0].compressed
    chunks = ranged_chunks(s3, read.archive, read.start, read.end, more=compressed)
    try:
        if compressed:
            frames = FrameStream(chunks, read.archive, read.start, read.members[0].codec)
            for m in read.members:
                frames.skip_to(frames.origin(m.gz_offset or 0) + (m.gz_skip or 0))
                yield m, frames
        else:
            stream = PositionedStream(chunks, read.archive, position=read.start)
            for m in read.members:
                stream.skip_to(m.offset)
                yield m, stream
    finally:
        chunks.close()


def read_members(
    s3: Any, members: Sequence[Member], archive_sizes: dict[S3Uri, int] | None = None
) -> Iterator[tuple[Member, bytes]]:
    """All of ``members``, verified, archive by archive (see :func:`plan_reads`); an empty
    object needs no read."""
    for m in members:
        if m.size == 0:
            yield m, m.verify(b"")
    for read in plan_reads([m for m in members if m.size], archive_sizes):
        yield from fetch(s3, read)


def stream_members(
    s3: Any, members: Sequence[Member], archive_sizes: dict[S3Uri, int] | None = None
) -> Iterator[tuple[Member, Iterator[bytes]]]:
    """As :func:`read_members`, each member as chunks (see :func:`fetch_streams`)."""
    for m in members:
        if m.size == 0:
            yield m, _checked(m, iter(()))
    for read in plan_reads([m for m in members if m.size], archive_sizes):
        yield from fetch_streams(s3, read)
