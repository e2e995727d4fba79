"""``s3bundler extract`` as a subprocess: whole archives and prefixes into a directory and into
S3, keys that try to escape or collide, overwrite refusal, and corrupt archives."""

from __future__ import annotations

import dataclasses
import os
import unicodedata
from datetime import datetime
from pathlib import Path

import pytest

from s3bundler.archiver import BundlerConfig, ManifestJob
from s3bundler.index import read_index
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry
from s3restore.extract_run import Extraction
from s3restore.extract_targets import DirTarget
from s3restore.member_reader import Member
from tests.helpers import run_cli
from tests.s3bundler.sources import get_bytes, put_manifest
from tests.s3restore.archives import (
    Archived,
    flip_byte,
    make_archive,
    put_index,
    rewrite_object,
)

HEADERS = {
    "CacheControl": "max-age=60",
    "ContentDisposition": 'attachment; filename="x.bin"',
    "ContentLanguage": "de",
    "ContentEncoding": "identity",
}


def extract(*args: str):
    return run_cli("s3bundler", "extract", "--no-progress", *args)


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if not p.is_dir()}


def with_headers(s3, archived_src, key: str) -> None:
    """Put ``key`` again with the carried headers (before it is archived)."""
    s3.put_object(
        Bucket=archived_src.bucket,
        Key=key,
        Body=archived_src.data[key],
        Metadata={"origin": "headers"},
        ContentType="application/x-test",
        **HEADERS,
    )
    archived_src.metadata[key] = {"origin": "headers"}


@pytest.fixture(params=["", "gzip", "zstd"], ids=["tar", "tar.gz", "tar.zst"])
def compress(request) -> str:
    return request.param


def test_a_whole_archive_into_a_directory(s3, buckets, tmp_path, compress):
    archived = make_archive(s3, buckets, compress=compress)
    out = tmp_path / "out"
    res = extract(archived.archive, "-o", str(out), "--concurrency", "4")
    assert res.returncode == 0, res.stderr
    total = sum(r.size for r in archived.rows)
    n = len(archived.rows)
    assert res.stdout.startswith(f"extracted {n} of {n} objects ({total} bytes) from ")
    assert files_under(out) == {r.member: archived.src.data[r.key] for r in archived.rows}
    row = archived.row("mixed/big-2")
    mtime = datetime.fromisoformat(row.last_modified).timestamp()
    assert (out / row.member).stat().st_mtime == pytest.approx(mtime, abs=0.001)


def test_a_whole_archive_into_s3_with_metadata_tags_and_headers(s3, buckets, compress):
    src_b, arch_b, _ = buckets
    archived = make_archive(
        s3, buckets, compress=compress, before=lambda src: with_headers(s3, src, "other/x")
    )
    res = extract(archived.archive, "--to", f"s3://{arch_b}/restored/")
    assert res.returncode == 0, res.stderr
    for row in archived.rows:
        got = s3.get_object(Bucket=arch_b, Key="restored/" + row.key)
        assert got["Body"].read() == archived.src.data[row.key], row.key
        assert got["Metadata"] == archived.src.metadata.get(row.key, {}), row.key
        tags = s3.get_object_tagging(Bucket=arch_b, Key="restored/" + row.key)["TagSet"]
        assert {t["Key"]: t["Value"] for t in tags} == archived.src.tags.get(row.key, {})
        source = s3.head_object(Bucket=src_b, Key=row.key)
        assert got["ContentType"] == source["ContentType"], row.key
    got = s3.head_object(Bucket=arch_b, Key="restored/other/x")
    assert {k: got[k] for k in HEADERS} == HEADERS


def test_a_prefix_only(s3, buckets, tmp_path):
    archived = make_archive(s3, buckets, compress="gzip")
    out = tmp_path / "out"
    res = extract(archived.archive, "-o", str(out), "--prefix", "other/")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("extracted 2 of 2 objects (30 bytes)")
    wanted = [r for r in archived.rows if r.key.startswith("other/")]
    assert files_under(out) == {r.member: archived.src.data[r.key] for r in wanted}
    res = extract(archived.archive, "-o", str(out), "--prefix", "nothing/")
    assert res.returncode == 6
    assert f"{archived.index}: no object whose key starts with 'nothing/'" in res.stderr


NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
ODD_KEYS = ["..", ".", "/x", "a//b", "a/b", NFC, NFD, "d", "d/e", "x/../y", "dir/", "../up"]


