"""find and restore end to end: the CLIs as subprocesses against the local endpoint, on a job
archived by the real worker."""

from __future__ import annotations

import csv
import json
import re

import pytest

from tests.helpers import run_cli
from tests.s3restore.conftest import BIG, KEYS

# -- find ------------------------------------------------------------------------------------


def test_find_says_where_each_object_went(archived):
    a = archived
    out = run_cli(
        "s3bundler", "find", f"s3://{a.source_bucket}/photos/a.jpg", "--catalog", a.catalog
    )
    assert out.returncode == 0, out.stderr
    assert f"archived in {a.plain} as {a.source_bucket}/photos/a.jpg, bytes " in out.stdout
    copied = run_cli("s3bundler", "find", f"s3://{a.source_bucket}/{BIG}", "--catalog", a.catalog)
    assert "copied to s3://" in copied.stdout and "/bigobjects/big/video.bin" in copied.stdout
    failed = run_cli(
        "s3bundler", "find", f"s3://{a.source_bucket}/gone/never-there", "--catalog", a.catalog
    )
    assert "not archived: NoSuchKey" in failed.stdout and failed.returncode == 0


def test_find_json_and_odd_keys(archived):
    a = archived
    out = run_cli(
        "s3bundler", "find", f"s3://{a.source_bucket}/odd//double", "--catalog", a.catalog,
        "--json",
    )  # fmt: skip
    (doc,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert (doc["key"], doc["status"], doc["size"]) == ("odd//double", "archived", 7)
    assert doc["bucket"] == a.source_bucket and doc["archive"] == str(a.plain)


def test_an_object_that_is_nowhere_has_its_own_exit_code(archived):
    a = archived
    out = run_cli("s3bundler", "find", f"s3://{a.source_bucket}/no/such", "--catalog", a.catalog)
    assert out.returncode == 6
    assert out.stderr.strip().splitlines()[-1].startswith("s3bundler find: error: s3://")
    other = run_cli("s3bundler", "find", "s3://other-bucket/x", "--catalog", a.catalog)
    assert other.returncode == 6


def test_reading_the_catalog_never_ends_in_a_signal(archived):
    """pyarrow 26 can abort the interpreter at exit after reading Parquet; the commands
    must always exit with their own code."""
    a = archived
    codes = [
        run_cli("s3bundler", "find", f"s3://{a.source_bucket}/photos/a.jpg", "--catalog",
                a.catalog).returncode
        for _ in range(12)
    ]  # fmt: skip
    assert codes == [0] * 12


# -- restore ---------------------------------------------------------------------------------


def requests_of(stderr: str) -> dict[str, int]:
    line = next(ln for ln in stderr.splitlines() if ln.startswith("restored "))
    return {op: int(n) for op, n in re.findall(r"([A-Za-z]+) (\d+)", line.split("requests: ")[1])}


def test_restore_from_a_tar_into_s3_is_server_side_with_metadata_and_tags(s3, archived):
    a = archived
    out = run_cli(
        "s3bundler", "restore", f"s3://{a.source_bucket}/photos/a.jpg", "--catalog", a.catalog,
        "--to", f"s3://{a.archive_bucket}/back/",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    calls = requests_of(out.stderr)
    assert calls.get("UploadPartCopy") == 1
    # moto says no checksum of the copied range: the restored object is read back once
    assert "verified 1 by read back" in out.stderr
    got = s3.get_object(Bucket=a.archive_bucket, Key="back/photos/a.jpg")
    assert got["Body"].read() == a.src.data["photos/a.jpg"]
    assert got["ContentType"] == "image/jpeg" and got["CacheControl"] == "max-age=60"
    assert got["Metadata"] == a.src.metadata["photos/a.jpg"]
    tags = s3.get_object_tagging(Bucket=a.archive_bucket, Key="back/photos/a.jpg")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"k": "v"}


def test_restore_from_a_tar_gz_reads_one_range_from_its_gzip_member(s3, archived):
    a = archived
    out = run_cli(
        "s3bundler", "restore", f"s3://{a.source_bucket}/gz/001", "--catalog", a.catalog,
        "--to", f"s3://{a.archive_bucket}/back/", "-v",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    calls = requests_of(out.stderr)
    assert calls.get("GetObject") == 1 and calls.get("PutObject") == 1
    back = s3.get_object(Bucket=a.archive_bucket, Key="back/gz/001")["Body"].read()
    assert back == a.src.data["photos/a.jpg"]


def test_restore_to_a_file_and_to_stdout(archived, tmp_path):
    a = archived
    target = tmp_path / "a.jpg"
    out = run_cli(
        "s3bundler", "restore", f"s3://{a.source_bucket}/photos/b c+d.jpg", "--catalog",
        a.catalog, "-o", str(target),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert target.read_bytes() == a.src.data["photos/b c+d.jpg"]
    again = run_cli(
        "s3bundler", "restore", f"s3://{a.source_bucket}/photos/b c+d.jpg", "--catalog",
        a.catalog, "-o", str(target),
    )  # fmt: skip
    assert again.returncode == 2 and "exists" in again.stderr
    import subprocess
    import sys

    piped = subprocess.run(
        [sys.executable, "-m", "s3bundler", "restore", f"s3://{a.source_bucket}/odd/../key",
         "--catalog", a.catalog, "-o", "-"],
        capture_output=True,
    )  # fmt: skip
    assert piped.returncode == 0 and piped.stdout == a.src.data["odd/../key"]


def test_in_place_refuses_to_overwrite_unless_told(s3, archived):
    a = archived
    args = ["s3bundler", "restore", f"s3://{a.source_bucket}/photos/a.jpg", "--catalog", a.catalog]
    refused = run_cli(*args, "--in-place")
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    s3.delete_object(Bucket=a.source_bucket, Key="photos/a.jpg")
    assert run_cli(*args, "--in-place").returncode == 0
    back = s3.get_object(Bucket=a.source_bucket, Key="photos/a.jpg")["Body"].read()
    assert back == a.src.data["photos/a.jpg"]
    assert run_cli(*args, "--in-place", "--overwrite").returncode == 0


def test_batch_restore_coalesces_reads_and_restores_copies_and_reports_failures(
    s3, archived, tmp_path
):
    a = archived
    listing = tmp_path / "wanted.csv"
    with listing.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["bucket", "key"])
        for key in [*KEYS, "gone/never-there", "not/in/catalog"]:
            w.writerow([a.source_bucket, key])
    out = run_cli(
        "s3bundler", "restore", "--from-list", str(listing), "--catalog", a.catalog,
        "-o", str(tmp_path / "out"),
    )  # fmt: skip
    assert out.returncode == 6, out.stderr  # two objects cannot be restored
    assert "gone/never-there: was not archived: NoSuchKey" in out.stderr
    assert "not/in/catalog: not in the catalog" in out.stderr
    calls = requests_of(out.stderr)
    assert calls["GetObject"] <= 2  # five archived members of one .tar + the copy
    restored = {p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
                for p in (tmp_path / "out").rglob("*") if p.is_file()}  # fmt: skip
    assert len(restored) == len(KEYS)
    assert restored[f"{a.source_bucket}/{BIG}"] == a.src.data[BIG]
    assert restored[f"{a.source_bucket}/odd/%2E%2E/key"] == a.src.data["odd/../key"]


def test_a_cold_archive_is_restored_by_s3_first(s3, archived):
    a = archived
    s3.copy_object(
        Bucket=a.plain.bucket, Key=a.plain.key, CopySource={"Bucket": a.plain.bucket,
        "Key": a.plain.key}, StorageClass="DEEP_ARCHIVE", MetadataDirective="COPY",
    )  # fmt: skip
    args = ["s3bundler", "restore", f"s3://{a.source_bucket}/photos/a.jpg", "--catalog",
            a.catalog, "--to", f"s3://{a.archive_bucket}/thawed/", "--tier", "Bulk"]  # fmt: skip
    first = run_cli(*args)
    assert first.returncode == 75, first.stderr
    assert "DEEP_ARCHIVE" in first.stderr and "--wait" in first.stderr
    head = s3.head_object(Bucket=a.plain.bucket, Key=a.plain.key)
    assert "Restore" in head  # requested (moto completes it at once)
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr


def test_wait_polls_until_the_archive_is_readable(s3, archived):
    a = archived
    s3.copy_object(
        Bucket=a.compressed.bucket, Key=a.compressed.key, CopySource={"Bucket":
        a.compressed.bucket, "Key": a.compressed.key}, StorageClass="GLACIER",
        MetadataDirective="COPY",
    )  # fmt: skip
    out = run_cli(
        "s3bundler", "restore", f"s3://{a.source_bucket}/gz/002", "--catalog", a.catalog,
        "--to", f"s3://{a.archive_bucket}/w/", "--wait", "--poll", "0.2",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    body = s3.get_object(Bucket=a.archive_bucket, Key="w/gz/002")["Body"].read()
    assert body == a.src.data["photos/a.jpg"]


@pytest.mark.parametrize("bad", ["nope.csv", "bad-rows"])
def test_from_list_errors_are_one_line(archived, tmp_path, bad):
    a = archived
    path = tmp_path / "list.csv"
    if bad == "bad-rows":
        path.write_text("just-one-cell\n")
    out = run_cli(
        "s3bundler", "restore", "--from-list", str(path), "--catalog", a.catalog, "-o", "x"
    )
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and str(path) in out.stderr


def test_restore_a_prefix_to_files_and_into_s3(s3, archived, tmp_path):
    a = archived
    out = run_cli(
        "s3bundler", "restore", "--prefix", f"s3://{a.source_bucket}/photos/", "--catalog",
        a.catalog, "-o", str(tmp_path / "p"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    root = tmp_path / "p" / a.source_bucket  # many objects: DIR/<bucket>/<key>
    got = {str(p.relative_to(root)): p.read_bytes() for p in tmp_path.rglob("*.jpg")}
    assert got == {k: a.src.data[k] for k in ("photos/a.jpg", "photos/b c+d.jpg")}
    assert "restored 2 of 2 objects" in out.stderr
    into = run_cli(
        "s3bundler", "restore", "--prefix", f"s3://{a.source_bucket}/odd/", "--catalog",
        a.catalog, "--to", f"s3://{a.archive_bucket}/prefix-back/",
    )  # fmt: skip
    assert into.returncode == 0, into.stderr
    listed = s3.list_objects_v2(Bucket=a.archive_bucket, Prefix="prefix-back/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(
        ["prefix-back/odd//double", "prefix-back/odd/../key"]
    )


def test_a_prefix_the_catalog_does_not_know_is_not_found(archived):
    a = archived
    out = run_cli(
        "s3bundler", "restore", "--prefix", f"s3://{a.source_bucket}/photos/x", "--catalog",
        a.catalog, "-o", "ignored",
    )  # fmt: skip
    assert out.returncode == 6, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("s3bundler restore: error: s3://") and "no key under this prefix" in line
    both = run_cli(
        "s3bundler", "restore", "--prefix", f"s3://{a.source_bucket}/p", f"s3://{a.source_bucket}/k",
        "--catalog", a.catalog, "-o", "x",
    )  # fmt: skip
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_a_prefix_holding_a_dlq_row_reports_it(archived, tmp_path):
    a = archived
    out = run_cli(
        "s3bundler", "restore", "--prefix", f"s3://{a.source_bucket}/gone/", "--catalog",
        a.catalog, "-o", str(tmp_path / "g"),
    )  # fmt: skip
    assert out.returncode == 6, out.stderr  # as for one object that was never archived
    assert "gone/never-there" in out.stderr and "NoSuchKey" in out.stderr
    assert "restored 0 of 1 objects" in out.stderr


def test_a_prefix_with_one_key_still_writes_into_the_directory(archived, tmp_path):
    a = archived
    out = run_cli(
        "s3bundler", "restore", "--prefix", f"s3://{a.source_bucket}/photos/a", "--catalog",
        a.catalog, "-o", str(tmp_path / "one"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    written = tmp_path / "one" / a.source_bucket / "photos" / "a.jpg"
    assert written.read_bytes() == a.src.data["photos/a.jpg"]
