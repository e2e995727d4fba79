"""The frame pipeline (frames.FrameWriter): frames compressed on several threads come out in
archive order, at most 2 x threads of them in flight, cut where the format says; a .tar.zst's
seek table lists every frame with the checksum zstd itself wrote (checked here against an
independent XXH64)."""

from __future__ import annotations

import dataclasses
import io
import random
import struct
import threading
import time

import pytest
import zstandard

from s3bundler import frames as frames_module
from s3bundler.codecs import (
    GZIP,
    SEEK_TABLE_MAGIC,
    ZSTD,
    Codec,
    SeekEntry,
    frame_compressor,
    parse_seek_table,
    seek_table,
)
from s3bundler.frames import Compression, FrameWriter
from s3bundler.tarstream import MemberPosition, TarStream
from tests.s3bundler.test_tarstream import decompress_from, unzstd

MASK = (1 << 64) - 1
P1, P2, P3, P4, P5 = (
    0x9E3779B185EBCA87,
    0xC2B2AE3D27D4EB4F,
    0x165667B19E3779F9,
    0x85EBCA77C2B2AE63,
    0x27D4EB2F165667C5,
)


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * P2) & MASK, 31) * P1) & MASK


def xxh64(data: bytes) -> int:
    """XXH64 with seed 0, from its specification (slow; for small frames only)."""
    n, i = len(data), 0
    if n >= 32:
        v = [(P1 + P2) & MASK, P2, 0, (-P1) & MASK]
        while i + 32 <= n:
            for j in range(4):
                v[j] = _round(v[j], struct.unpack_from("<Q", data, i + 8 * j)[0])
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & MASK
        for lane in v:
            h = ((h ^ _round(0, lane)) * P1 + P4) & MASK
    else:
        h = P5
    h = (h + n) & MASK
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", data, i)[0]), 27) * P1 + P4) & MASK
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (struct.unpack_from("<I", data, i)[0] * P1 & MASK), 23) * P2 + P3) & MASK
        i += 4
    for byte in data[i:]:
        h = (_rotl(h ^ (byte * P5 & MASK), 11) * P1) & MASK
    h = ((h ^ (h >> 33)) * P2) & MASK
    h = ((h ^ (h >> 29)) * P3) & MASK
    return h ^ (h >> 32)


def test_xxh64_matches_its_reference_values():
    assert xxh64(b"") == 0xEF46DB3751D8E999
    # the checksum libzstd writes at the end of a frame is the low 32 bits of XXH64
    data = bytes(range(256)) * 9 + b"tail"
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(data)
    assert frame[-4:] == (xxh64(data) & 0xFFFFFFFF).to_bytes(4, "little")


