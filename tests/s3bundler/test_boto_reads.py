"""boto3 reads: whole small objects, resumable streams, tags; errors and buffering limits."""

from __future__ import annotations

import io
import json
import urllib.request

import boto3
import botocore.exceptions
import pytest

from s3bundler import dlq
from s3bundler.boto_reads import ObjectStream, fetch_whole
from s3bundler.failures import ObjectFailed
from s3bundler.fetched import TooBigToBuffer
from s3common.errors import DownloadError
from s3common.local_endpoint import MotoServer
from s3common.submanifest import ManifestEntry
from tests.s3bundler.s3_answers import client_error, md5, response
from tests.s3bundler.sources import deny_get

# --- fetch_whole with a hand-made client ---------------------------------------------------------


class FakeBody:
    def __init__(self, data: bytes, fail: BaseException | None = None) -> None:
        self._io = io.BytesIO(data)
        self._fail = fail
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        if self._fail is not None:
            raise self._fail
        return self._io.read(n)

    def close(self) -> None:
        self.closed = True


class FakeS3:
    """``get_object`` returns the queued responses in turn."""

    def __init__(self, *responses: dict | BaseException, tags: list | None = None) -> None:
        self.responses = list(responses)
        self.calls: list[dict] = []
        self.tags = tags or []

    def get_object(self, **kw):
        self.calls.append(kw)
        resp = self.responses.pop(0)
        if isinstance(resp, BaseException):
            raise resp
        return resp

    def get_object_tagging(self, **kw):
        return {"TagSet": self.tags}


def fake_response(data: bytes, etag: str | None = None, **kw) -> dict:
    return response(
        Body=FakeBody(data, kw.pop("fail", None)),
        ContentLength=len(data),
        ETag=f'"{etag if etag is not None else md5(data)}"',
        **kw,
    )


def test_fetch_whole_checksum_mismatch_on_wrong_etag():
    fake = FakeS3(fake_response(b"hello", etag="0" * 32))
    with pytest.raises(ObjectFailed) as err:
        fetch_whole(fake, ManifestEntry("b", "k", 5), 100)
    assert err.value.reason == dlq.CHECKSUM_MISMATCH
    assert md5(b"hello") in err.value.detail


def test_fetch_whole_multipart_etag_is_not_compared():
    fake = FakeS3(fake_response(b"hello", etag="0" * 32 + "-2"))
    got = fetch_whole(fake, ManifestEntry("b", "k", 5), 100)
    assert got.data == b"hello" and got.md5 == md5(b"hello")


def test_fetch_whole_ok_with_tags_version_and_flags():
    fake = FakeS3(
        fake_response(b"hello", VersionId="v2", TagCount=1),
        tags=[{"Key": "k", "Value": "ü,v"}],
    )
    entry = ManifestEntry("b", "k", 4, version_id="v2")
    got = fetch_whole(fake, entry, 100)
    assert fake.calls[0] == {
        "Bucket": "b",
        "Key": "k",
        "ChecksumMode": "ENABLED",
        "VersionId": "v2",
    }
    assert got.data == b"hello"
    assert got.tags == {"k": "ü,v"}
    assert got.flags == ["size-changed"]


def test_fetch_whole_too_big_closes_body():
    resp = fake_response(b"x" * 101)
    with pytest.raises(TooBigToBuffer):
        fetch_whole(FakeS3(resp), ManifestEntry("b", "k", 5), 100)
    assert resp["Body"].closed


def test_fetch_whole_exactly_at_limit_is_buffered():
    got = fetch_whole(FakeS3(fake_response(b"x" * 100)), ManifestEntry("b", "k", 100), 100)
    assert len(got.data) == 100


def test_fetch_whole_flexible_checksum_error_is_checksum_mismatch():
    bad = fake_response(b"hello", fail=botocore.exceptions.FlexibleChecksumError(error_msg="crc"))
    with pytest.raises(ObjectFailed) as err:
        fetch_whole(FakeS3(bad), ManifestEntry("b", "k", 5), 100)
    assert err.value.reason == dlq.CHECKSUM_MISMATCH


