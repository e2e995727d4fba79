"""The benchmark endpoint's put sink (bench/endpoint/sinks.py), which the grouper benchmark sends
sub-manifests to: it must check what it receives and never pass for a store it is not."""

import base64
import hashlib
import zlib

import botocore.exceptions
import pytest

from bench.endpoint.process import BenchServer
from bench.grouper_bench import WORK_BUCKET, grouper_case, verify_output


@pytest.fixture(scope="module")
def server():
    with BenchServer(tls=True) as srv:
        yield srv


@pytest.fixture()
def s3(server):
    client = server.client()
    client.create_bucket(Bucket="sinktest")
    server.set_put_sink("sinktest/run/*.index")
    yield client
    server.set_put_sink(None)


def _crc(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_sunk_put_is_checked_counted_and_answers_head(server, s3):
    body = b"header\nrow1\nrow2\n"
    # no checksum given: over HTTPS botocore streams it aws-chunked with a CRC32 trailer
    s3.put_object(Bucket="sinktest", Key="run/a.0.index", Body=body, Metadata={"m": "v"})
    s3.put_object(Bucket="sinktest", Key="run/a.1.index", Body=body, ChecksumCRC32=_crc(body))
    md5 = hashlib.md5(body)
    content_md5 = base64.b64encode(md5.digest()).decode()
    s3.put_object(Bucket="sinktest", Key="run/a.2.index", Body=body, ContentMD5=content_md5)
    etag = s3.head_object(Bucket="sinktest", Key="run/a.2.index")["ETag"]
    assert etag == f'"{md5.hexdigest()}"'  # checked, so it can be the ETag
    sunk = server.counts()["put_sink_objects"]
    assert sunk["sinktest/run/a.0.index"]["size"] == len(body)
    assert sunk["sinktest/run/a.0.index"]["crc32"] == _crc(body)
    assert sunk["sinktest/run/a.0.index"]["lines"] == 3
    assert sunk["sinktest/run/a.1.index"]["lines"] == 3
    head = s3.head_object(Bucket="sinktest", Key="run/a.0.index")
    assert head["ContentLength"] == len(body) and head["Metadata"] == {"m": "v"}
    with pytest.raises(botocore.exceptions.ClientError, match="NotImplemented"):
        s3.get_object(Bucket="sinktest", Key="run/a.0.index")  # the body was not kept
    with pytest.raises(botocore.exceptions.ClientError, match="NotImplemented"):
        s3.list_objects_v2(Bucket="sinktest", Prefix="run/")  # would miss sunk keys
    s3.delete_object(Bucket="sinktest", Key="run/a.0.index")
    with pytest.raises(botocore.exceptions.ClientError, match="404"):
        s3.head_object(Bucket="sinktest", Key="run/a.0.index")  # gone (moto never had it)
    # keys outside the pattern are stored by moto as usual
    s3.put_object(Bucket="sinktest", Key="run/a.job.json", Body=b"{}")
    assert s3.get_object(Bucket="sinktest", Key="run/a.job.json")["Body"].read() == b"{}"
    assert "sinktest/run/a.job.json" not in server.counts()["put_sink_objects"]


def test_sunk_multipart_upload_is_checked_counted_and_answers_head(server, s3):
    body = b"header\nrow1\nrow2\n"
    key = "run/m.0.index"
    upload = s3.create_multipart_upload(
        Bucket="sinktest", Key=key, ContentType="text/csv", Metadata={"m": "v"},
        ChecksumAlgorithm="CRC32",
    )["UploadId"]  # fmt: skip
    with pytest.raises(botocore.exceptions.ClientError, match="BadDigest"):
        server.client(retries={"max_attempts": 1}).upload_part(
            Bucket="sinktest", Key=key, UploadId=upload, PartNumber=1, Body=body,
            ChecksumCRC32=_crc(b"x"),
        )  # fmt: skip
    etag = s3.upload_part(
        Bucket="sinktest", Key=key, UploadId=upload, PartNumber=1, Body=body,
        ChecksumCRC32=_crc(body),
    )["ETag"]  # fmt: skip
    assert "sinktest/run/m.0.index" not in server.counts()["put_sink_objects"]  # not yet
    s3.complete_multipart_upload(
        Bucket="sinktest", Key=key, UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag, "ChecksumCRC32": _crc(body)}]},
    )  # fmt: skip
    sunk = server.counts()["put_sink_objects"]["sinktest/run/m.0.index"]
    assert (sunk["size"], sunk["lines"]) == (len(body), 3)
    head = s3.head_object(Bucket="sinktest", Key=key)
    assert head["ContentLength"] == len(body) and head["Metadata"] == {"m": "v"}
    assert head["ContentType"] == "text/csv"
    aborted = s3.create_multipart_upload(Bucket="sinktest", Key="run/m.1.index")["UploadId"]
    s3.abort_multipart_upload(Bucket="sinktest", Key="run/m.1.index", UploadId=aborted)
    assert "sinktest/run/m.1.index" not in server.counts()["put_sink_objects"]


def test_sunk_put_with_a_wrong_checksum_is_refused(server, s3):
    s3 = server.client(retries={"max_attempts": 1})  # botocore retries BadDigest
    body = b"header\nrow\n"
    with pytest.raises(botocore.exceptions.ClientError, match="BadDigest"):
        s3.put_object(Bucket="sinktest", Key="run/b.0.index", Body=body, ChecksumCRC32=_crc(b"x"))
    wrong_md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    with pytest.raises(botocore.exceptions.ClientError, match="Content-MD5 does not match"):
        s3.put_object(Bucket="sinktest", Key="run/b.0.index", Body=body, ContentMD5=wrong_md5)
    assert "sinktest/run/b.0.index" not in server.counts()["put_sink_objects"]


@pytest.mark.parametrize("put_sink", [True, False])
def test_grouper_bench_verifies_every_row(server, put_sink):
    s3 = server.client()
    result = grouper_case(server, s3, "CSV", 3000, files=2, put_sink=put_sink, log=lambda _: None)
    assert 0 < result["objects"] < 3000  # some rows are skipped (archived objects)
    assert result["submanifests"] >= 1 and result["put_requests"] == result["submanifests"] + 1
    sunk = [k for k in server.counts()["put_sink_objects"] if k.startswith(f"{WORK_BUCKET}/")]
    assert len(sunk) == (result["submanifests"] if put_sink else 0)
    if put_sink:  # and it would notice a row missing
        received = server.counts()["put_sink_objects"]
        received[sunk[-1]]["lines"] -= 1
        with pytest.raises(RuntimeError, match="rows in the sub-manifests, summary says"):
            verify_output(s3, result["inventory"], "bench-CSV-3000", 3000, received)
        del received[sunk[0]]
        with pytest.raises(RuntimeError, match="sub-manifests received"):
            verify_output(s3, result["inventory"], "bench-CSV-3000", 3000, received)
    server.reset_state()
