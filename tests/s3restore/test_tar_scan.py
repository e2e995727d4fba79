"""The streaming tar parser behind verify, against archives written by the bundler's own tar
writer (s3bundler/tarstream.py) and by Python's tarfile."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile

import pytest

from s3bundler.checksums import crc32c_b64
from s3bundler.codecs import CODECS
from s3bundler.frames import Compression, FrameWriter
from s3bundler.members import pax_record
from s3bundler.tarstream import TarStream
from s3restore.archive_stream import ByteReader, Decompressed, Unreadable
from s3restore.tar_scan import TarScanner, parse_pax

OBJECTS = [
    ("b/small", b"hello"),
    ("b/empty", b""),
    ("b/" + "long/" * 40 + "name", bytes(range(256)) * 9),  # a pax path record
    ("b/big", b"x" * 300_000),
    ("b/block", b"y" * 1024),
]


def write(gz: bool | str = False, target: int = 1 << 20) -> tuple[bytes, list]:
    """``gz``: a codec's name (True: gzip)."""
    out = io.BytesIO()
    codec = CODECS["gzip" if gz is True else gz] if gz else None
    frames = FrameWriter(out, Compression(codec, 1, 2, target)) if codec is not None else None
    tar = TarStream(out, frames)
    positions = []
    for i, (name, data) in enumerate(OBJECTS):
        positions.append(tar.begin(name, len(data), 1_700_000_000 + i, pax_record("b", name, "")))
        tar.write(data)
        tar.end()
    tar.close()
    if frames is not None:
        positions = [dataclasses.replace(p, gz_offset=frames.offset(p.frame)) for p in positions]
    return out.getvalue(), positions


def scan(data: bytes, gz: bool | str = False, chunk: int = 777):
    pieces = (data[i : i + chunk] for i in range(0, len(data), chunk))
    codec = CODECS["gzip" if gz is True else gz] if gz else None
    frames = Decompressed(pieces, codec) if codec is not None else None
    scanner = TarScanner(ByteReader(frames if frames is not None else pieces))
    members = []
    for m in scanner.members():
        region = frames.region_of(m.header_offset) if frames is not None else None
        members.append((m, region))
    return members, scanner


def test_every_member_is_where_the_writer_put_it_with_its_hashes():
    data, positions = write()
    members, scanner = scan(data)
    assert scanner.end_problems == []
    assert len(members) == len(OBJECTS)
    for (m, _), pos, (name, body), i in zip(
        members, positions, OBJECTS, range(len(OBJECTS)), strict=True
    ):
        assert (m.header_offset, m.data_offset) == (pos.header_offset, pos.data_offset)
        assert (m.name, m.size, m.type, m.mtime) == (name, len(body), b"0", 1_700_000_000 + i)
        assert m.md5 == hashlib.md5(body).hexdigest()
        assert m.crc32c == crc32c_b64(body)
        assert m.pax["comment"] == pax_record("b", name, "")["comment"]
        assert m.problems == []


@pytest.mark.parametrize("chunk", [1, 9, 777])
@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_frame_regions_give_the_writers_gz_offset_and_gz_skip(codec, chunk):
    data, positions = write(gz=codec, target=1000)  # a new frame at most boundaries
    members, scanner = scan(data, gz=codec, chunk=chunk)
    assert scanner.end_problems == []
    for (m, (gz_offset, origin)), pos in zip(members, positions, strict=True):
        assert (gz_offset, m.data_offset - origin) == (pos.gz_offset, pos.gz_skip)


@pytest.mark.parametrize("cut", [0, 100, 512, 2000, 5000, 200_000])
def test_a_cut_archive_is_unreadable_at_the_byte_it_ends(cut):
    data, _ = write()
    with pytest.raises(Unreadable, match=f"the archive ends at byte {cut}"):
        scan(data[:cut])


@pytest.mark.parametrize("past_end", [100, 512, 1024, -1])
def test_a_cut_end_of_archive_is_an_end_problem(past_end):
    data, positions = write()
    end = positions[-1].data_offset + 1024  # the last object is 1024 bytes: no padding
    past_end = past_end if past_end > 0 else len(data) - end - 1  # -1: one byte short
    members, scanner = scan(data[: end + past_end])
    assert len(members) == len(OBJECTS)
    assert len(scanner.end_problems) == 1
    assert str(end + past_end) in scanner.end_problems[0]


def test_anything_after_the_end_is_a_problem():
    data, _ = write()
    _, scanner = scan(data + b"\0" * 512)
    assert scanner.end_problems == [
        f"the archive is {len(data) + 512} bytes, its end-of-archive ends at byte {len(data)}"
    ]
    _, scanner = scan(data[:-3] + b"zzz")
    assert scanner.end_problems == [f"data after the end of the archive, at byte {len(data) - 3}"]


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_a_flipped_byte_in_a_compressed_archive_is_unreadable(codec):
    data, _ = write(gz=codec)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x55
    with pytest.raises(Unreadable, match=f"{codec} data corrupt in the {CODECS[codec].frame_noun}"):
        list(Decompressed([bytes(flipped)], CODECS[codec]))
    with pytest.raises(Unreadable, match="cut short"):
        scan(data[: len(data) // 2], gz=codec)


def test_a_bad_header_checksum_is_unreadable():
    data, positions = write()
    bad = bytearray(data)
    bad[positions[3].header_offset + 5] ^= 1  # in the pax header's header block
    with pytest.raises(Unreadable, match=f"bad tar header at byte {positions[3].header_offset}"):
        scan(bytes(bad))


def test_non_zero_padding_is_a_member_problem():
    data, positions = write()
    bad = bytearray(data)
    bad[positions[0].data_offset + 5] = 1  # "hello" is 5 bytes: the next is padding
    members, _ = scan(bytes(bad))
    assert members[0][0].problems == [
        f"non-zero bytes in the padding after its data (byte {positions[0].data_offset + 5})"
    ]


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_archives_written_by_tarfile_scan_too(fmt):
    out = io.BytesIO()
    names = ["d/" + "n" * 150 if fmt != tarfile.USTAR_FORMAT else "d/n", "plain"]
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 3
            tf.addfile(info, io.BytesIO(b"abc"))
        tf.addfile(tarfile.TarInfo("dir/"))  # a directory: not a regular file, no data
    members, scanner = scan(out.getvalue())
    assert [m.name for m, _ in members] == [*names, "dir/"]
    assert [m.size for m, _ in members] == [3, 3, 0]
    assert scanner.end_problems == []


def test_pax_records_are_parsed_exactly():
    record = b'comment=s3bundler {"key": "a\\nb=c"}\n'
    n = len(record) + 2
    while len(str(n)) + 1 + len(record) != n:
        n += 1
    line = str(n).encode() + b" " + record
    assert parse_pax(line, 0) == {"comment": 's3bundler {"key": "a\\nb=c"}'}
    with pytest.raises(Unreadable, match="malformed"):
        parse_pax(b"99 path=x\n", 0)
