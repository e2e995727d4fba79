"""``s3bundler verify`` as a subprocess against archives written by the real bundler: good
archives pass, and each kind of damage is named."""

from __future__ import annotations

import dataclasses

import pytest

from s3bundler.codecs import codec_of
from s3bundler.dlq import DlqRow, DlqWriter
from s3bundler.layout import dlq_uri
from tests.helpers import run_cli
from tests.s3bundler.sources import get_bytes
from tests.s3restore.archives import (
    Archived,
    flip_byte,
    make_archive,
    put_index,
    rewrite_object,
)


def verify(*args: str):
    return run_cli("s3bundler", "verify", "--no-progress", *args)


def problems(stdout: str) -> list[str]:
    return stdout.splitlines()[:-1]  # the last line is the summary


@pytest.fixture(params=["", "gzip", "zstd"], ids=["tar", "tar.gz", "tar.zst"])
def archived(request, s3, buckets) -> Archived:
    return make_archive(s3, buckets, compress=request.param)


def test_a_good_archive_verifies(archived):
    res = verify(archived.archive)
    assert res.returncode == 0, res.stdout + res.stderr
    n = len(archived.rows)
    total = sum(r.size for r in archived.rows)
    assert res.stdout == res.stdout.splitlines()[0] + "\n"  # the summary alone
    assert res.stdout.startswith(f"{archived.archive}: ok: {n} members ({total} bytes) and {n} ")
    assert "in 1 GET(s)" in res.stdout
    by_index = verify(archived.index)  # named by its index: the archive is found
    assert by_index.returncode == 0 and by_index.stdout.startswith(f"{archived.archive}: ok")


