"""The compression layer of an archive: the tar stream cut into independent frames, compressed
on a small thread pool, written in order (codecs.py has the format).

- A frame ends at a tar member boundary once it holds ``target`` bytes (1 MiB), or inside a
  member's data once it holds ``limit`` bytes (2 MiB): a member's header is always in a frame
  that held less than ``target`` bytes before it, so restoring one object decompresses less
  than ``target`` bytes before the object's own.
- Frames are compressed by ``threads`` threads at once (zlib and libzstd release the GIL) and
  written to ``out`` in order by the thread that writes the tar stream, so ``out`` needs no
  lock. At most ``2 * threads`` frames are in flight: memory is bounded by that many frames.
- A frame's compressed offset is known once every frame before it is written: :meth:`offset`
  says it (None until then), so the archive writer holds a member's index row until then.
- A ``.tar.zst`` ends with the seek table (its skippable frame) after the last frame.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from s3bundler.codecs import ZSTD, Codec, SeekEntry, frame_checksum, frame_compressor, seek_table
from s3bundler.tarstream import Writable
from s3common.sizes import MiB

FRAME_TARGET = MiB
FRAME_LIMIT = 2 * MiB
MAX_THREADS = 4


def default_threads() -> int:
    """The CPUs this process may run on, at most MAX_THREADS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cpus))


@dataclass(frozen=True)
class Compression:
    """How an archive is compressed: the codec, its level, and the threads that compress."""

    codec: Codec
    level: int = 1
    threads: int = 0  # 0: default_threads()
    target: int = FRAME_TARGET
    limit: int = FRAME_LIMIT


class FrameWriter:
    """``write()`` takes the tar stream; ``boundary()`` is called at each tar member boundary;
    ``close()`` writes the last frame (and a zstd archive's seek table)."""

    def __init__(self, out: Writable, compression: Compression) -> None:
        if not 0 < compression.target <= compression.limit:
            raise ValueError("frame target must be positive and at most the limit")
        self._out = out
        self._codec = compression.codec
        self._target, self._limit = compression.target, compression.limit
        self._compress = frame_compressor(compression.codec, compression.level)
        threads = compression.threads or default_threads()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="compress")
        self._max_in_flight = 2 * threads
        self._in_flight: deque[tuple[Future[bytes], int]] = deque()  # (frame, its input size)
        self._parts: list[memoryview] = []  # the current frame's input
        self._size = 0  # bytes in the current frame
        self._frame = 0  # number of the current frame
        self._offsets = [0]  # compressed offset of each frame written, then of the next one
        self._entries: list[SeekEntry] = []
        self.compressed = 0  # bytes written to out

    def boundary(self) -> tuple[int, int]:
        """At a tar member boundary: end the frame if it holds ``target`` bytes. Returns
        (number of the frame the next byte goes to, bytes already in it)."""
        if self._size >= self._target:
            self._submit()
        self._write_done()
        return self._frame, self._size

    def write(self, data: bytes) -> None:
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        while view:
            piece = view[: self._limit - self._size]
            self._parts.append(piece)
            self._size += len(piece)
            view = view[len(piece) :]
            if self._size >= self._limit:
                self._submit()

    def offset(self, frame: int) -> int | None:
        """Compressed offset of frame number ``frame`` once every frame before it is written."""
        return self._offsets[frame] if frame < len(self._offsets) else None

    def close(self) -> None:
        """The last frame, every frame written, then (zstd) the seek table."""
        try:
            if self._size:
                self._submit()
            while self._in_flight:
                self._write_head()
            if self._codec is ZSTD:
                self._emit(seek_table(self._entries))
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop the threads (frames not yet compressed are dropped); closing calls it too."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- the pipeline -----------------------------------------------------------------------
    def _submit(self) -> None:
        parts, size = self._parts, self._size
        self._parts, self._size = [], 0
        self._frame += 1
        self._write_done()
        while len(self._in_flight) >= self._max_in_flight:
            self._write_head()
        future = self._pool.submit(self._compress_parts, parts)
        self._in_flight.append((future, size))

    def _compress_parts(self, parts: list[memoryview]) -> bytes:
        return self._compress(b"".join(parts))

    def _write_done(self) -> None:
        while self._in_flight and self._in_flight[0][0].done():
            self._write_head()

    def _write_head(self) -> None:
        future, size = self._in_flight[0]
        frame = future.result()
        self._in_flight.popleft()
        checksum = frame_checksum(frame) if self._codec is ZSTD else None
        self._entries.append(SeekEntry(len(frame), size, checksum))
        self._emit(frame)
        self._offsets.append(self.compressed)

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self.compressed += len(data)