def test_odd_keys_each_land_in_their_own_file_inside_the_directory(s3, buckets, tmp_path):
    archived = make_archive(s3, buckets, {k: 3 + i for i, k in enumerate(ODD_KEYS)})
    out = tmp_path / "deep" / "out"
    res = extract(archived.archive, "-o", str(out))
    assert res.returncode == 0, res.stderr
    files = files_under(out)
    assert len(files) == len(ODD_KEYS)  # none merged, none lost
    assert sorted(files.values()) == sorted(archived.src.data.values())
    for row in archived.rows:
        path = (out / row.member).resolve()
        assert (
            path.is_relative_to(out.resolve()) and path.read_bytes() == archived.src.data[row.key]
        )
    assert sorted(os.listdir(tmp_path)) == ["deep"] and os.listdir(tmp_path / "deep") == ["out"]
    _, arch_b, _ = buckets
    res = extract(archived.archive, "--to", f"s3://{arch_b}/r")  # PREFIX + exact key
    assert res.returncode == 0, res.stderr
    for key in ODD_KEYS:
        assert get_bytes(s3, S3Uri(arch_b, "r" + key)) == (archived.src.data[key])


def test_existing_files_and_objects_are_not_replaced_without_overwrite(s3, buckets, tmp_path):
    archived = make_archive(s3, buckets, {"k/1": 10, "k/2": 20, "k/3": 30})
    out = tmp_path / "out"
    assert extract(archived.archive, "-o", str(out)).returncode == 0
    mine = out / archived.row("k/2").member
    mine.write_bytes(b"mine")
    (out / archived.row("k/1").member).unlink()
    res = extract(archived.archive, "-o", str(out))
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"s3bundler extract: error: {out / archived.row('k/2').member} exists (and 1 more): "
        "nothing extracted (--overwrite replaces)"
    )
    assert mine.read_bytes() == b"mine" and not (out / archived.row("k/1").member).exists()
    res = extract(archived.archive, "-o", str(out), "--overwrite")
    assert res.returncode == 0 and mine.read_bytes() == archived.src.data["k/2"]

    _, arch_b, _ = buckets
    s3.put_object(Bucket=arch_b, Key="back/k/3", Body=b"theirs")
    res = extract(archived.archive, "--to", f"s3://{arch_b}/back/")
    assert res.returncode == 2
    assert f"s3://{arch_b}/back/k/3 exists (--overwrite replaces it)" in res.stderr
    assert "extracted 2 of 3 objects" in res.stdout and "1 not overwritten" in res.stdout
    assert get_bytes(s3, S3Uri(arch_b, "back/k/3")) == (b"theirs")
    res = extract(archived.archive, "--to", f"s3://{arch_b}/back/", "--overwrite")
    assert res.returncode == 0
    back = get_bytes(s3, S3Uri(arch_b, "back/k/3"))
    assert back == archived.src.data["k/3"]


def test_a_corrupt_member_is_not_written_the_others_are(s3, buckets, tmp_path):
    archived = make_archive(s3, buckets)
    bad = archived.row("mixed/big-1")
    rewrite_object(s3, archived.outputs.archive_uri, flip_byte(bad.offset + 777))
    out = tmp_path / "out"
    res = extract(archived.archive, "-o", str(out))
    assert res.returncode == 3
    assert f"member for s3://{bad.bucket}/{bad.key}: MD5 " in res.stderr
    assert files_under(out) == {
        r.member: archived.src.data[r.key] for r in archived.rows if r is not bad
    }  # and no temporary file left behind
    n = len(archived.rows)
    assert res.stdout.startswith(f"extracted {n - 1} of {n} objects") and "; 1 failed" in res.stdout
    _, arch_b, _ = buckets
    res = extract(archived.archive, "--to", f"s3://{arch_b}/back/")
    assert res.returncode == 3
    listed = s3.list_objects_v2(Bucket=arch_b, Prefix="back/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(
        "back/" + r.key for r in archived.rows if r is not bad
    )


