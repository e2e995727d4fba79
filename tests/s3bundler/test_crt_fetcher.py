"""awscrt GETs (s3bundler.crt_fetcher) against the moto server over HTTP, checked field by field
against boto3's answer for the same objects; plus a tiny HTTP server for answers moto cannot
give (a region redirect, a body shorter than its Content-Length)."""

from __future__ import annotations

import base64
import hashlib
import threading
import zlib
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import boto3
import botocore.session
import pytest

from s3bundler import dlq
from s3bundler.boto_reads import BotoFetcher
from s3bundler.crt_fetcher import CrtFetcher
from s3bundler.crt_target import resolve_target
from s3bundler.failures import ObjectFailed
from s3bundler.fetched import Fetched, TooBigToBuffer
from s3bundler.fetchers import make_crt_fetcher
from s3common.errors import DownloadError
from s3common.submanifest import ManifestEntry
from tests.s3bundler.sources import deny_get, payload, seed

KEYS = {
    "plain.txt": 1000,
    "with space/and+plus.bin": 2000,
    "percent%20literal%2Fnot-decoded": 10,
    "unicode/日本語/ファイル-ü-é.txt": 300,
    "tilde~and(parens)!*'.bin": 77,
    "./dot/../dotdot": 12,
    "double//slash": 5,
    "zero-bytes": 0,
    "quarter-mib": 256 * 1024,
}


def crt_for(s3) -> CrtFetcher:
    session = boto3.session.Session()
    return make_crt_fetcher(s3, session, 8)  # type: ignore[return-value]


@pytest.fixture()
def crt(s3):
    """The bundler's awscrt fetcher on the moto server, closed after the test."""
    fetcher = crt_for(s3)
    yield fetcher
    fetcher.close()


def fetch(fetcher, entry: ManifestEntry, limit: int = 1 << 20) -> Fetched:
    return fetcher.submit(entry, limit).result(timeout=30)


def comparable(f: Fetched) -> tuple:
    i = f.info
    return (
        f.entry,
        f.data,
        f.md5,
        f.tags,
        f.flags,
        (i.size, i.etag, i.last_modified, i.version_id, i.content_type, i.metadata),
        (i.storage_class, i.tag_count, i.checksum, i.plain_md5_etag),
    )


def test_crt_and_boto3_read_the_same_objects_the_same_way(s3, bucket, crt):
    src = seed(s3, bucket, KEYS, meta_every=2, tag_every=3)
    s3.put_object(Bucket=bucket, Key="ck/crc32c", Body=b"abc" * 99, ChecksumAlgorithm="CRC32C")
    s3.put_object(Bucket=bucket, Key="ck/sha1", Body=b"xyz" * 33, ChecksumAlgorithm="SHA1")
    entries = [ManifestEntry(bucket, k, len(v)) for k, v in src.data.items()]
    entries += [ManifestEntry(bucket, "ck/crc32c", 297), ManifestEntry(bucket, "ck/sha1", 99)]
    entries.append(ManifestEntry(bucket, "plain.txt", 999, etag="0" * 32))  # changed since
    assert isinstance(crt, CrtFetcher)
    boto = BotoFetcher(s3, 4)
    try:
        crt_got = [crt.submit(e, 1 << 20) for e in entries]
        boto_got = [boto.submit(e, 1 << 20) for e in entries]
        for c, b in zip(crt_got, boto_got, strict=True):
            assert comparable(c.result(timeout=30)) == comparable(b.result(timeout=30))
    finally:
        boto.close()
    got = {f.result().entry.key: f.result() for f in crt_got[: len(src.data)]}
    for key, data in src.data.items():
        assert got[key].data == data
        assert got[key].info.metadata == src.metadata.get(key, {})
        assert got[key].tags == src.tags.get(key, {})
    assert crt_got[-3].result().info.checksum.startswith("CRC32C:")
    assert crt_got[-2].result().info.checksum.startswith("SHA1:")
    assert crt_got[-1].result().flags == ["size-changed", "etag-changed"]


def test_crt_reads_the_listed_version(s3, bucket, crt):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"first")["VersionId"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"second!")
    old = fetch(crt, ManifestEntry(bucket, "v", 5, version_id=v1))
    new = fetch(crt, ManifestEntry(bucket, "v", 7))
    assert (old.data, old.info.version_id) == (b"first", v1)
    assert new.data == b"second!" and new.info.version_id not in ("", v1)


