"""boto3 reads: whole small objects, resumable streams, tags; errors and buffering limits."""

from __future__ import annotations

import io

import botocore.exceptions
import pytest

from s3bundler import dlq
from s3bundler.boto_reads import fetch_whole
from s3bundler.failures import ObjectFailed
from s3bundler.fetched import TooBigToBuffer
from s3common.errors import DownloadError
from s3common.submanifest import ManifestEntry
from tests.s3bundler.s3_answers import client_error, md5, response

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
