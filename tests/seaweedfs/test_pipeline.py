"""The whole pipeline with S3 on SeaweedFS and SQS on moto: an inventory of what SeaweedFS
lists -> s3grouper (sub-manifests on SeaweedFS, messages to moto's SQS) -> s3bundler workers
(-q, plain; -m with gzip and with zstd) -> verify, find, restore to a file and into S3."""

from __future__ import annotations

import pytest

from s3bundler.dlq import read_dlq
from s3bundler.index import read_index
from s3bundler.layout import manifest_outputs
from s3common.s3uri import S3Uri, parse_s3_uri
from s3jobs import inventory_report
from tests.helpers import run_cli
from tests.s3bundler.e2e import make_queue
from tests.s3bundler.sources import get_bytes, seed
from tests.s3bundler.test_bundler_e2e import check_tar

pytestmark = pytest.mark.seaweedfs

MiB = 1 << 20
SIZES = {
    **{f"photos/img {i:02d}+x.jpg": 500 + 97 * i for i in range(14)},
    "unicode/日本語-ü.txt": 321,
    "percent%2Fliteral": 12,
    "zero-bytes": 0,
    "streamed/nine-mib.bin": 9 * MiB,  # above 8 MiB: streamed, not buffered
    "big/twelve-mib.bin": 12 * MiB,  # above -s 10MB: copied server-side
}
HEADERS = {"CacheControl": "max-age=60", "ContentLanguage": "fr"}


def inventory_of(s3, source: str, inventory_bucket: str) -> str:
    """A real-format S3 Inventory report (CSV) of what SeaweedFS lists in ``source``."""
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=source):
        for o in page.get("Contents", []):
            etag = o["ETag"].strip('"')
            rows.append({"Key": o["Key"], "Size": o["Size"], "ETag": etag,
                         "LastModifiedDate": o["LastModified"], "IsMultipartUploaded": "-" in etag,
                         "StorageClass": o["StorageClass"]})  # fmt: skip
    return inventory_report.put_inventory(
        s3, inventory_bucket, rows, source_bucket=source, files=2, prefix="inv"
    )