def test_crt_errors_map_to_dlq_reasons_and_too_big(s3, bucket, crt):
    s3.put_object(Bucket=bucket, Key="cold", Body=b"frozen", StorageClass="GLACIER")
    s3.put_object(Bucket=bucket, Key="large", Body=payload("large", 5000))
    cases = {
        ManifestEntry(bucket, "missing", 1): dlq.NO_SUCH_KEY,
        ManifestEntry(bucket + "-gone", "k", 1): dlq.NO_SUCH_BUCKET,
        ManifestEntry(bucket, "cold", 6): dlq.GLACIER,
    }
    for entry, reason in cases.items():
        with pytest.raises(ObjectFailed) as err:
            fetch(crt, entry)
        assert err.value.reason == reason, err.value.detail
        assert err.value.detail.startswith(reason if reason != dlq.GLACIER else "Invalid")
    with pytest.raises(TooBigToBuffer):
        fetch(crt, ManifestEntry(bucket, "large", 100), limit=1000)


def test_crt_access_denied_by_bucket_policy(s3, bucket, crt):
    s3.put_object(Bucket=bucket, Key="secret/b", Body=b"no")
    deny_get(s3, bucket, "secret/")
    with pytest.raises(ObjectFailed) as err:
        fetch(crt, ManifestEntry(bucket, "secret/b", 2))
    assert err.value.reason == dlq.ACCESS_DENIED


def test_no_answer_is_a_download_error(s3):
    """A closed port: nothing S3 said, so the manifest (not the object) fails."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}")
    crt = CrtFetcher(dead, botocore.session.get_session().get_credentials(), 2)
    try:
        with pytest.raises(DownloadError) as err:
            fetch(crt, ManifestEntry("b", "k", 1))
    finally:
        crt.close()
    assert "s3://b/k" in str(err.value)


def test_targets_are_the_requests_botocore_would_send():
    creds = {"aws_access_key_id": "a", "aws_secret_access_key": "b"}
    aws = boto3.client("s3", region_name="eu-west-1", **creds)
    t = resolve_target(aws, "my-bucket")
    assert (t.scheme, t.host, t.path_prefix, t.region) == (
        "https",
        "my-bucket.s3.eu-west-1.amazonaws.com",
        "/",
        "eu-west-1",
    )
    dotted = resolve_target(aws, "my.bucket")  # no virtual host: TLS wildcard would not match
    assert (dotted.host, dotted.path_prefix) == ("s3.eu-west-1.amazonaws.com", "/my.bucket/")
    local = boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9", **creds)
    t = resolve_target(local, "b")
    assert (t.scheme, t.host, t.path_prefix) == ("http", "127.0.0.1:9", "/b/")
    assert t.path(ManifestEntry("b", "a b/c+d~é", None, version_id="v+1/=")) == (
        "/b/a%20b/c%2Bd~%C3%A9?versionId=v%2B1%2F%3D"
    )


# --- answers moto cannot give --------------------------------------------------------------------


class _Scripted(BaseHTTPRequestHandler):
    """Answers every GET with the script's next (status, headers, body, declared length)."""

    script: ClassVar[list[tuple[int, dict[str, str], bytes, int | None]]] = []
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        status, headers, body, length = self.script.pop(0)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)
        if length is not None:
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def scripted():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    _Scripted.script, _Scripted.seen = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class _BotoStandIn:
    """What the fallback asks boto3 for; a real client would follow the redirect."""

    def __init__(self, real) -> None:
        self.meta = real.meta
        self.calls: list[dict] = []

    def get_object(self, **kw):
        from tests.s3bundler.test_boto_reads import fake_response

        self.calls.append(kw)
        return fake_response(b"via boto3")


def _ok_headers(body: bytes) -> dict[str, str]:
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    return {
        "ETag": f'"{hashlib.md5(body).hexdigest()}"',
        "Last-Modified": "Sun, 22 Nov 2026 00:19:01 GMT",
        "x-amz-checksum-crc32": crc,
    }


def _fetcher_for(server) -> tuple[CrtFetcher, _BotoStandIn]:
    real = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{server.server_port}",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    stand_in = _BotoStandIn(real)
    creds = botocore.session.get_session().get_credentials() or real._request_signer._credentials
    return CrtFetcher(stand_in, creds, 2, probe_client=real), stand_in


@pytest.fixture()
def scripted_crt(scripted):
    """(fetcher, boto3 stand-in) on the scripted server, the fetcher closed after the test."""
    fetcher, stand_in = _fetcher_for(scripted)
    yield fetcher, stand_in
    fetcher.close()


def test_region_redirect_moves_the_bucket_to_boto3(scripted_crt):
    redirect = (
        b"<Error><Code>PermanentRedirect</Code><Message>use the other endpoint</Message>"
        b"<Region>eu-west-1</Region></Error>"
    )
    _Scripted.script = [(301, {"x-amz-bucket-region": "eu-west-1"}, redirect, None)]
    crt, boto = scripted_crt
    got = fetch(crt, ManifestEntry("far", "k", 9))
    again = fetch(crt, ManifestEntry("far", "k2", 9))
    assert got.data == again.data == b"via boto3"
    assert _Scripted.seen == ["/far/k"]  # the second object went straight to boto3
    assert [c["Key"] for c in boto.calls] == ["k", "k2"]


