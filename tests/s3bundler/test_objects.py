"""Reading source objects: error -> DLQ reason mapping, integrity checks, buffering limits."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import urllib.request
from datetime import UTC, datetime, timedelta, timezone

import boto3
import botocore.exceptions
import pytest

from s3bundler import dlq
from s3bundler.objects import (
    BodyChecksum,
    ObjectFailed,
    ObjectInfo,
    ObjectStream,
    TooBigToBuffer,
    fetch_whole,
    full_object_checksum,
    iso8601,
    reason_for,
)
from s3common.errors import DownloadError
from s3common.local_endpoint import MotoServer
from s3common.submanifest import ManifestEntry
from tests.s3bundler.sources import deny_get

WHEN = datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def client_error(code: str, op: str = "GetObject") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "msg"}}, op)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --- reason mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("NoSuchKey", dlq.NO_SUCH_KEY),
        ("NoSuchVersion", dlq.NO_SUCH_KEY),
        ("404", dlq.NO_SUCH_KEY),
        ("NoSuchBucket", dlq.NO_SUCH_BUCKET),
        ("AccessDenied", dlq.ACCESS_DENIED),
        ("403", dlq.ACCESS_DENIED),
        ("AllAccessDisabled", dlq.ACCESS_DENIED),
        ("InvalidObjectState", dlq.GLACIER),
        ("PreconditionFailed", dlq.CHANGED),
        ("SlowDown", dlq.THROTTLED),
        ("503", dlq.THROTTLED),
        ("ServiceUnavailable", dlq.THROTTLED),
        ("InternalError", dlq.THROTTLED),
        ("RequestTimeout", dlq.THROTTLED),
        ("InvalidRange", dlq.ERROR),
        ("SomethingNew", dlq.ERROR),
    ],
)
def test_reason_for_client_errors(code, reason):
    assert reason_for(client_error(code)) == reason


def test_reason_for_other_exceptions():
    assert reason_for(botocore.exceptions.FlexibleChecksumError(error_msg="crc")) == (
        dlq.CHECKSUM_MISMATCH
    )
    assert reason_for(RuntimeError("x")) == dlq.ERROR
    assert all(r in dlq.REASONS for r in (dlq.THROTTLED, dlq.GLACIER, dlq.CHANGED))


def test_iso8601():
    assert iso8601(WHEN) == "2024-01-02T03:04:05.678Z"
    plus2 = timezone(timedelta(hours=2))
    assert iso8601(datetime(2024, 1, 2, 5, 4, 5, tzinfo=plus2)) == "2024-01-02T03:04:05.000Z"


# --- ObjectInfo ----------------------------------------------------------------------------------


def response(**kw) -> dict:
    base = {
        "ContentLength": 5,
        "ETag": f'"{md5(b"hello")}"',
        "LastModified": WHEN,
        "ContentType": "text/plain",
        "Metadata": {"a": "b"},
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    base.update(kw)
    return base


def test_from_response_plain_object():
    info = ObjectInfo.from_response(response(VersionId="v9", TagCount=2, StorageClass="GLACIER_IR"))
    assert info.size == 5
    assert info.etag == md5(b"hello")
    assert info.plain_md5_etag is True
    assert info.version_id == "v9"
    assert info.tag_count == 2
    assert info.storage_class == "GLACIER_IR"
    assert info.metadata == {"a": "b"}
    assert "ResponseMetadata" not in info.raw and "Body" not in info.raw


def test_from_response_defaults():
    info = ObjectInfo.from_response(response(), version_id="from-manifest")
    assert info.version_id == "from-manifest"
    assert info.storage_class == "STANDARD"
    assert info.tag_count == 0
    assert info.checksum == ""


@pytest.mark.parametrize(
    ("extra", "plain"),
    [
        ({}, True),
        ({"ServerSideEncryption": "AES256"}, True),
        ({"ETag": '"d41d8cd98f00b204e9800998ecf8427e-12"'}, False),
        ({"ServerSideEncryption": "aws:kms"}, False),
        ({"ServerSideEncryption": "aws:kms:dsse"}, False),
        ({"SSECustomerAlgorithm": "AES256"}, False),
        ({"ETag": '"not-an-md5"'}, False),
        ({"ETag": ""}, False),
    ],
)
def test_plain_md5_etag(extra, plain):
    assert ObjectInfo.from_response(response(**extra)).plain_md5_etag is plain


def test_full_object_checksum_only():
    info = ObjectInfo.from_response(response(ChecksumCRC32="NhCmhg==", ChecksumType="FULL_OBJECT"))
    assert info.checksum == "CRC32:NhCmhg=="
    info = ObjectInfo.from_response(response(ChecksumSHA256="abc=", ChecksumCRC32C="def="))
    assert info.checksum == "CRC32C:def="  # CRC32C is preferred over SHA256
    composite = ObjectInfo.from_response(response(ChecksumCRC32="x==-3", ChecksumType="COMPOSITE"))
    assert composite.checksum == ""


def test_flags_against_entry():
    info = ObjectInfo.from_response(response())
    same = ManifestEntry("b", "k", 5, etag=f'"{md5(b"hello")}"')
    assert info.flags_against(same) == []
    assert info.flags_against(ManifestEntry("b", "k", None)) == []
    assert info.flags_against(ManifestEntry("b", "k", 6)) == ["size-changed"]
    assert info.flags_against(ManifestEntry("b", "k", 5, etag="0" * 32)) == ["etag-changed"]
    assert info.flags_against(ManifestEntry("b", "k", 4, etag="0" * 32)) == [
        "size-changed",
        "etag-changed",
    ]


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


# --- S3 additional checksums ---------------------------------------------------------------------

CHECK = b"123456789"  # the standard check input for CRCs


def _b64(value: int | bytes, width: int = 0) -> str:
    raw = value if isinstance(value, bytes) else value.to_bytes(width, "big")
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("algorithm", "data", "expected"),
    [
        ("CRC32", CHECK, _b64(0xCBF43926, 4)),
        ("CRC32C", CHECK, _b64(0xE3069283, 4)),
        ("CRC64NVME", CHECK, _b64(0xAE8B14860A799888, 8)),
        ("SHA1", CHECK, _b64(hashlib.sha1(CHECK).digest())),
        ("SHA256", CHECK, _b64(hashlib.sha256(CHECK).digest())),
        ("SHA512", CHECK, _b64(hashlib.sha512(CHECK).digest())),
        ("MD5", CHECK, _b64(hashlib.md5(CHECK).digest())),
        ("XXHASH64", b"", _b64(0xEF46DB3751D8E999, 8)),
        ("XXHASH3", b"", _b64(0x2D06800538D394C2, 8)),
        ("XXHASH128", b"", _b64(0x99AA06D3014798D86001C324468D497F, 16)),
    ],
)
def test_body_checksum_matches_published_check_values(algorithm, data, expected):
    ok = BodyChecksum(f"{algorithm}:{expected}")
    for i in range(0, len(data), 4):  # fed in chunks, as bodies arrive
        ok.update(data[i : i + 4])
    assert ok.mismatch() == ""
    bad = BodyChecksum(f"{algorithm}:{expected}")
    bad.update(data + b"!")
    assert bad.mismatch().startswith(f"{algorithm} of bytes read ")


def test_unknown_or_missing_checksum_is_not_checked():
    for announced in ("", "FUTURE:abc"):
        c = BodyChecksum(announced)
        c.update(b"anything")
        assert c.mismatch() == ""


def test_only_full_object_checksums_are_recorded():
    values = {"CRC32": "AAAAAA==", "SHA256": "x"}
    assert full_object_checksum(values.get, None) == "CRC32:AAAAAA=="
    assert full_object_checksum(values.get, "FULL_OBJECT") == "CRC32:AAAAAA=="
    assert full_object_checksum(values.get, "COMPOSITE") == ""
    assert full_object_checksum({"CRC32C": "abc=-3"}.get, None) == ""  # multipart composite


def test_object_info_from_raw_headers():
    info = ObjectInfo.from_headers(
        {
            "content-length": "5",
            "etag": '"' + md5(b"hello") + '"',
            "last-modified": "Sun, 22 Nov 2026 00:19:01 GMT",
            "x-amz-version-id": "v9",
            "content-type": "text/plain",
            "x-amz-meta-origin": "test",
            "x-amz-storage-class": "STANDARD_IA",
            "x-amz-tagging-count": "2",
            "x-amz-checksum-crc64nvme": "AAAAAAAAAAA=",
            "x-amz-server-side-encryption": "aws:kms",
        }
    )
    assert (info.size, info.etag, info.version_id, info.content_type) == (
        5,
        md5(b"hello"),
        "v9",
        "text/plain",
    )
    assert info.last_modified == datetime(2026, 11, 22, 0, 19, 1, tzinfo=UTC)
    assert (info.metadata, info.storage_class, info.tag_count) == (
        {"origin": "test"},
        "STANDARD_IA",
        2,
    )
    assert info.checksum == "CRC64NVME:AAAAAAAAAAA="
    assert not info.plain_md5_etag  # SSE-KMS: the ETag is not the MD5 of the bytes