def test_fetch_whole_retries_a_broken_body_then_gives_up():
    broken = [fake_response(b"hello", fail=ConnectionResetError("reset")) for _ in range(2)]
    fake = FakeS3(*broken, fake_response(b"hello"))
    assert fetch_whole(fake, ManifestEntry("b", "k", 5), 100).data == b"hello"
    assert len(fake.calls) == 3

    fake = FakeS3(*[fake_response(b"hello", fail=ConnectionResetError("r")) for _ in range(3)])
    with pytest.raises(DownloadError, match="s3://b/k"):
        fetch_whole(fake, ManifestEntry("b", "k", 5), 100)


def test_fetch_whole_maps_errors():
    with pytest.raises(ObjectFailed) as err:
        fetch_whole(FakeS3(client_error("AccessDenied")), ManifestEntry("b", "k", 5), 100)
    assert err.value.reason == dlq.ACCESS_DENIED
    no_answer = botocore.exceptions.EndpointConnectionError(endpoint_url="http://x")
    with pytest.raises(DownloadError):
        fetch_whole(FakeS3(no_answer), ManifestEntry("b", "k", 5), 100)


# --- ObjectStream resume with a hand-made client -------------------------------------------------


class BreakingBody(FakeBody):
    """Serves ``good`` bytes, then raises a connection error."""

    def __init__(self, good: bytes) -> None:
        super().__init__(good)
        self._left = len(good)

    def read(self, n: int = -1) -> bytes:
        if self._left == 0:
            raise ConnectionResetError("connection reset")
        chunk = self._io.read(min(n, self._left))
        self._left -= len(chunk)
        return chunk


def test_object_stream_resumes_with_range_and_if_match():
    data = bytes(range(256)) * 10
    first = response(Body=BreakingBody(data[:1000]), ContentLength=len(data), ETag=f'"{md5(data)}"')
    rest = response(Body=FakeBody(data[1000:]), ContentLength=len(data) - 1000)
    fake = FakeS3(first, rest)
    stream = ObjectStream(fake, ManifestEntry("b", "k", len(data)), chunk_size=300)
    assert b"".join(stream.chunks()) == data
    assert stream.md5 == md5(data)
    assert fake.calls[1]["Range"] == "bytes=1000-"
    assert fake.calls[1]["IfMatch"] == f'"{md5(data)}"'


def test_object_stream_changed_on_resume():
    data = b"z" * 100
    first = response(Body=BreakingBody(data[:10]), ContentLength=100, ETag=f'"{md5(data)}"')
    fake = FakeS3(first, client_error("PreconditionFailed"))
    stream = ObjectStream(fake, ManifestEntry("b", "k", 100), chunk_size=10)
    with pytest.raises(ObjectFailed) as err:
        b"".join(stream.chunks())
    assert err.value.reason == dlq.CHANGED


def test_object_stream_short_body_is_a_download_error():
    resp = response(Body=FakeBody(b"abc"), ContentLength=10, ETag='"x-1"')
    stream = ObjectStream(FakeS3(resp), ManifestEntry("b", "k", 10), chunk_size=4)
    with pytest.raises(DownloadError, match="body ended at 3 of 10"):
        b"".join(stream.chunks())


# --- a stream verifies what it read, resumed or not ---------------------------------------------


def multipart_etag(data: bytes, sizes: list[int]) -> str:
    import hashlib

    digests, at = b"", 0
    for size in sizes:
        digests += hashlib.md5(data[at : at + size]).digest()
        at += size
    return f"{hashlib.md5(digests).hexdigest()}-{len(sizes)}"


class PartsS3(FakeS3):
    """FakeS3 that also answers HEAD ?partNumber=N with the part's size."""

    def __init__(self, sizes: list[int], *responses) -> None:
        super().__init__(*responses)
        self.sizes = sizes
        self.heads: list[int] = []

    def head_object(self, **kw):
        self.heads.append(kw["PartNumber"])
        return {"ContentLength": self.sizes[kw["PartNumber"] - 1]}


def resumed(data: bytes, cut: int, etag: str, rest: bytes | None = None, **kw) -> list[dict]:
    """A GET whose body breaks after ``cut`` bytes, then the ranged GET that resumes it."""
    rest = data[cut:] if rest is None else rest
    first = response(Body=BreakingBody(data[:cut]), ContentLength=len(data), ETag=f'"{etag}"', **kw)
    return [first, response(Body=FakeBody(rest), ContentLength=len(rest))]