def test_crt_checksum_mismatch_and_short_body(scripted_crt):
    body = b"the real bytes"
    bad = dict(_ok_headers(body), **{"x-amz-checksum-crc32": "AAAAAA=="})
    _Scripted.script = [
        (200, _ok_headers(body), body, None),
        (200, bad, body, None),
    ]
    crt, _ = scripted_crt
    assert fetch(crt, ManifestEntry("b", "ok", len(body))).data == body
    with pytest.raises(ObjectFailed) as err:
        fetch(crt, ManifestEntry("b", "bad", len(body)))
    assert err.value.reason == dlq.CHECKSUM_MISMATCH
    assert "CRC32" in err.value.detail


def test_crt_body_cut_short_is_a_download_error(scripted_crt):
    """The connection closes before Content-Length bytes: after awscrt's retries the manifest
    fails (redelivered), the object is not reported as an S3 error."""
    body = b"only part"
    _Scripted.script = [(200, _ok_headers(body), body, 100)] * 20
    crt, _ = scripted_crt
    with pytest.raises(DownloadError) as err:
        fetch(crt, ManifestEntry("b", "cut", 100))
    assert "s3://b/cut" in str(err.value)
    assert len(_Scripted.seen) >= 1


def test_cancelled_future_is_left_alone(scripted_crt):
    _Scripted.script = [(200, _ok_headers(b"x"), b"x", None)]
    crt, _ = scripted_crt
    fut: Future = crt.submit(ManifestEntry("b", "k", 1), 100)
    fut.cancel()
    crt.close()  # waits for the request; must not raise InvalidStateError in a callback
    assert fut.cancelled()


def test_an_object_is_freed_as_soon_as_its_future_is_dropped(s3, bucket, crt):
    """No reference cycle keeps a fetched object's bytes alive until the garbage collector
    runs (it once held every 8 MiB object of a manifest: 1.7 GB)."""
    import gc
    import weakref

    s3.put_object(Bucket=bucket, Key="o", Body=b"z" * 100_000)
    gc.disable()
    try:
        fut = crt.submit(ManifestEntry(bucket, "o", 100_000), 1 << 20)
        got = fut.result(timeout=30)
        assert len(got.data) == 100_000
        ref = weakref.ref(got)
        del got, fut
        assert ref() is None
    finally:
        gc.enable()


def test_signing_dates_stay_current(monkeypatch):
    """An awscrt signing config fixes its date when made; S3 refuses signatures more than 15
    minutes old, so a long-running worker must not sign with an old config."""
    from datetime import UTC, datetime, timedelta

    import s3bundler.crt_fetcher as crt_module

    creds = botocore.session.get_session().get_credentials()
    crt = CrtFetcher(boto3.client("s3", region_name="us-east-1"), creds, 1)
    clock = [1000.0]
    monkeypatch.setattr(crt_module.time, "monotonic", lambda: clock[0])
    first = crt.signing("eu-west-1")
    assert abs(first.date - datetime.now(UTC)) < timedelta(seconds=5)
    clock[0] += crt_module.SIGNING_MAX_AGE / 2
    assert crt.signing("eu-west-1") is first  # reused within the age limit
    clock[0] += crt_module.SIGNING_MAX_AGE
    renewed = crt.signing("eu-west-1")
    assert renewed is not first and renewed.date >= first.date
    assert crt.signing("us-west-2").region == "us-west-2"
    crt.close()


def test_crt_reads_tags_of_the_listed_version(s3, bucket, crt):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="t", Body=b"one", Tagging="a=x%2By%20z%3D&b=")
    s3.put_object(Bucket=bucket, Key="t", Body=b"two", Tagging="c=3")
    old = fetch(crt, ManifestEntry(bucket, "t", 3, version_id=v1["VersionId"]))
    new = fetch(crt, ManifestEntry(bucket, "t", 3))
    assert (old.data, old.tags) == (b"one", {"a": "x+y z=", "b": ""})
    assert (new.data, new.tags) == (b"two", {"c": "3"})


def test_crt_unreadable_tags_are_a_flag_not_a_failure(scripted_crt):
    """As with boto3 (boto_reads.read_tags): the object is archived, its tags are unknown."""
    body = b"tagged bytes"
    denied = b"<Error><Code>AccessDenied</Code><Message>no tags for you</Message></Error>"
    _Scripted.script = [
        (200, dict(_ok_headers(body), **{"x-amz-tagging-count": "2"}), body, None),
        (403, {}, denied, None),
    ]
    crt, _ = scripted_crt
    got = fetch(crt, ManifestEntry("b", "k", len(body)))
    assert got.data == body and got.tags is None
    assert got.flags == ["tags-unreadable:AccessDenied"]
    assert _Scripted.seen == ["/b/k", "/b/k?tagging"]
