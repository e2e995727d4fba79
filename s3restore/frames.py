"""Decompressing a compressed archive's frames (s3bundler/codecs.py has the format): gzip
members or zstd frames, one after another, fed as compressed chunks arrive, with the compressed
offset and output offset of every frame, so the index's ``gz_offset``/``gz_skip`` can be found
and checked. A zstd skippable frame (the seek table at the end of a ``.tar.zst``) produces no
output; its payload is kept (:attr:`FrameDecoder.skippable`) for the seek table check.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import zstandard

from s3bundler.codecs import (
    GZIP,
    SEEK_TABLE_MAGIC,
    SKIPPABLE_MAGIC_MAX,
    SKIPPABLE_MAGIC_MIN,
    ZSTD_MAGIC,
    Codec,
    SeekEntry,
    parse_seek_table,
)
from s3common.sizes import MiB

MAX_SEEK_TABLE = 64 * MiB  # a skippable frame kept whole for the check only up to this size


class FrameError(Exception):
    """The compressed data cannot be read on: corrupt, cut short, or not the codec's."""


@dataclass(frozen=True)
class Skippable:
    offset: int  # compressed offset of the frame
    magic: int
    payload: bytes | None  # None: too big to keep


class FrameDecoder:
    """``decompress(data, limit)`` -> (output, input not consumed yet). ``regions``: the
    (compressed offset, output offset) of each data frame begun; ``frames``: each complete
    data frame as a seek table would list it."""

    def __init__(self, codec: Codec, start: int = 0) -> None:
        self.codec = codec
        self.compressed = start  # compressed offset of the next byte to be fed
        self.produced = 0
        self.regions: list[tuple[int, int]] = []
        self.frames: list[SeekEntry] = []
        self.skippable: list[Skippable] = []
        self._dec: Any = None  # the current data frame's decompressor
        self._head = b""  # the first bytes of a zstd frame, until its kind is known
        self._skip: bytearray | None = None  # a skippable frame's payload being read
        self._skip_left = 0
        self._tail = b""  # the last 4 compressed bytes of the current zstd frame
        self._checksummed = False  # the current zstd frame ends with a content checksum

    @property
    def in_frame(self) -> bool:
        """A frame begun and not complete (the data must go on)."""
        return self._dec is not None or bool(self._head) or self._skip_left > 0

    def where(self) -> str:
        start = self.regions[-1][0] if self.regions else self.compressed
        return f"the {self.codec.frame_noun} at compressed byte {start}"

    def decompress(self, data: bytes, limit: int) -> tuple[bytes, bytes]:
        """Output of ``data`` (at most ``limit`` bytes with gzip; at most the rest of one frame
        with zstd), and the part of ``data`` not consumed. ``decompress(b"", limit)`` returns
        output held back by the limit. FrameError when the data is corrupt."""
        if self.codec is GZIP:
            return self._gzip(data, limit)
        if self._skip_left:
            return b"", self._skipping(data)
        if self._dec is None:
            data = self._head + data
            self._head = b""
            if not data:
                return b"", b""
            if len(data) < 8:
                self._head = data
                return b"", b""
            magic, size = struct.unpack_from("<II", data)
            if SKIPPABLE_MAGIC_MIN <= magic <= SKIPPABLE_MAGIC_MAX:
                return b"", self._begin_skippable(magic, size, data)
            if magic != ZSTD_MAGIC:
                raise FrameError(f"no zstd frame at compressed byte {self.compressed}")
            self._checksummed = bool(data[4] & 0x04)  # Content_Checksum_flag
            self._begin(zstandard.ZstdDecompressor().decompressobj())
        return self._zstd(data)

    # -- gzip ---------------------------------------------------------------------------------
    def _gzip(self, data: bytes, limit: int) -> tuple[bytes, bytes]:
        if self._dec is None:
            if not data:
                return b"", b""
            self._begin(zlib.decompressobj(wbits=31))
        dec = self._dec
        try:
            out = dec.decompress(data, limit)
        except zlib.error as exc:
            raise FrameError(f"gzip data corrupt in {self.where()}: {exc}") from None
        rest = dec.unused_data if dec.eof else dec.unconsumed_tail
        self._consumed(data, rest, out)
        if dec.eof:
            self._dec = None
        return out, rest

    # -- zstd ---------------------------------------------------------------------------------
    def _zstd(self, data: bytes) -> tuple[bytes, bytes]:
        dec = self._dec
        try:
            out = dec.decompress(data)
        except zstandard.ZstdError as exc:
            raise FrameError(f"zstd data corrupt in {self.where()}: {exc}") from None
        rest = dec.unused_data if dec.eof else b""
        used = self._consumed(data, rest, out)
        self._tail = (self._tail + data[used - min(used, 4) : used])[-4:]
        if dec.eof:
            start, origin = self.regions[-1]
            size = self.produced - origin
            checksum = self._tail if self._checksummed else None
            self.frames.append(SeekEntry(self.compressed - start, size, checksum))
            self._dec = None
            self._tail = b""
        return out, rest

    def _begin_skippable(self, magic: int, size: int, data: bytes) -> bytes:
        keep = magic == SEEK_TABLE_MAGIC and size <= MAX_SEEK_TABLE
        self.skippable.append(Skippable(self.compressed, magic, None))
        self._skip = bytearray() if keep else None
        self._skip_left = size + 8
        return self._skipping(data)

    def _skipping(self, data: bytes) -> bytes:
        take = data[: self._skip_left]
        self._skip_left -= len(take)
        self.compressed += len(take)
        if self._skip is not None:
            self._skip += take
            if not self._skip_left:
                last = self.skippable[-1]
                payload = bytes(self._skip[8:])
                self.skippable[-1] = Skippable(last.offset, last.magic, payload)
                self._skip = None
        return data[len(take) :]

    # -- both ---------------------------------------------------------------------------------
    def _begin(self, decompressor: Any) -> None:
        self.regions.append((self.compressed, self.produced))
        self._dec = decompressor

    def _consumed(self, data: bytes, rest: bytes, out: bytes) -> int:
        used = len(data) - len(rest)
        self.compressed += used
        self.produced += len(out)
        return used

    def finish(self) -> None:
        """At the end of the data: FrameError if a frame is cut short."""
        if self.in_frame:
            raise FrameError(
                f"{self.where()} is cut short at byte {self.compressed} (archive truncated?)"
            )


