"""An archive read front to back, once, in bounded memory (``s3bundler verify``).

- :class:`ArchiveBody`: the archive's bytes in chunks from one GET. A connection that breaks
  mid-body is resumed with a ranged GET from the byte where it stopped, pinned to the HEAD's
  ETag (``If-Match``): a few GETs in sequence, never the same byte twice, never two versions
  of the archive. It gives up after RESUMES breaks in a row with no byte read between them.
- :class:`Gunzip`: the decompressed bytes of a ``.tar.gz`` (concatenated gzip members), with
  the compressed offset of each gzip member and where its output starts (``regions``), so the
  index's ``gz_offset``/``gz_skip`` can be checked.
- :class:`ByteReader`: exact reads (headers) and chunked reads (data) of the tar stream.

Data that cannot be read on (a gzip error, a stream cut short) is :class:`Unreadable`.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from s3common.aws import AWS_ERRORS, NO_ANSWER_ERRORS, describe, error_code, read_failed
from s3common.errors import DownloadError
from s3common.sizes import MiB
from s3restore.archives import ArchiveHead

CHUNK = MiB
RESUMES = 5  # ranged GETs in a row that read nothing before a read is given up


class Unreadable(Exception):
    """The archive's bytes cannot be read on from here (corrupt gzip data, cut short)."""


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


class Gunzip:
    """The decompressed bytes of concatenated gzip members. ``regions``: (compressed offset,
    output offset) of each gzip member met so far, in order."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.regions: list[tuple[int, int]] = []
        self._starts: list[int] = []  # output offsets of the regions, for bisect
        self.compressed = 0  # compressed bytes consumed
        self.produced = 0

    def region_of(self, position: int) -> tuple[int, int]:
        """(compressed offset, output offset) of the gzip member whose output holds
        ``position`` (a position already produced)."""
        return self.regions[bisect.bisect_right(self._starts, position) - 1]

    def __iter__(self) -> Iterator[bytes]:
        decomp: Any = None
        for chunk in self._chunks:
            data = chunk
            while data:
                if decomp is None:
                    self.regions.append((self.compressed, self.produced))
                    self._starts.append(self.produced)
                    decomp = zlib.decompressobj(wbits=31)
                out, rest = self._inflate(decomp, data)
                self.compressed += len(data) - len(rest)
                data = rest
                if decomp.eof:
                    decomp = None
                if out:
                    self.produced += len(out)
                    yield out
            while decomp is not None and not decomp.eof and decomp.unconsumed_tail == b"":
                out, _ = self._inflate(decomp, b"")  # output held back by the size limit
                if not out:
                    break
                self.produced += len(out)
                yield out
        if decomp is not None:
            start = self.regions[-1][0]
            raise Unreadable(
                f"the gzip member at compressed byte {start} is cut short at byte "
                f"{self.compressed} (archive truncated?)"
            )

    def _inflate(self, decomp: Any, data: bytes) -> tuple[bytes, bytes]:
        """At most CHUNK bytes of output, and the input not consumed."""
        try:
            out = decomp.decompress(data, CHUNK)
        except zlib.error as exc:
            start = self.regions[-1][0]
            raise Unreadable(
                f"gzip data corrupt in the gzip member at compressed byte {start}: {exc}"
            ) from None
        return out, (decomp.unused_data if decomp.eof else decomp.unconsumed_tail)


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