def members(rng: random.Random) -> list[tuple[str, bytes]]:
    """Many tiny members and a few big ones (several frames each at the test's limit)."""
    out = [(f"b/tiny-{i:04d}", rng.randbytes(rng.randrange(0, 300))) for i in range(1500)]
    for n, size in ((100, 70_000), (700, 200_000), (1200, 45_000)):
        out.insert(n, (f"b/big-{n}", rng.randbytes(size // 2).hex().encode()))
    return out


def write(
    codec: Codec, items: list[tuple[str, bytes]], threads: int, target: int, limit: int
) -> tuple[bytes, bytes, list[MemberPosition], FrameWriter]:
    """(compressed archive, the same tar uncompressed, positions with offsets, the writer)."""
    plain, out = io.BytesIO(), io.BytesIO()
    frames = FrameWriter(out, Compression(codec, 1, threads, target, limit))
    tar, ref = TarStream(out, frames), TarStream(plain)
    positions = []
    for name, data in items:
        pos = tar.begin(name, len(data), 0)
        ref.begin(name, len(data), 0)
        for i in range(0, len(data), 5000):
            tar.write(data[i : i + 5000])
        ref.write(data)
        tar.end()
        ref.end()
        positions.append(pos)
    tar.close()
    ref.close()
    offsets = [dataclasses.replace(p, gz_offset=frames.offset(p.frame or 0)) for p in positions]
    return out.getvalue(), plain.getvalue(), offsets, frames


@pytest.fixture()
def jittery(monkeypatch):
    """Compression that takes a random while, so frames finish out of order."""
    real = frame_compressor
    rng = random.Random(7)

    def slow(codec: Codec, level: int):
        inner = real(codec, level)

        def compress(data: bytes) -> bytes:
            time.sleep(rng.random() * 0.003)
            return inner(data)

        return compress

    monkeypatch.setattr(frames_module, "frame_compressor", slow)


@pytest.mark.parametrize("codec", [GZIP, ZSTD], ids=["gzip", "zstd"])
def test_frames_compressed_in_parallel_come_out_in_order(codec, jittery):
    items = members(random.Random(3))
    raw, plain, positions, frames = write(codec, items, 4, target=4096, limit=16384)
    whole = unzstd(raw) if codec is ZSTD else __import__("gzip").decompress(raw)
    assert whole == plain
    for (_name, data), pos in zip(items, positions, strict=True):
        assert pos.gz_skip is not None and pos.gz_offset is not None
        assert pos.gz_skip < 4096 + 1536  # less than the target before the member's header
        got = decompress_from(raw, pos.gz_offset, pos.gz_skip, len(data), codec.name)
        assert got == data
    assert frames.offset(len(positions) * 10) is None


def test_frames_end_at_boundaries_past_the_target_and_inside_data_at_the_limit():
    items = members(random.Random(4))
    raw, plain, positions, _ = write(ZSTD, items, 2, target=4096, limit=16384)
    entries = seek_entries(raw)
    assert max(e.decompressed for e in entries) == 16384  # big members are cut at the limit
    starts, at = set(), 0
    for e in entries:
        starts.add(at)
        at += e.decompressed
    headers = {p.header_offset for p in positions}
    for start, e in zip(sorted(starts), entries, strict=True):
        if e.decompressed < 16384 and start + e.decompressed < len(plain):
            assert start + e.decompressed in headers  # a short frame ends at a member boundary


def seek_entries(raw: bytes) -> list[SeekEntry]:
    count = struct.unpack_from("<I", raw, len(raw) - 9)[0]
    size = count * 12 + 9
    magic, length = struct.unpack_from("<II", raw, len(raw) - size - 8)
    assert (magic, length) == (SEEK_TABLE_MAGIC, size)
    return parse_seek_table(raw[-size:])


def test_the_seek_table_lists_every_frame_with_zstds_own_checksum(jittery):
    items = members(random.Random(5))[:300]
    raw, plain, _positions, _ = write(ZSTD, items, 3, target=2048, limit=8192)
    entries = seek_entries(raw)
    assert len(entries) > 20
    at = at_plain = 0
    for e in entries:
        frame = raw[at : at + e.compressed]
        content = plain[at_plain : at_plain + e.decompressed]
        assert zstandard.ZstdDecompressor().decompress(frame) == content
        assert e.checksum == (xxh64(content) & 0xFFFFFFFF).to_bytes(4, "little")
        at += e.compressed
        at_plain += e.decompressed
    assert at_plain == len(plain)
    assert len(raw) - at == 8 + len(entries) * 12 + 9  # only the seek table after the frames


def test_a_seek_table_round_trips_and_a_damaged_one_is_refused():
    entries = [SeekEntry(10, 20, b"abcd"), SeekEntry(1 << 20, 2 << 20, b"\0\0\0\1")]
    table = seek_table(entries)
    assert parse_seek_table(table[8:]) == entries
    for damaged, why in (
        (table[8:-1], "magic"),
        (table[8:-5] + bytes([0x84]) + table[-4:], "reserved"),
        (table[8:12] + table[20:], "entries"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_seek_table(damaged)


def test_frames_in_flight_are_bounded(monkeypatch):
    """A compressor that never finishes: the writer stops taking data after 2 x threads
    frames (memory is bounded by frames in flight x frame size)."""
    release = threading.Event()
    started = []

    def stuck(codec: Codec, level: int):
        def compress(data: bytes) -> bytes:
            started.append(len(data))
            release.wait(10)
            return b"x"

        return compress

    monkeypatch.setattr(frames_module, "frame_compressor", stuck)
    frames = FrameWriter(io.BytesIO(), Compression(GZIP, 1, 2, 1000, 1000))
    fed = []

    def feed() -> None:
        for _ in range(50):
            frames.write(b"y" * 1000)
            fed.append(1)

    writer = threading.Thread(target=feed)
    writer.start()
    time.sleep(0.3)
    assert len(fed) == 4  # 4 frames in flight; the 5th waits for the first
    assert len(started) == 2  # two threads
    release.set()
    writer.join(5)
    assert len(fed) == 50
    frames.shutdown()


def test_a_compression_error_reaches_the_writer_and_stops_the_threads(monkeypatch):
    def broken(codec: Codec, level: int):
        def compress(data: bytes) -> bytes:
            raise MemoryError("no room")

        return compress

    monkeypatch.setattr(frames_module, "frame_compressor", broken)
    frames = FrameWriter(io.BytesIO(), Compression(ZSTD, 1, 2, 100, 100))
    with pytest.raises(MemoryError):  # as soon as the writer looks at the first frame
        frames.write(b"z" * 250)
        frames.close()
    frames.shutdown()  # what the archive writer does on its way out
    assert not [t for t in threading.enumerate() if t.name.startswith("compress")]


@pytest.mark.parametrize("codec", [GZIP, ZSTD], ids=["gzip", "zstd"])
def test_the_archive_does_not_depend_on_the_number_of_threads(codec, jittery):
    items = members(random.Random(6))[:400]
    one, _, pos1, _ = write(codec, items, 1, target=4096, limit=16384)
    four, _, pos4, _ = write(codec, items, 4, target=4096, limit=16384)
    assert one == four and pos1 == pos4
