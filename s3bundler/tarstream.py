"""A streaming POSIX pax tar writer that never seeks, plus the gzip layer for ``-c``.

The tar layer writes headers, data and padding to any object with ``write(bytes)`` and tracks
offsets in the uncompressed stream; it knows nothing of S3 or parts. With compression the
stream goes through :class:`GzipMembers`, which starts a fresh gzip member at a tar member
boundary once the current one has taken ``member_target`` bytes, so a reader can start
decompressing at a recorded compressed offset (see index.py). Concatenated gzip members are
one valid gzip file for GNU tar, bsdtar and Python's tarfile.
"""

from __future__ import annotations

import tarfile
import zlib
from dataclasses import dataclass
from typing import Protocol

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 10240
_ZEROS = bytes(RECORD)


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


class GzipMembers:
    """``write()`` compresses into a series of gzip members written to ``out``."""

    def __init__(self, out: Writable, level: int = 6, member_target: int = 1 << 20) -> None:
        self._out = out
        self._level = level
        self._target = member_target
        self._comp: zlib._Compress | None = None
        self.compressed = 0  # bytes written to out so far
        self._member_start = 0  # compressed offset of the current member
        self._member_in = 0  # uncompressed bytes in the current member

    def _emit(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self.compressed += len(data)

    def _finish_member(self) -> None:
        if self._comp is not None:
            self._emit(self._comp.flush(zlib.Z_FINISH))
            self._comp = None

    def boundary(self) -> tuple[int, int]:
        """Called at a tar member boundary: maybe start a new gzip member. Returns (compressed
        offset of the current gzip member, uncompressed bytes already in it)."""
        if self._comp is None or self._member_in >= self._target:
            self._finish_member()
            self._comp = zlib.compressobj(self._level, zlib.DEFLATED, 31)
            self._member_start = self.compressed
            self._member_in = 0
        return self._member_start, self._member_in

    def write(self, data: bytes) -> None:
        if self._comp is None:
            self.boundary()
        assert self._comp is not None
        self._member_in += len(data)
        self._emit(self._comp.compress(data))

    def close(self) -> None:
        self._finish_member()


@dataclass(frozen=True)
class MemberPosition:
    header_offset: int
    data_offset: int
    gz_offset: int | None = None
    gz_skip: int | None = None


class TarStream:
    """Write pax tar members one after another: ``begin()``, ``write()`` the data, ``end()``."""

    def __init__(self, out: Writable, gzip: GzipMembers | None = None) -> None:
        self._out: Writable = gzip if gzip is not None else out
        self._gzip = gzip
        self.offset = 0  # uncompressed tar stream offset
        self._remaining = 0
        self._size = 0
        self._open = False

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self.offset += len(data)

    def begin(
        self, name: str, size: int, mtime: int, pax: dict[str, str] | None = None
    ) -> MemberPosition:
        if self._open:
            raise RuntimeError("previous tar member not ended")
        gz = self._gzip.boundary() if self._gzip is not None else None
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = mtime
        info.mode = 0o644
        info.type = tarfile.REGTYPE
        if pax:
            info.pax_headers = dict(pax)
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        header_offset = self.offset
        self._write(header)
        self._remaining = self._size = size
        self._open = True
        if gz is None:
            return MemberPosition(header_offset, self.offset)
        gz_offset, gz_in = gz
        return MemberPosition(header_offset, self.offset, gz_offset, gz_in + len(header))

    def write(self, data: bytes) -> None:
        if len(data) > self._remaining:
            raise ValueError(f"member data exceeds its declared size {self._size}")
        self._remaining -= len(data)
        self._write(data)

    def end(self) -> None:
        if not self._open:
            raise RuntimeError("no tar member to end")
        if self._remaining:
            raise ValueError(f"member short by {self._remaining} bytes of {self._size}")
        pad = -self._size % BLOCK
        if pad:
            self._write(_ZEROS[:pad])
        self._open = False

    def close(self) -> None:
        """End-of-archive: two zero blocks, then padding to a whole record, as tarfile does."""
        if self._open:
            raise RuntimeError("tar member not ended")
        self._write(_ZEROS[: 2 * BLOCK])
        pad = -self.offset % RECORD
        if pad:
            self._write(_ZEROS[:pad])
        if self._gzip is not None:
            self._gzip.close()