def test_a_corrupted_resumed_range_of_a_multipart_object_is_a_checksum_mismatch():
    data = bytes(range(256)) * 40  # 10,240 bytes in parts of 4,096
    sizes = [4096, 4096, 2048]
    etag = multipart_etag(data, sizes)
    corrupt = bytearray(data[5000:])
    corrupt[3000] ^= 0x01
    fake = PartsS3(sizes, *resumed(data, 5000, etag, bytes(corrupt)))
    stream = ObjectStream(fake, ManifestEntry("b", "k", len(data)), chunk_size=1000)
    with pytest.raises(ObjectFailed) as err:
        b"".join(stream.chunks())
    assert err.value.reason == dlq.CHECKSUM_MISMATCH
    assert "multipart ETag" in err.value.detail and "resumed 1x" in err.value.detail
    assert stream.read == len(data)  # every byte handed out: the caller leaves it unindexed

    good = PartsS3(sizes, *resumed(data, 5000, etag))
    stream = ObjectStream(good, ManifestEntry("b", "k", len(data)), chunk_size=1000)
    assert b"".join(stream.chunks()) == data
    assert good.heads == [1]  # one HEAD: part 1's size gives the layout


def test_a_corrupted_resumed_range_fails_the_full_object_checksum():
    import base64
    import zlib

    data = b"0123456789" * 1000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    corrupt = bytearray(data[4000:])
    corrupt[10] ^= 0x40
    fake = FakeS3(*resumed(data, 4000, md5(data) + "-3", bytes(corrupt), ChecksumCRC32=crc))
    stream = ObjectStream(fake, ManifestEntry("b", "k", len(data)), chunk_size=999)
    with pytest.raises(ObjectFailed) as err:
        b"".join(stream.chunks())
    assert err.value.reason == dlq.CHECKSUM_MISMATCH
    assert err.value.detail.startswith("CRC32 of bytes read") and "resumed 1x" in err.value.detail


def test_parts_of_unequal_sizes_are_verified_by_reading_again():
    data = bytes(range(256)) * 30  # 7,680 bytes
    sizes = [2000, 3000, 2680]  # part 1 suggests 2000-byte parts: wrong
    etag = multipart_etag(data, sizes)
    again = response(Body=FakeBody(data), ContentLength=len(data))
    fake = PartsS3(sizes, *resumed(data, 3000, etag), again)
    fake.responses[-1]["Body"].iter_chunks = lambda n: iter([data[:n], data[n:]])
    stream = ObjectStream(fake, ManifestEntry("b", "k", len(data)), chunk_size=1000)
    assert b"".join(stream.chunks()) == data
    assert fake.heads == [1, 1, 2, 3]
    assert fake.calls[-1]["IfMatch"] == f'"{etag}"'


# --- against the local endpoint ------------------------------------------------------------------


def test_fetch_whole_against_local_s3(s3, bucket):
    s3.put_object(
        Bucket=bucket,
        Key="dir/ü k,1",
        Body=b"hello",
        Metadata={"who": "me"},
        Tagging="t1=v1&t2=%C3%BC",
    )
    got = fetch_whole(s3, ManifestEntry(bucket, "dir/ü k,1", 5), 1024)
    assert got.data == b"hello"
    assert got.md5 == md5(b"hello") == got.info.etag
    assert got.info.plain_md5_etag
    assert got.info.metadata == {"who": "me"}
    assert got.tags == {"t1": "v1", "t2": "ü"}
    assert got.flags == []
    with pytest.raises(TooBigToBuffer):
        fetch_whole(s3, ManifestEntry(bucket, "dir/ü k,1", 5), 4)


def test_object_stream_against_local_s3(s3, bucket):
    data = bytes(range(256)) * 40
    s3.put_object(Bucket=bucket, Key="s", Body=data)
    stream = ObjectStream(s3, ManifestEntry(bucket, "s", len(data)), chunk_size=1000)
    chunks = list(stream.chunks())
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) == 1000
    assert stream.md5 == md5(data) == stream.info.etag


