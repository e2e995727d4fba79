"""An archive read front to back, once, in bounded memory (``s3bundler verify``).

- :class:`ArchiveBody`: the archive's bytes in chunks from one GET. A connection that breaks
  mid-body is resumed with a ranged GET from the byte where it stopped, pinned to the HEAD's
  ETag (``If-Match``): a few GETs in sequence, never the same byte twice, never two versions
  of the archive. It gives up after RESUMES breaks in a row with no byte read between them.
- :class:`Decompressed`: the decompressed bytes of a ``.tar.gz`` or ``.tar.zst`` (frames.py),
  with the compressed offset of each frame and where its output starts (``regions``), so the
  index's ``gz_offset``/``gz_skip`` can be checked; and a ``.tar.zst``'s seek table checked.
- :class:`ByteReader`: exact reads (headers) and chunked reads (data) of the tar stream.

Data that cannot be read on (corrupt compressed data, a stream cut short) is
:class:`Unreadable`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from s3bundler.codecs import ZSTD, Codec
from s3common.aws import AWS_ERRORS, NO_ANSWER_ERRORS, describe, error_code, read_failed
from s3common.errors import DownloadError
from s3common.sizes import MiB
from s3restore.archives import ArchiveHead
from s3restore.frames import FrameDecoder, FrameError, seek_table_problems

CHUNK = MiB
RESUMES = 5  # ranged GETs in a row that read nothing before a read is given up


class Unreadable(Exception):
    """The archive's bytes cannot be read on from here (corrupt compressed data, cut short)."""


class ArchiveBody:
    """The archive's bytes, in order, from one GET (resumed by ranged GETs if it breaks)."""

    def __init__(
        self, s3: Any, head: ArchiveHead, on_bytes: Callable[[int], object] | None = None
    ) -> None:
        self._s3 = s3
        self._head = head
        self._on_bytes = on_bytes
        self.position = 0  # bytes handed out
        self.gets = 0

    def __iter__(self) -> Iterator[bytes]:
        broken = 0  # breaks in a row with no byte read in between
        while True:
            start = self.position
            body = self._get()
            try:
                for chunk in body.iter_chunks(CHUNK):
                    self.position += len(chunk)
                    if self._on_bytes is not None:
                        self._on_bytes(len(chunk))
                    yield chunk
                return
            except (*AWS_ERRORS, *NO_ANSWER_ERRORS) as exc:
                broken = 1 if self.position > start else broken + 1
                if broken > RESUMES:
                    raise read_failed(self._head.uri, exc) from exc
                if self.position >= self._head.size:
                    return
            finally:
                body.close()

    def _get(self) -> Any:
        uri = self._head.uri
        args: dict[str, Any] = {"Bucket": uri.bucket, "Key": uri.key}
        if self._head.etag:
            args["IfMatch"] = self._head.etag
        if self.position:
            args["Range"] = f"bytes={self.position}-"
        self.gets += 1
        try:
            return self._s3.get_object(**args)["Body"]
        except AWS_ERRORS as exc:
            if error_code(exc) in ("PreconditionFailed", "412"):
                raise DownloadError(
                    f"cannot read {uri}: it changed while being read ({describe(exc)})"
                ) from exc
            raise read_failed(uri, exc) from exc


class Decompressed:
    """The decompressed bytes of a compressed archive's frames (gzip members or zstd frames).
    ``regions``: (compressed offset, output offset) of each frame met so far, in order."""

    def __init__(self, chunks: Iterable[bytes], codec: Codec) -> None:
        self._chunks = chunks
        self._decoder = FrameDecoder(codec)
        self.regions = self._decoder.regions
        self._starts: list[int] = []  # output offsets of the regions, for bisect
        self.codec = codec

    def region_of(self, position: int) -> tuple[int, int]:
        """(compressed offset, output offset) of the frame whose output holds ``position``
        (a position already produced)."""
        self._starts.extend(origin for _, origin in self.regions[len(self._starts) :])
        return self.regions[bisect.bisect_right(self._starts, position) - 1]

    def __iter__(self) -> Iterator[bytes]:
        decoder = self._decoder
        try:
            for chunk in self._chunks:
                data = chunk
                while data:
                    out, data = decoder.decompress(data, CHUNK)
                    if out:
                        yield out
                while decoder.in_frame:  # output held back by the size limit
                    out, _ = decoder.decompress(b"", CHUNK)
                    if not out:
                        break
                    yield out
            decoder.finish()
        except FrameError as exc:
            raise Unreadable(str(exc)) from None

    def problems(self) -> list[str]:
        """Once read to the end: what is wrong beyond the data (a .tar.zst's seek table)."""
        return seek_table_problems(self._decoder) if self.codec is ZSTD else []


class ByteReader:
    """Bytes of an iterator of chunks, read front to back; ``position``: bytes read."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = b""
        self.position = 0

    def _fill(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self._buf = chunk
        return True

    def read(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer only at the end of the stream)."""
        parts = []
        while size:
            if not self._buf and not self._fill():
                break
            piece = self._buf[:size]
            self._buf = self._buf[len(piece) :]
            size -= len(piece)
            parts.append(piece)
        data = b"".join(parts)
        self.position += len(data)
        return data

    def chunks(self, size: int) -> Iterator[bytes]:
        """The next ``size`` bytes as they arrive (fewer only at the end of the stream)."""
        while size:
            if not self._buf and not self._fill():
                return
            piece = self._buf[:size]
            self._buf = self._buf[len(piece) :]
            size -= len(piece)
            self.position += len(piece)
            yield piece
