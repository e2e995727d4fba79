"""Storage class, SSE-KMS, expected bucket owners and SSE-C sources, end to end on the
instrumented endpoint, which logs the headers every request carried and refuses what S3 would
refuse (a wrong owner; an SSE-C object read without its key)."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from s3bundler.index import read_index
from s3bundler.report import ManifestReport
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry
from tests.helpers import run_cli
from tests.s3bundler.e2e import outputs_for
from tests.s3bundler.sources import get_bytes, put_manifest, seed

OWNER, SOURCE_OWNER = "111111111111", "222222222222"
SRC, ARCH, MAN = "enc-src", "enc-arch", "enc-man"


@pytest.fixture()
def server(fault_server):
    return fault_server


@pytest.fixture()
def s3(server, monkeypatch):
    return server.fresh(monkeypatch, SRC, ARCH, MAN)


def bundle(*extra: str, manifest: str = "p/e.0.index") -> object:
    return run_cli("s3bundler", "-m", f"s3://{MAN}/{manifest}", "-b", ARCH, "--no-metrics", *extra)


@pytest.mark.parametrize("get_client", ["crt", "boto3"])
def test_archives_and_copies_in_the_class_asked_with_kms_and_owners(server, s3, get_client):
    seed(s3, SRC, {"a": 100, "b": 200, "big": 5000})
    entries = [ManifestEntry(SRC, k, n) for k, n in (("a", 100), ("b", 200), ("big", 5000))]
    manifest = put_manifest(s3, MAN, "p/e.0.index", entries)
    out = bundle(
        "--storage-class", "GLACIER_IR", "--sse-kms-key-id", "alias/archives", "-s", "1000",
        "--expected-bucket-owner", OWNER, "--expected-source-owner", SOURCE_OWNER,
        "--get-client", get_client,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    o = outputs_for(manifest, SRC, ARCH)
    assert s3.head_object(Bucket=ARCH, Key=o.archive_key)["StorageClass"] == "GLACIER_IR"
    copy_key = next(r["key"] for r in server.requests(operation="CopyObject"))
    assert s3.head_object(Bucket=ARCH, Key=copy_key)["StorageClass"] == "GLACIER_IR"
    for small in (o.index_key, f"archives/catalog/bucket={SRC}/e.0.parquet"):
        assert s3.head_object(Bucket=ARCH, Key=small).get("StorageClass", "STANDARD") == "STANDARD"
    (create,) = server.headers(operation="CreateMultipartUpload", bucket=ARCH)
    assert create["x-amz-server-side-encryption"] == "aws:kms"
    assert create["x-amz-server-side-encryption-aws-kms-key-id"] == "alias/archives"
    assert create["x-amz-server-side-encryption-bucket-key-enabled"] == "true"
    for h in server.headers(bucket=ARCH) + server.headers(bucket=MAN):
        assert h.get("x-amz-expected-bucket-owner") == OWNER
    source_gets = server.headers(bucket=SRC)
    assert source_gets and all(
        h["x-amz-expected-bucket-owner"] == SOURCE_OWNER for h in source_gets
    )
    (copy,) = server.headers(operation="CopyObject")
    assert copy["x-amz-source-expected-bucket-owner"] == SOURCE_OWNER


def test_a_wrong_archive_owner_fails_cleanly_before_anything_is_written(server, s3):
    seed(s3, SRC, {"a": 10})
    put_manifest(s3, MAN, "p/e.0.index", [ManifestEntry(SRC, "a", 10)])
    server.set_faults({"kind": "owner", "bucket": [ARCH, MAN], "account": OWNER})
    out = bundle("--expected-bucket-owner", "999999999999")
    assert out.returncode in (4, 5), out.stderr
    error = out.stderr.strip().splitlines()[-1]
    assert error.startswith("s3bundler: error:") and "AccessDenied" in error
    assert s3.list_objects_v2(Bucket=ARCH).get("KeyCount") == 0
    assert not s3.list_multipart_uploads(Bucket=ARCH).get("Uploads")


def test_a_wrong_source_owner_is_a_dlq_row_per_object(server, s3):
    seed(s3, SRC, {"a": 10, "b": 20})
    manifest = put_manifest(s3, MAN, "p/e.0.index", [ManifestEntry(SRC, k, 1) for k in "ab"])
    server.set_faults({"kind": "owner", "bucket": SRC, "account": SOURCE_OWNER})
    out = bundle("--expected-source-owner", "999999999999")
    assert out.returncode == 0, out.stderr
    report = ManifestReport.from_json(get_bytes(s3, S3Uri(MAN, manifest.key + ".done")))
    assert report.counts.errors == {"AccessDenied": 2}


@pytest.mark.parametrize("get_client", ["crt", "boto3"])
def test_sse_c_sources_are_archived_with_their_key_and_restored_with_it(
    server, s3, tmp_path, get_client
):
    key = os.urandom(32)
    key_file = tmp_path / "key"
    key_file.write_bytes(base64.b64encode(key))
    key_md5 = base64.b64encode(hashlib.md5(key).digest()).decode()
    body = b"secret bytes " * 100
    s3.put_object(Bucket=SRC, Key="c/1", Body=body, SSECustomerAlgorithm="AES256",
                  SSECustomerKey=key)  # fmt: skip
    manifest = put_manifest(s3, MAN, "p/e.0.index", [ManifestEntry(SRC, "c/1", len(body))])
    server.set_faults({"kind": "sse_c", "bucket": SRC, "key_md5": key_md5})
    without = bundle("--get-client", get_client)
    report = ManifestReport.from_json(get_bytes(s3, S3Uri(MAN, manifest.key + ".done")))
    assert without.returncode == 0 and report.counts.failed == 1  # unreadable without the key
    with_key = bundle("--get-client", get_client, "--sse-c-key-file", str(key_file), "-d")
    assert with_key.returncode == 0, with_key.stderr
    assert base64.b64encode(key).decode() not in with_key.stderr  # never logged, even with -d
    o = outputs_for(manifest, SRC, ARCH)
    (row,) = read_index(get_bytes(s3, o.index_uri))
    assert get_bytes(s3, o.archive_uri)[row.offset : row.offset + row.size] == body
    out = run_cli(
        "s3bundler", "restore", f"s3://{SRC}/c/1", "--catalog", f"s3://{ARCH}/archives",
        "--to", f"s3://{MAN}/restored/", "--sse-c-key-file", str(key_file), "--client-side",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (put,) = server.headers(operation="PutObject", bucket=MAN, key="restored/c/1")
    assert put["x-amz-server-side-encryption-customer-key-md5"] == key_md5
    back = s3.get_object(Bucket=MAN, Key="restored/c/1", SSECustomerAlgorithm="AES256",
                         SSECustomerKey=key)  # fmt: skip
    assert back["Body"].read() == body
