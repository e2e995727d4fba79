"""Objects on SeaweedFS through the bundler: a streamed object resumed after its connection is
cut, S3's additional checksums, tags and metadata by both GET clients, big-object copies."""

from __future__ import annotations

import hashlib

import pytest

from s3bundler.index import read_index
from s3bundler.layout import bigobject_key
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry
from tests.helpers import run_cli
from tests.s3bundler.e2e import outputs_for
from tests.s3bundler.sources import get_bytes, payload, put_manifest, seed
from tests.seaweedfs.cut_proxy import CutProxy

pytestmark = pytest.mark.seaweedfs

MiB = 1 << 20


def put_multipart(s3, bucket: str, key: str, body: bytes, part: int = 5 * MiB) -> str:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for n, start in enumerate(range(0, len(body), part), start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n,
                           Body=body[start : start + part])  # fmt: skip
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    return done["ETag"].strip('"')


def test_streamed_object_resumes_after_a_cut_connection(s3, buckets, seaweedfs):
    """A 12 MiB multipart object (streamed: above 8 MiB, in ranged GETs pinned by If-Match)
    whose first range is cut after 3 MiB: that range is read again, and the object verified
    against its multipart ETag (part layout from HEAD ?partNumber=1: SeaweedFS returns no
    checksum for a multipart object)."""
    src_b, arch_b, man_b = buckets
    body = payload("multi", 12 * MiB)
    etag = put_multipart(s3, src_b, "cut/multi part.bin", body)
    assert etag.endswith("-3")
    plain = payload("plain", 9 * MiB)
    s3.put_object(Bucket=src_b, Key="plain/nine.bin", Body=plain)
    got = s3.get_object(Bucket=src_b, Key="cut/multi part.bin", ChecksumMode="ENABLED")
    assert not [h for h in got["ResponseMetadata"]["HTTPHeaders"] if "checksum" in h]
    got["Body"].close()
    manifest = put_manifest(s3, man_b, "p/cut.0.index", [
        ManifestEntry(src_b, "cut/multi part.bin", len(body)),
        ManifestEntry(src_b, "plain/nine.bin", len(plain)),
    ])  # fmt: skip
    port = int(seaweedfs.url.rsplit(":", 1)[1])
    with CutProxy(port, "/cut/multi%20part.bin", after=3 * MiB) as proxy:
        result = run_cli("s3bundler", "-m", str(manifest), "-b", arch_b, "-v",
                         env={"AWS_ENDPOINT_URL_S3": proxy.url})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert proxy.cuts == 1
    assert f"re-reading s3://{src_b}/cut/multi part.bin bytes 0-" in result.stderr
    out = outputs_for(manifest, src_b, arch_b)
    rows = {r.key: r for r in read_index(get_bytes(s3, out.index_uri))}
    tar = get_bytes(s3, out.archive_uri)
    for key, data in (("cut/multi part.bin", body), ("plain/nine.bin", plain)):
        row = rows[key]
        assert row.md5 == hashlib.md5(data).hexdigest()
        assert tar[row.offset : row.offset + row.size] == data
    assert rows["plain/nine.bin"].checksum.startswith("CRC32:")  # botocore's default on PUT
    assert run_cli("s3bundler", "verify", str(out.archive_uri)).returncode == 0


