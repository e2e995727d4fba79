"""Archive compression: the codecs, one frame compressed, and the zstd seek table -- the one
definition of the compressed archive format, used by the bundler and by the readers
(docs/formats.md, "Compressed archives").

A compressed archive is a series of independent *frames* (gzip members for ``.tar.gz``, zstd
frames for ``.tar.zst``); each decompresses on its own, so a reader can start at any frame's
compressed offset (the index's ``gz_offset``). A ``.tar.zst`` ends with the zstd seekable
format's seek table: a skippable frame listing every frame's compressed size, decompressed size
and checksum (facebook/zstd, contrib/seekable_format/zstd_seekable_compression_format.md), so
other tools can seek in it too. zstd and tar skip the skippable frame.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import zstandard

PLAIN_EXTENSION = ".tar"


@dataclass(frozen=True)
class Codec:
    name: str  # as --compress takes it
    extension: str  # of the archive key
    content_type: str  # of the archive object
    levels: range  # accepted --compress-level values
    frame_noun: str  # what its frames are called in messages


GZIP = Codec("gzip", ".tar.gz", "application/gzip", range(1, 10), "gzip member")
ZSTD = Codec("zstd", ".tar.zst", "application/zstd", range(1, 20), "zstd frame")
CODECS = {c.name: c for c in (GZIP, ZSTD)}
#: Every archive key ending, the compressed ones first (".tar" ends none of them).
ARCHIVE_EXTENSIONS = (GZIP.extension, ZSTD.extension, PLAIN_EXTENSION)


def codec_named(name: str) -> Codec | None:
    """The codec ``--compress`` names; None for "" (no compression). KeyError otherwise."""
    return CODECS[name] if name else None


def codec_of(key: str) -> Codec | None:
    """The codec an archive key's extension says; None for ``.tar`` (or anything else)."""
    return next((c for c in CODECS.values() if key.endswith(c.extension)), None)


def archive_extension(codec: Codec | None) -> str:
    return codec.extension if codec is not None else PLAIN_EXTENSION


def frame_compressor(codec: Codec, level: int) -> Callable[[bytes], bytes]:
    """A function that compresses its argument into one independent frame, callable from
    several threads at once (the C libraries release the GIL while they work). zstd frames
    carry their content size and checksum (the low 32 bits of XXH64, which the seek table
    repeats)."""
    if codec is GZIP:

        def gzip_frame(data: bytes) -> bytes:
            comp = zlib.compressobj(level, zlib.DEFLATED, 31)
            return comp.compress(data) + comp.flush()

        return gzip_frame
    local = threading.local()

    def zstd_frame(data: bytes) -> bytes:
        comp = getattr(local, "comp", None)
        if comp is None:  # a ZstdCompressor is not to be shared between threads
            comp = local.comp = zstandard.ZstdCompressor(
                level=level, write_checksum=True, write_content_size=True
            )
        return comp.compress(data)

    return zstd_frame


# --- zstd frames and the seek table -------------------------------------------------------------

ZSTD_MAGIC = 0xFD2FB528
SKIPPABLE_MAGIC_MIN, SKIPPABLE_MAGIC_MAX = 0x184D2A50, 0x184D2A5F
SEEK_TABLE_MAGIC = 0x184D2A5E  # the skippable frame's magic number
SEEKABLE_MAGIC = 0x8F92EAB1  # the last 4 bytes of a seekable archive
SEEK_FOOTER = struct.Struct("<IBI")  # number of frames, descriptor, seekable magic
SEEK_ENTRY = struct.Struct("<III")  # compressed size, decompressed size, checksum
CHECKSUM_FLAG = 0x80  # descriptor bit 7: entries carry checksums
RESERVED_BITS = 0x7C  # descriptor bits 6-2: must be 0


@dataclass(frozen=True)
class SeekEntry:
    compressed: int
    decompressed: int
    checksum: bytes | None  # 4 bytes, little-endian, as at the end of a zstd frame


def frame_checksum(frame: bytes) -> bytes | None:
    """A whole zstd frame's content checksum (its last 4 bytes), if it has one."""
    descriptor = frame[4] if len(frame) > 4 else 0
    return bytes(frame[-4:]) if descriptor & 0x04 else None


def seek_table(entries: Sequence[SeekEntry]) -> bytes:
    """The skippable frame that ends a ``.tar.zst``: every frame, with checksums."""
    body = b"".join(
        SEEK_ENTRY.pack(
            e.compressed, e.decompressed, int.from_bytes(e.checksum or bytes(4), "little")
        )
        for e in entries
    )
    body += SEEK_FOOTER.pack(len(entries), CHECKSUM_FLAG, SEEKABLE_MAGIC)
    return struct.pack("<II", SEEK_TABLE_MAGIC, len(body)) + body


def parse_seek_table(payload: bytes) -> list[SeekEntry]:
    """The entries of a seek table from its skippable frame's payload (what follows the magic
    number and the frame size); ValueError naming what is wrong."""
    if len(payload) < SEEK_FOOTER.size:
        raise ValueError(f"{len(payload)} bytes: shorter than its footer")
    count, descriptor, magic = SEEK_FOOTER.unpack_from(payload, len(payload) - SEEK_FOOTER.size)
    if magic != SEEKABLE_MAGIC:
        raise ValueError(f"footer magic {magic:#010x}, not {SEEKABLE_MAGIC:#010x}")
    if descriptor & RESERVED_BITS:
        raise ValueError(f"reserved descriptor bits set ({descriptor:#04x})")
    size = 12 if descriptor & CHECKSUM_FLAG else 8
    if len(payload) != count * size + SEEK_FOOTER.size:
        raise ValueError(f"{count} entries do not fill its {len(payload)} bytes")
    entries = []
    for i in range(count):
        at = i * size
        compressed, decompressed = struct.unpack_from("<II", payload, at)
        checksum = bytes(payload[at + 8 : at + 12]) if size == 12 else None
        entries.append(SeekEntry(compressed, decompressed, checksum))
    return entries
