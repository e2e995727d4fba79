"""The bytes of one planned read of an archive (member_reader.py), consumed front to back by
absolute position: plain, or decompressed from compressed frames.

- :func:`ranged_chunks`: the GET's body in chunks. A compressed read asks for an estimate of
  the bytes it needs (the frames' compressed size is not in the index); should the frames take
  more, the rest is read by another GET, only if it is asked for.
- :class:`PositionedStream`: plain bytes by position (a ``.tar``'s).
- :class:`FrameStream`: the output of frames read from a compressed offset (a ``.tar.gz``'s
  gzip members, a ``.tar.zst``'s zstd frames); :meth:`FrameStream.origin` is where a frame's
  output begins.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from s3bundler.codecs import Codec
from s3common.aws import AWS_ERRORS, NO_ANSWER_ERRORS, error_code, read_failed
from s3common.errors import InputDataError
from s3common.s3uri import S3Uri
from s3common.sizes import MiB
from s3restore.frames import FrameDecoder, FrameError

CHUNK = MiB


class CorruptMember(InputDataError):
    """The bytes read back are not the bytes archived (size, MD5 or CRC32C differ)."""


def ranged_chunks(
    s3: Any, archive: S3Uri, start: int, end: int | None, more: bool = False
) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (inclusive; None: to the end) of the archive, in chunks;
    ``more``: then, if the consumer still asks, the rest of the archive by a second GET."""
    yield from _get_chunks(s3, archive, start, end)
    if more and end is not None:
        yield from _get_chunks(s3, archive, end + 1, None, past_end_ok=True)


def _get_chunks(
    s3: Any, archive: S3Uri, start: int, end: int | None, past_end_ok: bool = False
) -> Iterator[bytes]:
    args: dict[str, Any] = {"Bucket": archive.bucket, "Key": archive.key}
    if start or end is not None:
        args["Range"] = f"bytes={start}-" + ("" if end is None else str(end))
    try:
        body = s3.get_object(**args)["Body"]
    except AWS_ERRORS as exc:
        if past_end_ok and error_code(exc) in ("InvalidRange", "416"):
            return  # nothing after ``start``
        raise read_failed(archive, exc) from exc
    try:
        yield from body.iter_chunks(CHUNK)
    except (*AWS_ERRORS, *NO_ANSWER_ERRORS) as exc:  # a connection broken mid-body
        raise read_failed(archive, exc) from exc
    finally:
        body.close()


class PositionedStream:
    """Bytes of an iterator, consumed front to back by absolute position."""

    def __init__(self, chunks: Iterator[bytes], archive: S3Uri, position: int = 0) -> None:
        self._chunks = chunks
        self._archive = archive
        self._buf = b""
        self.position = position  # of _buf[0]: where the bytes read start

    def skip_to(self, position: int) -> None:
        while self.position + len(self._buf) < position:
            self.position += len(self._buf)
            self._buf = self._next()
        cut = position - self.position
        if cut < 0:
            raise InputDataError(f"{self._archive}: members out of order at byte {position}")
        self._buf = self._buf[cut:]
        self.position = position

    def chunks(self, size: int) -> Iterator[bytes]:
        """The next ``size`` bytes, as they arrive."""
        while size:
            if not self._buf:
                self._buf = self._next()
            piece = self._buf[:size]
            self._buf = self._buf[len(piece) :]
            self.position += len(piece)
            size -= len(piece)
            yield piece

    def take(self, size: int) -> bytes:
        parts = []
        while len(self._buf) < size:
            parts.append(self._buf)
            size -= len(self._buf)
            self.position += len(self._buf)
            self._buf = self._next()
        parts.append(self._buf[:size])
        self._buf = self._buf[size:]
        self.position += size
        return b"".join(parts)

    def _next(self) -> bytes:
        chunk = next(self._chunks, None)
        if chunk is None:
            raise CorruptMember(f"{self._archive}: ended before the members asked for")
        return chunk


class FrameStream(PositionedStream):
    """The decompressed bytes of concatenated frames read from compressed offset ``start``;
    :meth:`origin` is where a frame's output begins in them."""

    def __init__(self, chunks: Iterator[bytes], archive: S3Uri, start: int, codec: Codec) -> None:
        super().__init__(iter(()), archive)
        self._raw = chunks
        self._pending = b""  # compressed bytes not yet decompressed
        self._decoder = FrameDecoder(codec, start)
        self._origins: dict[int, int] = {}

    def origin(self, gz_offset: int) -> int:
        """Output before that frame's is not wanted (members are asked for in order), so it is
        dropped as the search goes: a far-away region costs no memory."""
        while gz_offset not in self._origins:
            self.position += len(self._buf)
            self._buf = self._next()
        return self._origins[gz_offset]

    def _next(self) -> bytes:
        decoder = self._decoder
        while True:
            if self._pending or decoder.in_frame:  # (in a frame: output may be held back)
                try:
                    out, self._pending = decoder.decompress(self._pending, CHUNK)
                except FrameError as exc:
                    raise CorruptMember(f"{self._archive}: {exc}") from None
                self._origins.update(decoder.regions[len(self._origins) :])
                if out:
                    return out
                if self._pending:
                    continue
            chunk = next(self._raw, None)
            if chunk is None:
                raise CorruptMember(f"{self._archive}: ended before the members asked for")
            self._pending = chunk