@pytest.mark.parametrize("get_client", ["crt", "boto3"])
def test_checksums_tags_metadata_and_headers(s3, buckets, get_client):
    """Objects put with ChecksumAlgorithm: SeaweedFS stores and returns every full-object
    checksum the bundler verifies (CRC32, CRC32C, SHA1, SHA256, CRC64NVME), and the index
    records it; tags (announced by x-amz-tagging-count), metadata and headers are kept."""
    src_b, arch_b, man_b = buckets
    algorithms = ("CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME")
    for alg in algorithms:
        s3.put_object(Bucket=src_b, Key=f"ck/{alg}", Body=alg.encode() * 50,
                      ChecksumAlgorithm=alg, Tagging=f"alg={alg}&n=1",
                      Metadata={"alg": alg.lower()}, CacheControl="no-cache",
                      ContentType="application/x-ck")  # fmt: skip
    head = s3.get_object(Bucket=src_b, Key="ck/CRC32")["ResponseMetadata"]["HTTPHeaders"]
    # SeaweedFS announces tags as S3 does, and also sends each one as a header of its own
    # (not an AWS header; the bundler ignores it).
    assert head["x-amz-tagging-count"] == "2" and head["x-amz-tagging-alg"] == "CRC32"
    entries = [ManifestEntry(src_b, f"ck/{alg}", 50 * len(alg)) for alg in algorithms]
    manifest = put_manifest(s3, man_b, "p/ck.0.index", entries)
    result = run_cli("s3bundler", "-m", str(manifest), "-b", arch_b, "--get-client", get_client)
    assert result.returncode == 0, result.stderr
    assert "announced none" not in result.stderr  # the tags probe found the header honest
    rows = list(read_index(get_bytes(s3, outputs_for(manifest, src_b, arch_b).index_uri)))
    for alg, row in zip(algorithms, rows, strict=True):
        assert row.checksum.startswith(f"{alg}:"), row.checksum
        assert row.tags == {"alg": alg, "n": "1"} and row.metadata == {"alg": alg.lower()}
        assert (row.content_type, row.headers.get("CacheControl")) == (
            "application/x-ck", "no-cache"
        )  # fmt: skip


def test_big_object_copies_single_and_multipart(s3, buckets):
    """CopyObject (``-s`` lowered) through the CLI, and UploadPartCopy in-process with the
    multipart threshold lowered so a 13 MiB object is copied in 5 MiB parts; metadata, content
    type and tags kept on both."""
    from s3bundler.archiver import BundlerConfig, ManifestJob

    src_b, arch_b, man_b = buckets
    src = seed(s3, src_b, {"big/one.bin": 3 * MiB, "big/two.bin": 13 * MiB}, meta_every=1,
               tag_every=2)  # fmt: skip
    s3.put_object_tagging(Bucket=src_b, Key="big/one.bin",
                          Tagging={"TagSet": [{"Key": "keep", "Value": "yes"}]})  # fmt: skip
    one = put_manifest(s3, man_b, "p/one.0.index", [ManifestEntry(src_b, "big/one.bin", 3 * MiB)])
    result = run_cli("s3bundler", "-m", str(one), "-b", arch_b, "-s", "1MB")
    assert result.returncode == 0, result.stderr
    two = put_manifest(s3, man_b, "p/two.0.index", [ManifestEntry(src_b, "big/two.bin", 13 * MiB)])
    config = BundlerConfig(archive_bucket=arch_b, maxsize=MiB,
                           copy_multipart_threshold=6 * MiB, copy_part_size=5 * MiB)  # fmt: skip
    job = ManifestJob(s3, config, two).run()
    assert (job.counts.copied, job.counts.failed) == (1, 0)
    for key, parts in (("big/one.bin", ""), ("big/two.bin", "-3")):
        copy = bigobject_key("archives", src_b, key)
        head = s3.head_object(Bucket=arch_b, Key=copy)
        assert head["ETag"].strip('"').endswith(parts) and ("-" in head["ETag"]) == bool(parts)
        assert head["Metadata"] == src.metadata[key]
        assert head["ContentType"] == "text/x-test"
        assert get_bytes(s3, S3Uri(arch_b, copy)) == src.data[key]
        tags = s3.get_object_tagging(Bucket=arch_b, Key=copy)["TagSet"]
        want = {"keep": "yes"} if key == "big/one.bin" else src.tags.get(key, {})
        assert {t["Key"]: t["Value"] for t in tags} == want
    assert not s3.list_multipart_uploads(Bucket=arch_b).get("Uploads")