@pytest.mark.parametrize(
    ("setup", "entry_key", "reason"),
    [
        (None, "missing", dlq.NO_SUCH_KEY),
        ("GLACIER", "cold", dlq.GLACIER),
        ("DEEP_ARCHIVE", "colder", dlq.GLACIER),
    ],
)
def test_fetch_whole_failures_against_local_s3(s3, bucket, setup, entry_key, reason):
    if setup:
        s3.put_object(Bucket=bucket, Key=entry_key, Body=b"x", StorageClass=setup)
    with pytest.raises(ObjectFailed) as err:
        fetch_whole(s3, ManifestEntry(bucket, entry_key, 1), 1024)
    assert err.value.reason == reason


def test_missing_bucket_against_local_s3(s3):
    with pytest.raises(ObjectFailed) as err:
        fetch_whole(s3, ManifestEntry("no-such-bucket-4711", "k", 1), 1024)
    assert err.value.reason == dlq.NO_SUCH_BUCKET


# --- AccessDenied from the local endpoint ---------------------------------------------------------


def test_access_denied_by_bucket_policy_against_local_s3(s3, bucket):
    """moto enforces an explicit Deny in a bucket policy on every key request, for any caller
    and without IAM mode. It answers GET (and GET ?tagging) with a bare 403 (error code "403"),
    HEAD and CopyObject are not checked."""
    s3.put_object(Bucket=bucket, Key="secret/ü k,1", Body=b"no")
    s3.put_object(Bucket=bucket, Key="open", Body=b"yes")
    deny_get(s3, bucket, "secret/")
    with pytest.raises(ObjectFailed) as err:
        fetch_whole(s3, ManifestEntry(bucket, "secret/ü k,1", 2), 1024)
    assert err.value.reason == dlq.ACCESS_DENIED
    assert fetch_whole(s3, ManifestEntry(bucket, "open", 3), 1024).data == b"yes"


def _reset_auth(url: str, value: str) -> None:
    req = urllib.request.Request(
        f"{url}/moto-api/reset-auth",
        data=value.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # a form content type hides the body: HTTP 500
    )
    urllib.request.urlopen(req, timeout=10).close()


@pytest.fixture(scope="module")
def iam_denied_s3():
    """A separate moto server in IAM mode and an S3 client for an IAM user whose policy allows
    everything but s3:GetObject on ``iam-bucket/denied.txt``.

    IAM mode is switched on at run time with ``POST /moto-api/reset-auth`` (body ``0``: enforce
    from the next request; ``inf``: off). Once on, every request must be signed with the user's
    keys (``AKIA...``) and *no* session token (InvalidToken otherwise); moto then recomputes
    SigV4 and gets it wrong for keys that need percent-encoding beyond spaces (``,`` ``+``
    quotes, non-ASCII -> SignatureDoesNotMatch), so keep keys to ``[A-Za-z0-9 ._~/-]``.
    """
    with MotoServer() as server:
        admin = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        s3 = admin.client("s3", endpoint_url=server.url)
        s3.create_bucket(Bucket="iam-bucket")
        s3.put_object(Bucket="iam-bucket", Key="denied.txt", Body=b"no")
        s3.put_object(Bucket="iam-bucket", Key="dir/ok file.txt", Body=b"yes")
        iam = admin.client("iam", endpoint_url=server.url)
        iam.create_user(UserName="bundler")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::iam-bucket/denied.txt",
                },
            ],
        }
        iam.put_user_policy(
            UserName="bundler", PolicyName="deny-one", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="bundler")["AccessKey"]
        user = boto3.Session(
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            region_name="us-east-1",
        )
        _reset_auth(server.url, "0")
        try:
            yield user.client("s3", endpoint_url=server.url), s3
        finally:
            _reset_auth(server.url, "inf")


def test_access_denied_by_iam_policy_against_local_s3(iam_denied_s3):
    user_s3, admin_s3 = iam_denied_s3
    with pytest.raises(ObjectFailed) as err:
        fetch_whole(user_s3, ManifestEntry("iam-bucket", "denied.txt", 2), 1024)
    assert err.value.reason == dlq.ACCESS_DENIED
    assert err.value.detail.startswith("AccessDenied")  # a real S3 error document
    got = fetch_whole(user_s3, ManifestEntry("iam-bucket", "dir/ok file.txt", 3), 1024)
    assert got.data == b"yes"
    with pytest.raises(botocore.exceptions.ClientError) as exc:  # old credentials are refused
        admin_s3.get_object(Bucket="iam-bucket", Key="dir/ok file.txt")
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"