def test_a_flipped_byte_is_named(s3, archived):
    row = archived.row("mixed/big-1")
    if row.gz_offset is None:
        rewrite_object(s3, archived.outputs.archive_uri, flip_byte(row.offset + 1000))
    else:  # the test payloads compress well: the middle of the archive is in some member
        rewrite_object(s3, archived.outputs.archive_uri, lambda d: flip_byte(len(d) // 2)(d))
    res = verify(archived.archive)
    assert res.returncode == 1
    lines = problems(res.stdout)
    if row.gz_offset is None:
        assert lines == [
            f"{row.member} (s3://{row.bucket}/{row.key}): MD5 "
            f"{lines[0].split('MD5 ')[1].split()[0]} of the archived bytes != {row.md5} in the "
            "index"
        ]
    else:  # compressed data: the frame's CRC/checksum (or inflate) says so; the rest is unread
        codec = codec_of(archived.archive)
        assert codec is not None
        assert lines[0].startswith(
            f"{archived.archive}: {codec.name} data corrupt in the {codec.frame_noun} "
        )
        assert "index rows from header offset" in lines[-1] and "not checked" in lines[-1]
    assert " problem" in res.stdout.splitlines()[-1]


def test_a_truncated_archive_is_named(s3, archived):
    row = archived.row("mixed/big-2")
    data = get_bytes(s3, archived.outputs.archive_uri)
    if row.gz_offset is None:
        cut = row.offset + 4096
    else:  # inside the frame at gz_offset (the zstd archive of these payloads is tiny)
        cut = row.gz_offset + min(4096, (len(data) - row.gz_offset) // 2)
    rewrite_object(s3, archived.outputs.archive_uri, lambda data: data[:cut])
    res = verify(archived.archive)
    assert res.returncode == 1
    lines = problems(res.stdout)
    start = row.header_offset
    if row.gz_offset is None:
        assert lines[0] == (
            f"{archived.archive}: the archive ends at byte {cut}, in the data of member "
            f"{row.member} (4096 of {row.size} bytes)"
        )
    else:
        codec = codec_of(archived.archive)
        assert codec is not None
        assert lines[0].startswith(f"{archived.archive}: the {codec.frame_noun} at compressed ")
        assert "cut short" in lines[0]
        # zstd hands out whole blocks: the scan may stop at a member before big-2
        start = int(lines[1].split("header offset ")[1].split()[0])
        assert start <= row.header_offset
    later = [r for r in archived.rows if r.header_offset >= start]
    assert lines[1] == (
        f"{len(later)} index rows from header offset {start} on not checked: "
        "the archive cannot be read from there"
    )


def test_a_damaged_seek_table_is_named(s3, buckets):
    archived = make_archive(s3, buckets, compress="zstd")
    data = get_bytes(s3, archived.outputs.archive_uri)
    count = int.from_bytes(data[-9:-5], "little")
    first_entry = len(data) - 9 - 12 * count
    damaged = bytearray(data)
    damaged[first_entry + 4] ^= 0x01  # frame 0's decompressed size
    rewrite_object(s3, archived.outputs.archive_uri, lambda _: bytes(damaged))
    res = verify(archived.archive)
    assert res.returncode == 1
    (line,) = problems(res.stdout)
    assert line.startswith(f"{archived.archive}: seek table entry 0: ")
    rewrite_object(s3, archived.outputs.archive_uri, lambda _: data[: first_entry - 8])
    res = verify(archived.archive)
    assert problems(res.stdout) == [f"{archived.archive}: no seek table at the end of the archive"]


def test_a_removed_index_row_is_named(s3, buckets):
    archived = make_archive(s3, buckets)
    gone = archived.row("mixed/07")
    put_index(s3, archived.outputs.index_uri, [r for r in archived.rows if r is not gone])
    res = verify(archived.archive)
    assert res.returncode == 1
    dlq = dlq_uri(archived.manifest)
    assert problems(res.stdout) == [
        f"{gone.member} (s3://{gone.bucket}/{gone.key}): no index row, and not in DLQ {dlq}"
    ]


def test_a_member_left_unindexed_by_the_dlq_is_a_note(s3, buckets):
    archived = make_archive(s3, buckets, compress="gzip")
    gone = archived.row("mixed/big-2")
    put_index(s3, archived.outputs.index_uri, [r for r in archived.rows if r is not gone])
    dlq = DlqWriter()  # what the bundler writes for a stream that failed after its last byte
    detail = "ETag mismatch (bytes left unindexed)"
    dlq.add(DlqRow(gone.bucket, gone.key, "", gone.size, "ChecksumMismatch", detail))
    uri = dlq_uri(archived.manifest)
    s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=dlq.getvalue())
    res = verify(archived.archive)
    assert res.returncode == 0, res.stdout
    note = f"{gone.member} (s3://{gone.bucket}/{gone.key}): unindexed (in DLQ {uri}: "
    assert problems(res.stdout) == [f"{note}ChecksumMismatch, {detail})"]
    assert ": ok: " in res.stdout and "1 unindexed (in DLQ)" in res.stdout


def test_a_member_renamed_in_the_index_is_named(s3, archived):
    row = archived.row("other/x")
    renamed = dataclasses.replace(row, member=row.member + "-renamed")
    rows = [renamed if r is row else r for r in archived.rows]
    put_index(s3, archived.outputs.index_uri, rows)
    res = verify(archived.archive)
    assert res.returncode == 1
    assert problems(res.stdout) == [
        f"{renamed.member} (s3://{row.bucket}/{row.key}): member name {row.member!r} in the "
        f"archive, {renamed.member!r} in the index"
    ]


def test_an_index_row_naming_another_object_is_named(s3, buckets):
    archived = make_archive(s3, buckets)
    row = archived.row("other/y")
    other = dataclasses.replace(row, key="other/z")
    put_index(s3, archived.outputs.index_uri, [other if r is row else r for r in archived.rows])
    res = verify(archived.archive)
    assert res.returncode == 1
    assert problems(res.stdout) == [
        f"{row.member} (s3://{row.bucket}/other/z): pax comment names s3://{row.bucket}/other/y,"
        f" the index s3://{row.bucket}/other/z"
    ]


def test_data_after_the_end_and_a_cap_on_lines(s3, buckets):
    archived = make_archive(s3, buckets)
    uri = archived.outputs.archive_uri
    end = s3.head_object(Bucket=uri.bucket, Key=uri.key)["ContentLength"]
    rewrite_object(s3, uri, lambda data: data + b"junk")
    put_index(s3, archived.outputs.index_uri, archived.rows[:-10] + archived.rows[-8:])
    res = verify(archived.archive, "--max-problems", "2")
    assert res.returncode == 1
    lines = problems(res.stdout)
    assert len(lines) == 2 and all("no index row" in line for line in lines)
    assert res.stdout.splitlines()[-1].startswith(f"{archived.archive}: 3 problems (1 not shown)")
    res = verify(archived.archive, "--max-problems", "0")
    assert problems(res.stdout)[2:] == [
        f"{archived.archive}: data after the end of the archive, at byte {end}"
    ]


def test_an_archive_that_cannot_be_read_is_exit_5(s3, buckets):
    archived = make_archive(s3, buckets, {"a": 1})
    s3.delete_object(Bucket=archived.outputs.archive_bucket, Key=archived.outputs.archive_key)
    res = verify(archived.archive)
    assert res.returncode == 5
    assert res.stderr.strip().startswith(f"s3bundler verify: error: cannot read {archived.archive}")
    res = verify(archived.archive.replace(".tar", "-nope.tar"))
    assert res.returncode == 5 and "-nope.index" in res.stderr
    res = verify("s3://bucket/not-an-archive")
    assert res.returncode == 2 and "not an archive or index URI" in res.stderr
