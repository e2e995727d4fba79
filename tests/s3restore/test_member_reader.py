"""Reading archived objects back by the index: ranged GETs planned and coalesced, compressed
regions, every object verified."""

from __future__ import annotations

import random

import pytest

from s3bundler.archiver import BundlerConfig, ManifestJob
from s3bundler.index import read_index
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry
from s3restore import member_reader
from s3restore.member_reader import (
    CorruptMember,
    Member,
    fetch,
    fetch_streams,
    plan_reads,
    read_members,
    stream_members,
)
from tests.s3bundler.sources import get_bytes, put_manifest, seed


@pytest.fixture(params=["", "gzip", "zstd"], ids=["tar", "tar.gz", "tar.zst"])
def archived(request, s3, buckets):
    """An archive of 300 objects of mixed sizes: (members by key, sources, compress)."""
    src_b, arch_b, man_b = buckets
    rng = random.Random(5)
    sizes = {f"obj/{i:03d}": rng.choice([0, 1, 700, 5000, 70_000, 300_000]) for i in range(300)}
    src = seed(s3, src_b, sizes, meta_every=10**9, tag_every=10**9)
    entries = [ManifestEntry(src_b, k, v) for k, v in sizes.items()]
    manifest = put_manifest(s3, man_b, "p/r.0.index", entries)
    config = BundlerConfig(archive_bucket=arch_b, compress=request.param)
    result = ManifestJob(s3, config, manifest).run()
    assert result.outputs is not None
    out = result.outputs
    rows = read_index(get_bytes(s3, out.index_uri))
    members = {r.key: Member.from_index(r, out.archive_uri) for r in rows}
    return members, src.data, request.param


class CountingS3:
    def __init__(self, s3) -> None:
        self.s3 = s3
        self.ranges: list[str] = []

    def get_object(self, **kw):
        self.ranges.append(kw.get("Range", "whole"))
        return self.s3.get_object(**kw)


def test_one_member_is_one_ranged_get_of_exactly_its_bytes(s3, archived):
    members, data, compressed = archived
    counting = CountingS3(s3)
    m = next(m for k, m in sorted(members.items()) if k >= "obj/150" and m.size)
    (got,) = list(read_members(counting, [m]))
    assert got == (m, data[m.key])
    assert len(counting.ranges) == 1
    if not compressed:
        assert counting.ranges == [f"bytes={m.offset}-{m.offset + m.size - 1}"]
    else:  # from its frame, less than a frame (1 MiB) and the member, and the frames' overhead
        assert counting.ranges == [f"bytes={m.gz_offset}-{m.compressed_end - 1}"]
        assert m.gz_skip < (1 << 20) + 1536
        span = m.gz_skip + m.size
        slack = {"gzip": 16, "zstd": 144}[m.codec.name] * 1024
        assert m.compressed_end - m.gz_offset == span + span // 128 + slack