def test_inventory_grouper_bundler_verify_restore(s3, sqs, buckets, tmp_path):
    src_b, arch_b, man_b = buckets
    inv_b = src_b + "-inv"
    s3.create_bucket(Bucket=inv_b)
    src = seed(s3, src_b, SIZES)
    first = "photos/img 00+x.jpg"
    s3.put_object(Bucket=src_b, Key=first, Body=src.data[first], Metadata={"m": "1"},
                  ContentType="image/jpeg", Tagging="k=v", **HEADERS)  # fmt: skip
    src.metadata[first], src.tags[first] = {"m": "1"}, {"k": "v"}
    for alg in ("CRC32", "CRC32C", "SHA256"):
        src.data[f"ck/{alg}"] = alg.encode() * 100
        s3.put_object(Bucket=src_b, Key=f"ck/{alg}", Body=src.data[f"ck/{alg}"],
                      ChecksumAlgorithm=alg)  # fmt: skip
    manifest_json = inventory_of(s3, src_b, inv_b)
    s3.delete_object(Bucket=src_b, Key="photos/img 13+x.jpg")  # gone since the inventory

    queue = make_queue(sqs, f"{man_b}-q", visibility=60)
    grouped = run_cli(
        "s3grouper", "-m", manifest_json, "-b", man_b, "-p", "sub", "-c", "12", "--queue", queue
    )
    assert grouped.returncode == 0, grouped.stderr
    subs = sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=man_b, Prefix="sub/")["Contents"]
        if o["Key"].endswith(".index")
    )  # fmt: skip
    assert len(subs) == 2
    worker = run_cli(
        "s3bundler", "-q", queue, "-b", arch_b, "-s", "10MB", "--max-messages", "2",
        "--idle-exit", "3", "-v",
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    prefixes = {"": "archives", "gzip": "gz", "zstd": "zst"}
    for key in subs:  # the same sub-manifests again, compressed, under other prefixes
        for codec in ("gzip", "zstd"):
            packed = run_cli("s3bundler", "-m", f"s3://{man_b}/{key}", "-b", arch_b,
                             "-p", prefixes[codec], "--compress", codec, "-s", "10MB")  # fmt: skip
            assert packed.returncode == 0, packed.stderr

    rows, dlq = [], []
    for n, (key, codec) in enumerate((k, c) for k in subs for c in prefixes):
        (tmp_path / str(n)).mkdir()
        manifest = S3Uri(man_b, key)
        out = manifest_outputs(manifest, src_b, arch_b, prefixes[codec], codec)
        got = list(read_index(get_bytes(s3, out.index_uri)))
        archive = out.archive_uri
        check_tar(get_bytes(s3, archive), got, src, tmp_path / str(n), codec)
        verified = run_cli("s3bundler", "verify", str(archive))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        if not codec:
            rows += got
            if s3.list_objects_v2(Bucket=man_b, Prefix=key + ".dlq").get("KeyCount"):
                dlq += list(read_dlq(get_bytes(s3, S3Uri(man_b, key + ".dlq"))))
    by_key = {r.key: r for r in rows}
    assert set(by_key) == set(src.data) - {"big/twelve-mib.bin", "photos/img 13+x.jpg"}
    assert [(r.key, r.reason) for r in dlq] == [("photos/img 13+x.jpg", "NoSuchKey")]
    for key, row in by_key.items():
        assert row.tags == src.tags.get(key, {}), key
        assert row.metadata == src.metadata.get(key, {}), key
    for alg in ("CRC32", "CRC32C", "SHA256"):
        assert by_key[f"ck/{alg}"].checksum.startswith(f"{alg}:")
    assert by_key[first].content_type == "image/jpeg"
    assert HEADERS.items() <= by_key[first].headers.items()

    # find, then restore: to a file (ranged GET), into S3 server-side from the .tar (verified
    # by the CRC32C SeaweedFS returns for the copied range), from the .tar.gz and the .tar.zst.
    catalog = f"s3://{arch_b}/archives"
    found = run_cli("s3bundler", "find", f"s3://{src_b}/{first}", "--catalog", catalog)
    assert found.returncode == 0 and "archived in s3://" in found.stdout, found.stderr
    target = tmp_path / "restored.jpg"
    to_file = run_cli("s3bundler", "restore", f"s3://{src_b}/{first}", "--catalog", catalog,
                      "-o", str(target))  # fmt: skip
    assert to_file.returncode == 0, to_file.stderr
    assert target.read_bytes() == src.data[first]
    into_s3 = run_cli("s3bundler", "restore", f"s3://{src_b}/{first}", "--catalog", catalog,
                      "--to", f"s3://{arch_b}/back/")  # fmt: skip
    assert into_s3.returncode == 0, into_s3.stderr
    assert "1 by crc32c" in into_s3.stderr
    back = s3.get_object(Bucket=arch_b, Key=f"back/{first}")
    assert back["Body"].read() == src.data[first]
    assert (back["ContentType"], back["Metadata"], back["CacheControl"]) == (
        "image/jpeg", {"m": "1"}, "max-age=60",
    )  # fmt: skip
    tags = s3.get_object_tagging(Bucket=arch_b, Key=f"back/{first}")["TagSet"]
    assert tags == [{"Key": "k", "Value": "v"}]
    from_gz = run_cli("s3bundler", "restore", f"s3://{src_b}/unicode/日本語-ü.txt", "--catalog",
                      f"s3://{arch_b}/gz", "--to", f"s3://{arch_b}/back-gz/")  # fmt: skip
    assert from_gz.returncode == 0, from_gz.stderr
    restored = get_bytes(s3, S3Uri(arch_b, "back-gz/unicode/日本語-ü.txt"))
    assert restored == src.data["unicode/日本語-ü.txt"]
    from_zst = run_cli("s3bundler", "restore", f"s3://{src_b}/{first}", "--catalog",
                       f"s3://{arch_b}/zst", "-o", str(tmp_path / "from-zst"))  # fmt: skip
    assert from_zst.returncode == 0, from_zst.stderr
    assert (tmp_path / "from-zst").read_bytes() == src.data[first]

    # The big object: copied server-side (CopyObject pinned by CopySourceIfMatch).
    big = run_cli("s3bundler", "find", f"s3://{src_b}/big/twelve-mib.bin", "--catalog", catalog)
    copy = parse_s3_uri(big.stdout.split("copied to ")[1].split()[0])
    assert get_bytes(s3, copy) == src.data["big/twelve-mib.bin"]
    assert s3.head_object(Bucket=copy.bucket, Key=copy.key)["Metadata"] == src.metadata.get(
        "big/twelve-mib.bin", {}
    )
