"""A streaming POSIX pax tar writer that never seeks.

It writes headers, data and padding to any object with ``write(bytes)`` and tracks offsets in
the uncompressed stream; it knows nothing of S3 or parts. With compression the stream goes
through a :class:`Frames` layer (frames.py), told of each member boundary so that it can start
a new independent frame there; each member's position then names the frame holding its header
and the bytes before it in that frame (the index's ``gz_offset``/``gz_skip``, see index.py).
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from typing import Protocol

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 10240
_ZEROS = bytes(RECORD)


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


class Frames(Protocol):
    """The compression layer (frames.FrameWriter): told of each tar member boundary."""

    def boundary(self) -> tuple[int, int]: ...

    def write(self, data: bytes, /) -> object: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class MemberPosition:
    header_offset: int
    data_offset: int
    gz_offset: int | None = None  # compressed offset of the frame holding the header
    gz_skip: int | None = None  # uncompressed bytes from that frame's start to the data
    frame: int | None = None  # that frame's number, while its offset is not known yet


class TarStream:
    """Write pax tar members one after another: ``begin()``, ``write()`` the data, ``end()``."""

    def __init__(self, out: Writable, frames: Frames | None = None) -> None:
        self._out: Writable = frames if frames is not None else out
        self._frames = frames
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
        at = self._frames.boundary() if self._frames is not None else None
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
        if at is None:
            return MemberPosition(header_offset, self.offset)
        frame, before = at
        return MemberPosition(header_offset, self.offset, None, before + len(header), frame)

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
        if self._frames is not None:
            self._frames.close()