def test_a_corrupt_gzip_archive_writes_nothing_wrong(s3, buckets, tmp_path):
    archived = make_archive(s3, buckets, compress="gzip")
    rewrite_object(s3, archived.outputs.archive_uri, lambda d: flip_byte(len(d) // 2)(d))
    out = tmp_path / "out"
    res = extract(archived.archive, "-o", str(out))
    assert res.returncode == 3
    assert "gzip" in res.stderr or "MD5" in res.stderr
    files = files_under(out)
    assert len(files) < len(archived.rows)
    by_member = {r.member: r for r in archived.rows}
    assert all(data == archived.src.data[by_member[name].key] for name, data in files.items())


def test_a_member_name_outside_the_directory_is_refused(s3, buckets, tmp_path):
    archived = make_archive(s3, buckets, {"a": 1, "b": 2})
    evil = dataclasses.replace(archived.row("a"), member="../../evil")
    put_index(s3, archived.outputs.index_uri, [evil, archived.row("b")])
    out = tmp_path / "in" / "out"
    res = extract(archived.archive, "-o", str(out))
    assert res.returncode == 3
    assert "member name '../../evil' is not a safe relative path" in res.stderr
    member = archived.row("b").member
    assert files_under(tmp_path) == {f"in/out/{member}": archived.src.data["b"]}
    (tmp_path / "elsewhere").mkdir()
    (out / member).unlink()
    (out / member.split("/")[0]).rmdir()
    (out / member.split("/")[0]).symlink_to(tmp_path / "elsewhere")  # planted: not followed
    res = extract(archived.archive, "-o", str(out), "--prefix", "b")
    assert res.returncode == 3 and "is a symbolic link" in res.stderr
    assert os.listdir(tmp_path / "elsewhere") == []


def test_versions_of_one_key_are_written_oldest_first(s3, buckets):
    src_b, arch_b, man_b = buckets
    s3.put_bucket_versioning(Bucket=src_b, VersioningConfiguration={"Status": "Enabled"})
    versions = []
    for i in range(3):
        versions.append(s3.put_object(Bucket=src_b, Key="v", Body=b"v%d" % i)["VersionId"])
    # Newest first, as S3 lists versions; all in the same second: the order decides.
    entries = [ManifestEntry(src_b, "v", 2, v) for v in reversed(versions)]
    manifest = put_manifest(s3, man_b, "v/m.0.index", entries)
    result = ManifestJob(s3, BundlerConfig(archive_bucket=arch_b), manifest).run()
    assert result.outputs is not None
    rows = list(read_index(get_bytes(s3, result.outputs.index_uri)))
    assert [r.version_id for r in rows] == list(reversed(versions))
    s3.put_bucket_versioning(Bucket=arch_b, VersioningConfiguration={"Status": "Enabled"})
    res = extract(str(result.outputs.archive_uri), "--to", f"s3://{arch_b}/back/")
    assert res.returncode == 0, res.stderr
    listed = s3.list_object_versions(Bucket=arch_b, Prefix="back/v")["Versions"]
    bodies = [
        s3.get_object(Bucket=arch_b, Key="back/v", VersionId=v["VersionId"])["Body"].read()
        for v in listed
    ]
    assert (bodies, listed[0]["IsLatest"]) == ([b"v2", b"v1", b"v0"], True)  # newest first


def test_what_cannot_be_read_or_written(s3, buckets, tmp_path):
    archived: Archived = make_archive(s3, buckets, {"a": 1})
    res = extract(archived.archive, "--to", "s3://no-such-bucket-here/x/")
    assert res.returncode == 4
    assert res.stderr.startswith("s3bundler extract: error: cannot write s3://no-such-bucket-here/")
    s3.delete_object(Bucket=archived.outputs.archive_bucket, Key=archived.outputs.archive_key)
    res = extract(archived.archive, "-o", str(tmp_path / "o"))
    assert res.returncode == 5 and f"cannot read {archived.archive}" in res.stderr
    assert not (tmp_path / "o").exists()
    res = extract(archived.archive)
    assert res.returncode == 2 and "one of the arguments --to -o/--output is required" in res.stderr


class CountingS3:
    def __init__(self, s3) -> None:
        self.s3 = s3
        self.ranges: list[str] = []

    def get_object(self, **kw):
        self.ranges.append(kw.get("Range", "whole"))
        return self.s3.get_object(**kw)


def test_a_whole_archive_is_one_get_and_a_prefix_only_its_bytes(s3, buckets, tmp_path):
    archived = make_archive(s3, buckets)
    size = s3.head_object(Bucket=archived.outputs.archive_bucket, Key=archived.outputs.archive_key)
    members = [Member.from_index(r, archived.outputs.archive_uri) for r in archived.rows]
    counting = CountingS3(s3)
    target = DirTarget(str(tmp_path / "all"))
    target.create()
    done: list[int] = []
    outcome = Extraction(counting, target, members, size["ContentLength"], 4, done.append, print)
    assert outcome.run().objects == len(members)
    assert counting.ranges == ["whole"] and sum(done) == sum(m.size for m in members)
    counting.ranges.clear()
    others = [m for m in members if m.key.startswith("other/")]
    target = DirTarget(str(tmp_path / "some"))
    target.create()
    Extraction(counting, target, others, size["ContentLength"], 4, done.append, print).run()
    first, last = others[0], others[-1]
    assert counting.ranges == [f"bytes={first.offset}-{last.offset + last.size - 1}"]
