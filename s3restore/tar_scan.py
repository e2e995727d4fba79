"""A tar stream parsed front to back with each member's data hashed as it passes, never held:
pax extended headers (and GNU long names) applied, header checksums checked, data padding
and the end-of-archive checked (``s3bundler verify``).

:meth:`TarScanner.members` yields each member once its data has been read; where the stream
cannot be read on (cut short, a bad header) it raises :class:`Unreadable` naming the byte.
After the last member, :attr:`TarScanner.end_problems` says what is wrong with the end of the
archive, if anything: the bundler ends an archive as tarfile does, with two zero blocks and
zeros to a whole 10,240-byte record, and nothing after (s3bundler/tarstream.py).
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from s3bundler.checksums import Crc32c
from s3common.sizes import MiB
from s3restore.archive_stream import ByteReader, Unreadable

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
MAX_EXTENDED_HEADER = MiB  # a pax header or GNU long name larger than this is not ours
REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE)
NO_DATA = (
    tarfile.LNKTYPE,
    tarfile.SYMTYPE,
    tarfile.DIRTYPE,
    tarfile.FIFOTYPE,
    tarfile.CHRTYPE,
    tarfile.BLKTYPE,
)


@dataclass
class TarMember:
    """A member as the archive has it: where, what its headers say, and its data's hashes."""

    header_offset: int  # first byte of its first header (pax header included)
    data_offset: int
    name: str
    size: int
    type: bytes
    mtime: int
    pax: dict[str, str]
    md5: str = ""
    crc32c: str = ""
    problems: list[str] = field(default_factory=list)  # found in the member's own bytes


class TarScanner:
    def __init__(self, reader: ByteReader) -> None:
        self._reader = reader
        self.end_problems: list[str] = []
        self.end_offset: int | None = None  # where the end-of-archive blocks start
        self.member_start = 0  # where the member being read (or the end) starts

    def members(self) -> Iterator[TarMember]:
        while True:
            member = self._next_member()
            if member is None:
                return
            self._read_data(member)
            yield member

    def _next_member(self) -> TarMember | None:
        start = self.member_start = self._reader.position
        pax: dict[str, str] = {}
        long_name = ""
        problems: list[str] = []
        while True:
            at = self._reader.position
            block = self._reader.read(BLOCK)
            if not block and at == start:
                raise Unreadable(f"the archive ends at byte {at}, without end-of-archive")
            if at == start and block.count(0) == len(block):  # the end (or what is left of it)
                self.end_offset = at
                self._check_end(len(block))
                return None
            if len(block) < BLOCK:
                raise Unreadable(f"the archive ends at byte {at + len(block)}, in a header")
            try:
                info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            except tarfile.HeaderError as exc:
                raise Unreadable(f"bad tar header at byte {at}: {exc}") from None
            if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME):
                data = self._extended(info, at)
                if info.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
                else:
                    records = parse_pax(data, at)
                    if info.type == tarfile.XGLTYPE:
                        problems.append(f"global pax header at byte {at}")
                    pax.update(records)
                continue
            return _member(info, start, self._reader.position, pax, long_name, problems)

    def _extended(self, info: tarfile.TarInfo, at: int) -> bytes:
        if info.size > MAX_EXTENDED_HEADER:
            raise Unreadable(f"extended header at byte {at} claims {info.size} bytes")
        data = self._reader.read(info.size + (-info.size % BLOCK))
        if len(data) < info.size + (-info.size % BLOCK):
            raise Unreadable(f"the archive ends at byte {self._reader.position}, in a header")
        return data[: info.size]

    def _read_data(self, m: TarMember) -> None:
        md5, crc, got = hashlib.md5(), Crc32c(), 0
        for chunk in self._reader.chunks(m.size):
            md5.update(chunk)
            crc.update(chunk)
            got += len(chunk)
        if got < m.size:
            raise Unreadable(
                f"the archive ends at byte {self._reader.position}, in the data of member "
                f"{m.name} ({got} of {m.size} bytes)"
            )
        m.md5, m.crc32c = md5.hexdigest(), crc.b64digest()
        pad = -m.size % BLOCK
        padding = self._reader.read(pad)
        if len(padding) < pad:
            raise Unreadable(
                f"the archive ends at byte {self._reader.position}, in the padding of member "
                f"{m.name}"
            )
        if padding.count(0) != pad:
            at = m.data_offset + m.size
            m.problems.append(f"non-zero bytes in the padding after its data (byte {at})")

    def _check_end(self, first: int) -> None:
        """After the first zero block (``first`` bytes of it read): a second one, zeros to a
        whole record, nothing more."""
        assert self.end_offset is not None
        expected = self.end_offset + 2 * BLOCK
        expected += -expected % RECORD
        length = self.end_offset + first
        nonzero_at = None
        for chunk in self._reader.chunks(1 << 62):
            if nonzero_at is None and chunk.count(0) != len(chunk):
                nonzero_at = length + next(i for i, b in enumerate(chunk) if b)
            length += len(chunk)
        if length < self.end_offset + 2 * BLOCK:
            self.end_problems.append(
                f"the archive ends at byte {length}, inside its end-of-archive blocks"
            )
        elif nonzero_at is not None:
            self.end_problems.append(f"data after the end of the archive, at byte {nonzero_at}")
        elif length != expected:
            self.end_problems.append(
                f"the archive is {length} bytes, its end-of-archive ends at byte {expected}"
            )


def _member(
    info: tarfile.TarInfo,
    start: int,
    data_offset: int,
    pax: dict[str, str],
    long_name: str,
    problems: list[str],
) -> TarMember:
    name = pax.get("path") or long_name or info.name
    try:
        size = int(pax["size"]) if "size" in pax else info.size
        mtime = int(float(pax["mtime"])) if "mtime" in pax else int(info.mtime)
    except ValueError as exc:
        raise Unreadable(f"bad pax record in the headers at byte {start}: {exc}") from None
    if info.type in NO_DATA:
        size = 0
    return TarMember(start, data_offset, name, size, info.type, mtime, pax, problems=problems)


def parse_pax(data: bytes, at: int) -> dict[str, str]:
    """The records ``"<length> <key>=<value>\\n"`` of a pax extended header."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            length = 0
        record = data[pos : pos + length]
        if space < 0 or length <= space - pos or len(record) < length or record[-1:] != b"\n":
            raise Unreadable(f"malformed pax header at byte {at}")
        key, eq, value = record[space - pos + 1 : -1].partition(b"=")
        if not eq:
            raise Unreadable(f"malformed pax record at byte {at}: {record[:80]!r}")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records
