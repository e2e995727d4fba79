"""TarStream and its compression layer (frames.FrameWriter, gzip or zstd): what they write must
read back byte-identically with Python's tarfile, GNU tar, bsdtar and the zstd CLI, and the
recorded offsets must point at the right bytes. (test_frames.py: the frame pipeline itself.)"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import random
import shutil
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest
import zstandard

from s3bundler.codecs import CODECS
from s3bundler.frames import FRAME_LIMIT, Compression, FrameWriter
from s3bundler.tarstream import BLOCK, RECORD, MemberPosition, TarStream

MTIME = 1_700_000_000

LONG_NAME = "bkt/" + "/".join(["d" * 200, "é" * 120, "e" * 200, "f" * 250]) + "/long.bin"
assert len(LONG_NAME.encode()) > 900

_rng = random.Random(1234)

MEMBERS: list[tuple[str, bytes]] = [
    ("bkt/plain.txt", b"hello world\n"),
    ("bkt/with space/file name.txt", bytes(_rng.getrandbits(8) for _ in range(511))),
    ("bkt/ünïcödé/日本語 ファイル.txt", "データ".encode() * 100),
    (LONG_NAME, bytes(_rng.getrandbits(8) for _ in range(513))),
    ("bkt/new\nline", b"x" * 512),
    ("bkt/comma,and\"double'single.csv", b'a,b,"c"\n'),
    ("bkt/empty", b""),
    ("bkt/big.bin", bytes(_rng.getrandbits(8) for _ in range(20_000))),
]


def write_archive(
    members: list[tuple[str, bytes]],
    compress: bool | str = False,
    member_target: int = 1 << 20,
    chunk: int = 97,
    limit: int = FRAME_LIMIT,
) -> tuple[bytes, list[MemberPosition]]:
    """``compress``: a codec's name (True: gzip). Positions come back with their frames'
    compressed offsets filled in, as the archive writer fills them in."""
    out = io.BytesIO()
    codec = CODECS["gzip" if compress is True else compress] if compress else None
    frames = (
        FrameWriter(out, Compression(codec, 1, 2, member_target, max(limit, member_target)))
        if codec is not None
        else None
    )
    tar = TarStream(out, frames)
    positions = []
    for name, data in members:
        positions.append(tar.begin(name, len(data), MTIME))
        for i in range(0, len(data), chunk):  # odd-sized writes
            tar.write(data[i : i + chunk])
        tar.end()
    tar.close()
    if frames is not None:
        positions = [
            dataclasses.replace(p, gz_offset=frames.offset(p.frame or 0), frame=None)
            for p in positions
        ]
    return out.getvalue(), positions


def read_with_tarfile(raw: bytes, mode: str) -> list[tuple[str, int, bytes]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode=mode) as tf:
        for m in tf:
            assert m.isfile()
            fobj = tf.extractfile(m)
            assert fobj is not None
            out.append((m.name, int(m.mtime), fobj.read()))
    return out


def extracted_files(root: Path) -> dict[str, bytes]:
    files = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def gnu_tar_extract(archive: Path, dest: Path, flags: str) -> dict[str, bytes]:
    dest.mkdir()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(
        ["tar", flags, str(archive), "-C", str(dest)], capture_output=True, env=env
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return extracted_files(dest)


def decompress_from(raw: bytes, offset: int, skip: int, size: int, codec: str = "gzip") -> bytes:
    """Decompress ``raw[offset:]`` across concatenated frames (gzip members or zstd frames), as
    a reader of a ranged GET would, skip ``skip`` bytes and return the next ``size`` bytes."""
    need = skip + size
    out = bytearray()
    data = raw[offset:]
    while data and len(out) < need:
        d = (
            zlib.decompressobj(wbits=31)
            if codec == "gzip"
            else zstandard.ZstdDecompressor().decompressobj()
        )
        out += d.decompress(data)
        data = d.unused_data
    assert len(out) >= need, "stream ended before the member's data"
    return bytes(out[skip:need])


def unzstd(raw: bytes) -> bytes:
    """A whole .tar.zst decompressed as Python can: across frames, skippable ones skipped."""
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw), read_across_frames=True)
    return reader.read()


def tool(name: str) -> str:
    """The path of a command-line tool; CI installs them all (.ci/run), so there it fails."""
    binary = shutil.which(name)
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (CI installs it: .ci/run)")
        pytest.skip(f"{name} not installed")
    return binary


needs_gnu_tar = pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar not installed")


# --- reading back ------------------------------------------------------------------------------


def test_plain_reads_back_with_tarfile():
    raw, _ = write_archive(MEMBERS)
    assert read_with_tarfile(raw, "r:") == [(n, MTIME, d) for n, d in MEMBERS]


def test_gzip_reads_back_with_tarfile_single_and_many_gzip_members():
    for target in (1 << 20, 1000):
        raw, _ = write_archive(MEMBERS, compress=True, member_target=target)
        assert raw[:2] == b"\x1f\x8b"
        assert read_with_tarfile(raw, "r:gz") == [(n, MTIME, d) for n, d in MEMBERS]


def test_gzip_stream_decompresses_to_the_plain_stream():
    plain, plain_pos = write_archive(MEMBERS)
    packed, gz_pos = write_archive(MEMBERS, compress=True, member_target=1000)
    assert gzip.decompress(packed) == plain
    assert [(p.header_offset, p.data_offset) for p in plain_pos] == [
        (p.header_offset, p.data_offset) for p in gz_pos
    ]


@needs_gnu_tar
def test_plain_reads_back_with_gnu_tar(tmp_path):
    raw, _ = write_archive(MEMBERS)
    archive = tmp_path / "a.tar"
    archive.write_bytes(raw)
    files = gnu_tar_extract(archive, tmp_path / "out", "-xf")
    assert files == dict(MEMBERS)


@needs_gnu_tar
def test_gzip_with_many_gzip_members_reads_back_with_gnu_tar(tmp_path):
    raw, positions = write_archive(MEMBERS, compress=True, member_target=1000)
    assert len({p.gz_offset for p in positions}) > 1  # really several gzip members
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(raw)
    files = gnu_tar_extract(archive, tmp_path / "out", "-xzf")
    assert files == dict(MEMBERS)


def test_zstd_reads_back_with_python_in_one_frame_and_many():
    plain, _ = write_archive(MEMBERS)
    for target in (1 << 20, 1000):
        raw, positions = write_archive(MEMBERS, compress="zstd", member_target=target)
        assert raw[:4] == (0xFD2FB528).to_bytes(4, "little")
        assert unzstd(raw) == plain
        assert read_with_tarfile(unzstd(raw), "r:") == [(n, MTIME, d) for n, d in MEMBERS]
        assert (len({p.gz_offset for p in positions}) > 1) == (target == 1000)


@pytest.mark.parametrize("how", ["tar --zstd", "zstd -d | tar", "bsdtar"])
def test_zstd_with_many_frames_and_its_seek_table_reads_back_with_the_tools(how, tmp_path):
    raw, positions = write_archive(MEMBERS, compress="zstd", member_target=1000)
    assert len({p.gz_offset for p in positions}) > 1  # really several frames
    archive = tmp_path / "a.tar.zst"
    archive.write_bytes(raw)
    dest = tmp_path / "out"
    dest.mkdir()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    if how == "tar --zstd":
        tool("zstd")  # GNU tar runs it
        cmd = [tool("tar"), "--zstd", "-xf", str(archive), "-C", str(dest)]
    elif how == "bsdtar":
        cmd = [tool("bsdtar"), "-xf", str(archive), "-C", str(dest)]
    else:
        unpacked = subprocess.run([tool("zstd"), "-d", "-c", str(archive)], capture_output=True)
        assert unpacked.returncode == 0, unpacked.stderr.decode(errors="replace")
        (tmp_path / "a.tar").write_bytes(unpacked.stdout)
        cmd = [tool("tar"), "-xf", str(tmp_path / "a.tar"), "-C", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, env=env)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert extracted_files(dest) == dict(MEMBERS)


def test_zstd_cli_checks_every_frame():
    raw, _ = write_archive(MEMBERS, compress="zstd", member_target=1000)
    assert subprocess.run([tool("zstd"), "-t", "-q"], input=raw).returncode == 0
    damaged = bytearray(raw)
    damaged[len(raw) // 3] ^= 0x40
    assert subprocess.run([tool("zstd"), "-t", "-q"], input=bytes(damaged)).returncode != 0


@pytest.mark.parametrize("target", [1 << 20, 1000, 1])
def test_zstd_offsets_restore_each_member(target):
    raw, positions = write_archive(MEMBERS, compress="zstd", member_target=target)
    for (_name, data), pos in zip(MEMBERS, positions, strict=True):
        assert pos.gz_offset is not None and pos.gz_skip is not None
        assert raw[pos.gz_offset : pos.gz_offset + 4] == (0xFD2FB528).to_bytes(4, "little")
        assert decompress_from(raw, pos.gz_offset, pos.gz_skip, len(data), "zstd") == data


@needs_gnu_tar
def test_gnu_tar_lists_mtime(tmp_path):
    raw, _ = write_archive([("bkt/a", b"1")])
    archive = tmp_path / "a.tar"
    archive.write_bytes(raw)
    gnu_tar_extract(archive, tmp_path / "out", "-xf")
    assert int((tmp_path / "out" / "bkt" / "a").stat().st_mtime) == MTIME


def test_long_and_unicode_names_use_pax_path_records():
    raw, _ = write_archive(MEMBERS)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        by_name = {m.name: m for m in tf}
    assert by_name[LONG_NAME].pax_headers["path"] == LONG_NAME
    assert by_name["bkt/ünïcödé/日本語 ファイル.txt"].pax_headers["path"].startswith("bkt/ü")


def test_extra_pax_records_are_kept():
    out = io.BytesIO()
    tar = TarStream(out)
    tar.begin("bkt/a%2E%2E", 1, MTIME, pax={"S3BUNDLER.key": "a/..", "comment": "ß,\n"})
    tar.write(b"z")
    tar.end()
    tar.close()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:") as tf:
        (member,) = tf.getmembers()
    assert member.pax_headers["S3BUNDLER.key"] == "a/.."
    assert member.pax_headers["comment"] == "ß,\n"


# --- offsets -----------------------------------------------------------------------------------


def test_data_offset_points_at_member_data():
    raw, positions = write_archive(MEMBERS)
    for (_name, data), pos in zip(MEMBERS, positions, strict=True):
        assert pos.gz_offset is None and pos.gz_skip is None
        assert pos.data_offset % BLOCK == 0
        assert raw[pos.data_offset : pos.data_offset + len(data)] == data


def test_header_offset_points_at_header():
    raw, positions = write_archive(MEMBERS)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        members = tf.getmembers()
    assert [m.offset for m in members] == [p.header_offset for p in positions]
    assert [m.offset_data for m in members] == [p.data_offset for p in positions]
    for pos in positions:
        # A valid header block (checksum verified by frombuf) sits at header_offset.
        tarfile.TarInfo.frombuf(
            raw[pos.header_offset : pos.header_offset + BLOCK], "utf-8", "surrogateescape"
        )
    # Members follow each other: data padded to whole blocks, then the next header.
    for (_n, data), pos, nxt in zip(MEMBERS, positions, positions[1:], strict=False):
        assert nxt.header_offset == pos.data_offset + -(-len(data) // BLOCK) * BLOCK


def test_gzip_offsets_restore_each_member():
    for target in (1 << 20, 1000, 1):
        raw, positions = write_archive(MEMBERS, compress=True, member_target=target)
        for (_name, data), pos in zip(MEMBERS, positions, strict=True):
            assert pos.gz_offset is not None and pos.gz_skip is not None
            assert raw[pos.gz_offset : pos.gz_offset + 2] == b"\x1f\x8b"
            assert decompress_from(raw, pos.gz_offset, pos.gz_skip, len(data)) == data


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_frame_target_starts_new_frames_only_at_tar_boundaries(codec):
    _raw, positions = write_archive(MEMBERS, compress=codec, member_target=1)
    # target 1 byte: every tar member opens a new frame, whose header comes first
    offsets = [p.gz_offset for p in positions]
    assert offsets == sorted(set(offsets))
    _plain, plain_pos = write_archive(MEMBERS)
    for pos, ppos in zip(positions, plain_pos, strict=True):
        assert pos.gz_skip == ppos.data_offset - ppos.header_offset


# --- misuse and end of archive -----------------------------------------------------------------


def test_writing_more_than_declared_raises():
    tar = TarStream(io.BytesIO())
    tar.begin("bkt/a", 3, MTIME)
    tar.write(b"ab")
    with pytest.raises(ValueError, match="exceeds"):
        tar.write(b"cd")


def test_short_member_raises_on_end():
    tar = TarStream(io.BytesIO())
    tar.begin("bkt/a", 3, MTIME)
    tar.write(b"ab")
    with pytest.raises(ValueError, match="short by 1"):
        tar.end()


def test_begin_and_close_while_member_open_raise():
    tar = TarStream(io.BytesIO())
    tar.begin("bkt/a", 1, MTIME)
    with pytest.raises(RuntimeError):
        tar.begin("bkt/b", 1, MTIME)
    with pytest.raises(RuntimeError):
        tar.close()


@pytest.mark.parametrize("sizes", [[], [0], [1], [10240 - 1536], [5000, 7000, 1]])
def test_close_pads_to_whole_records(sizes):
    members = [(f"bkt/{i}", b"q" * n) for i, n in enumerate(sizes)]
    raw, positions = write_archive(members)
    assert len(raw) % RECORD == 0
    end = max(
        (p.data_offset + len(d) for p, (_n, d) in zip(positions, members, strict=True)), default=0
    )
    end = -(-end // BLOCK) * BLOCK
    assert len(raw) >= end + 2 * BLOCK  # the two end-of-archive blocks
    assert not any(raw[end:])  # nothing but zeros after the last member
    packed, _gz = write_archive(members, compress=True)
    assert len(gzip.decompress(packed)) % RECORD == 0
    packed, _zst = write_archive(members, compress="zstd")
    assert len(unzstd(packed)) % RECORD == 0


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_offset_tracks_uncompressed_bytes(codec):
    out = io.BytesIO()
    frames = FrameWriter(out, Compression(CODECS[codec]))
    tar = TarStream(out, frames)
    tar.begin("bkt/a", 700, MTIME)
    tar.write(b"a" * 700)
    tar.end()
    tar.close()
    plain = gzip.decompress(out.getvalue()) if codec == "gzip" else unzstd(out.getvalue())
    assert len(plain) == tar.offset
    assert frames.compressed == len(out.getvalue())