def seek_table_problems(decoder: FrameDecoder) -> list[str]:
    """What is wrong with a whole ``.tar.zst``'s seek table, read to its end by ``decoder``:
    it must be the last frame and list every data frame as it was read."""
    last = decoder.skippable[-1] if decoder.skippable else None
    if last is None or last.magic != SEEK_TABLE_MAGIC:
        return ["no seek table at the end of the archive"]
    if decoder.regions and decoder.regions[-1][0] > last.offset:
        return [f"the seek table at compressed byte {last.offset} is not the last frame"]
    if last.payload is None:
        return [f"the seek table at compressed byte {last.offset} is too big to be one"]
    try:
        table = parse_seek_table(last.payload)
    except ValueError as exc:
        return [f"the seek table at compressed byte {last.offset} is unreadable: {exc}"]
    problems = []
    if len(table) != len(decoder.frames):
        problems.append(
            f"the seek table lists {len(table)} frames, the archive has {len(decoder.frames)}"
        )
    for n, (listed, read) in enumerate(zip(table, decoder.frames, strict=False)):
        if listed != read:
            problems.append(f"seek table entry {n}: {_entry(listed)} listed, {_entry(read)} read")
            if len(problems) >= 10:
                break
    return problems


def _entry(e: SeekEntry) -> str:
    checksum = e.checksum.hex() if e.checksum is not None else "-"
    return f"{e.compressed}/{e.decompressed} bytes, checksum {checksum}"