def test_frames_that_take_more_than_planned_are_read_on(s3, archived, monkeypatch):
    members, data, compressed = archived
    if not compressed:
        pytest.skip("a .tar read is exact")
    m = next(m for k, m in sorted(members.items()) if k >= "obj/150" and m.size >= 70_000)
    span = m.gz_skip + m.size
    monkeypatch.setitem(member_reader.FRAME_SLACK, m.codec.name, 100 - span - span // 128)
    counting = CountingS3(s3)
    (got,) = list(read_members(counting, [m]))
    assert got == (m, data[m.key])
    end = m.compressed_end
    assert counting.ranges == [f"bytes={m.gz_offset}-{end - 1}", f"bytes={end}-"]


def test_many_members_of_one_archive_are_coalesced(s3, archived):
    members, data, _ = archived
    wanted = [members[f"obj/{i:03d}"] for i in range(100, 140)]
    counting = CountingS3(s3)
    got = dict((m.key, b) for m, b in read_members(counting, wanted))
    assert got == {m.key: data[m.key] for m in wanted}
    assert len(counting.ranges) < len(wanted) / 4


def test_most_of_an_archive_is_read_whole_once(s3, archived):
    members, data, compressed = archived
    archive = next(iter(members.values())).archive
    size = s3.head_object(Bucket=archive.bucket, Key=archive.key)["ContentLength"]
    wanted = list(members.values())[::2] + list(members.values())[1::2][:100]
    reads = plan_reads(wanted, {archive: size})
    if compressed:  # one open-ended read from the first wanted frame
        assert [(r.start, r.end) for r in reads] == [(min(m.gz_offset for m in wanted), None)]
    else:
        assert [(r.start, r.end) for r in reads] == [(0, None)]
    got = dict((m.key, b) for m, b in read_members(s3, wanted, {archive: size}))
    assert got == {m.key: data[m.key] for m in wanted}


def test_a_member_whose_bytes_differ_is_never_handed_out(s3, archived):
    members, _, _ = archived
    m = members["obj/010"]
    wrong = Member(**{**m.__dict__, "md5": "0" * 32})
    with pytest.raises(CorruptMember, match="MD5"):
        list(fetch(s3, plan_reads([wrong])[0]))
    if m.crc32c:
        wrong = Member(**{**m.__dict__, "crc32c": "AAAAAA=="})
        with pytest.raises(CorruptMember, match="CRC32C"):
            list(fetch(s3, plan_reads([wrong])[0]))


def test_plan_keeps_far_apart_members_apart():
    a = S3Uri("b", "a.tar")
    near = [Member(a, "s", f"k{i}", "", 100, 1000 * i, "") for i in range(5)]
    far = Member(a, "s", "far", "", 100, 10**9, "")
    reads = plan_reads([*near, far], max_gap=2000)
    assert [(r.start, r.end, len(r.members)) for r in reads] == [
        (0, 4099, 5),
        (10**9, 10**9 + 99, 1),
    ]


def test_an_empty_object_needs_no_read(s3, archived):
    members, _, _ = archived
    empty = next(m for m in members.values() if m.size == 0)
    counting = CountingS3(s3)
    assert list(read_members(counting, [empty])) == [(empty, b"")]
    assert counting.ranges == []


def test_streamed_members_are_the_bytes_in_chunks(s3, archived):
    members, data, _ = archived
    wanted = [members[f"obj/{i:03d}"] for i in range(0, 300, 7)]
    got = {}
    for m, chunks in stream_members(s3, wanted):
        pieces = list(chunks)
        assert all(len(p) <= 1 << 20 for p in pieces)
        got[m.key] = b"".join(pieces)
    assert got == {m.key: data[m.key] for m in wanted}


def test_a_streamed_member_whose_bytes_differ_fails_at_its_end_only(s3, archived):
    members, data, _ = archived
    good = members["obj/011"]
    bad = next(m for k, m in sorted(members.items()) if k > "obj/011" and m.size)
    wrong = Member(**{**bad.__dict__, "md5": "0" * 32})
    streams = fetch_streams(s3, plan_reads([good, wrong])[0])
    first, chunks = next(streams)
    assert first == good
    assert b"".join(chunks) == data[good.key]
    second, chunks = next(streams)
    assert second == wrong
    pieces = []
    with pytest.raises(CorruptMember, match="MD5"):
        for piece in chunks:
            pieces.append(piece)
    assert b"".join(pieces) == data[bad.key]  # handed out, but the end says they are wrong


def test_an_abandoned_stream_is_skipped(s3, archived):
    members, data, _ = archived
    wanted = [members[f"obj/{i:03d}"] for i in range(40, 60) if members[f"obj/{i:03d}"].size]
    got = {}
    for n, (m, chunks) in enumerate(stream_members(s3, wanted)):
        if n % 2:
            next(chunks)  # one chunk taken, the rest left
            continue
        got[m.key] = b"".join(chunks)
    assert got == {m.key: data[m.key] for m in wanted[::2]}
