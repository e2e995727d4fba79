import base64
import itertools
import threading
import time
import zlib

import botocore.exceptions
import pytest

from s3common.errors import UploadError
from s3common.sizes import GiB
from s3common.submanifest import read_manifest
from s3grouper.rows import encode_rows
from s3grouper.writer import SubmanifestWriter, option_changes, run_id
from tests.s3grouper.tables import normalized


class FakeS3:
    """Multipart uploads (parts kept until completed, then an object) and PUTs; each part
    upload takes ``delay`` seconds and counts how many ran at once; requests on ``fail_on``
    (a key, or ``(operation, key)``) are refused."""

    def __init__(self, fail_on=None, delay=0.0):
        self.fail_on = fail_on
        self.delay = delay
        self.puts = {}  # key -> (body, extra): the objects
        self.uploads = {}  # upload id -> {"key", "extra", "parts"}
        self.aborted = []
        self.listings = 0
        self.active = self.most_active = 0
        self._lock = threading.Lock()
        self._ids = itertools.count()

    def _refuse(self, operation, key):
        if self.fail_on in (key, (operation, key)):
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no"}}, operation
            )

    def put_object(self, Bucket, Key, Body, **extra):
        self._refuse("PutObject", Key)
        self.puts[Key] = (Body.read() if hasattr(Body, "read") else Body, extra)

    def create_multipart_upload(self, Bucket, Key, **extra):
        self._refuse("CreateMultipartUpload", Key)
        upload_id = f"u{next(self._ids)}"
        self.uploads[upload_id] = {"key": Key, "extra": extra, "parts": {}}
        return {"UploadId": upload_id}

    def upload_part(self, Bucket, Key, UploadId, PartNumber, Body, ChecksumCRC32):
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.delay)
            self._refuse("UploadPart", Key)
            self.uploads[UploadId]["parts"][PartNumber] = (Body.read(), ChecksumCRC32)
            return {"ETag": f'"etag-{PartNumber}"'}
        finally:
            with self._lock:
                self.active -= 1

    def complete_multipart_upload(self, Bucket, Key, UploadId, MultipartUpload):
        self._refuse("CompleteMultipartUpload", Key)
        upload = self.uploads.pop(UploadId)
        parts = MultipartUpload["Parts"]
        assert [p["PartNumber"] for p in parts] == sorted(upload["parts"])
        assert [p["ChecksumCRC32"] for p in parts] == [c for _, c in upload["parts"].values()]
        body = b"".join(upload["parts"][p["PartNumber"]][0] for p in parts)
        self.puts[Key] = (body, upload["extra"])

    def abort_multipart_upload(self, Bucket, Key, UploadId):
        self.uploads.pop(UploadId)
        self.aborted.append(Key)

    def delete_object(self, Bucket, Key):
        self.puts.pop(Key, None)

    def get_paginator(self, name):
        assert name == "list_objects_v2"
        self.listings += 1
        puts = self.puts

        class Pages:
            def paginate(self, Bucket, Prefix):
                return [{"Contents": [{"Key": k} for k in sorted(puts) if k.startswith(Prefix)]}]

        return Pages()


def crc(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def one_row(key="k"):
    return [encode_rows(normalized({"key": key}))]


def test_run_id_depends_on_inventory_and_options_only():
    a = run_id("s3://b/m.json", {"x": 1, "y": [1]})
    assert a == run_id("s3://b/m.json", {"y": [1], "x": 1})
    assert a != run_id("s3://b/m.json", {"x": 2, "y": [1]})
    assert a != run_id("s3://c/m.json", {"x": 1, "y": [1]})


def test_option_changes():
    assert option_changes({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": None}) == ["b: 2 -> 3"]


def test_nothing_is_an_object_before_publish_then_all_are_in_order():
    s3 = FakeS3()
    with SubmanifestWriter(s3, "out", "pre/", "base", "run1") as writer:
        for n in range(6):
            table = normalized({"key": f"k{n}"}, {"key": f"k{n}b"})
            writer.write(n, [encode_rows(table.slice(0, 1)), encode_rows(table.slice(1))])
        writer.flush()
        assert s3.puts == {} and len(s3.uploads) == 6  # uploaded, not published
        keys = [f"pre/base.{n}.index" for n in range(6)]
        assert writer.publish() == keys
    assert writer.written == list(range(6)) and s3.uploads == {}
    body, extra = s3.puts["pre/base.3.index"]
    assert [e.key for e in read_manifest(body)] == ["k3", "k3b"]
    assert extra["Metadata"] == {"s3grouper-run": "run1"}
    assert extra["ContentType"].startswith("text/csv") and extra["ChecksumAlgorithm"] == "CRC32"


def test_failed_upload_raises_upload_error_and_nothing_is_left():
    s3 = FakeS3(fail_on="p/base.1.index")
    failed = pytest.raises(UploadError, match=r"s3://out/p/base\.1\.index.*AccessDenied")
    with failed, SubmanifestWriter(s3, "out", "p", "base", "r") as writer:
        for n in range(3):
            writer.write(n, one_row())
        writer.flush()
    assert s3.puts == {} and s3.uploads == {}  # the context's exit aborted the others
    assert "p/base.0.index" in s3.aborted


def test_each_part_carries_the_crc32_of_its_bytes():
    s3 = FakeS3()
    with SubmanifestWriter(s3, "out", "p", "base", "r") as writer:
        table = normalized({"key": "a,b"}, {"key": "c"})
        writer.write(0, [encode_rows(table.slice(0, 1)), encode_rows(table.slice(1))])
        writer.flush()
        ((upload),) = s3.uploads.values()
        ((data, checksum),) = upload["parts"].values()
        writer.publish()
    assert data.startswith(b"bucket,key,") and b'"a,b"' in data
    assert checksum == crc(data) and s3.puts["p/base.0.index"][0] == data


def test_a_large_body_is_uploaded_in_parts():
    s3 = FakeS3()
    rows = [encode_rows(normalized({"key": f"key-{n:04d}"})) for n in range(40)]
    with SubmanifestWriter(s3, "out", "p", "base", "r", part_size=1000) as writer:
        writer.write(0, rows)
        writer.flush()
        ((upload),) = s3.uploads.values()
        parts = [upload["parts"][n] for n in sorted(upload["parts"])]
        writer.publish()
    whole = s3.puts["p/base.0.index"][0]
    assert len(parts) == -(-len(whole) // 1000) > 2
    assert all(len(data) == 1000 for data, _ in parts[:-1])
    assert all(checksum == crc(data) for data, checksum in parts)
    assert [e.key for e in read_manifest(whole)] == [f"key-{n:04d}" for n in range(40)]


@pytest.mark.parametrize(("concurrency", "inflight_bytes", "most"), [(3, GiB, 3), (3, 1, 1)])
def test_uploads_in_flight_are_bounded_by_count_and_bytes(concurrency, inflight_bytes, most):
    s3 = FakeS3(delay=0.05)
    with SubmanifestWriter(
        s3, "out", "p", "base", "r", concurrency=concurrency, inflight_bytes=inflight_bytes
    ) as writer:
        for n in range(8):
            writer.write(n, one_row())
            assert len(writer._inflight) < concurrency  # room for the next one
        writer.publish()
    assert s3.most_active == most
    assert len(s3.puts) == 8 and writer.written == list(range(8))


def test_a_publish_that_fails_part_way_publishes_the_rest_and_aborts_the_failed():
    s3 = FakeS3(fail_on=("CompleteMultipartUpload", "p/base.2.index"))
    failed = pytest.raises(UploadError, match=r"s3://out/p/base\.2\.index")
    with failed, SubmanifestWriter(s3, "out", "p", "base", "r") as writer:
        for n in range(5):
            writer.write(n, one_row())
        writer.publish()
    assert sorted(s3.puts) == [f"p/base.{n}.index" for n in (0, 1, 3, 4)]
    assert s3.aborted == ["p/base.2.index"] and s3.uploads == {}
    assert writer.written == [0, 1, 3, 4]


def test_announced_in_order_with_or_without_the_kept():
    with SubmanifestWriter(FakeS3(), "out", "p", "base", "r") as writer:
        writer.keep(0)
        writer.write(1, one_row())
        writer.keep(2)
        writer.write(3, one_row())
        writer.publish()
        assert writer.announced(resend_kept=False) == ["p/base.1.index", "p/base.3.index"]
        assert writer.announced(resend_kept=True) == [f"p/base.{n}.index" for n in range(4)]


def test_exists_is_right_without_an_explicit_scan():
    s3 = FakeS3()
    s3.puts["p/base.0.index"] = (b"", {})
    s3.puts["p/base.job.json"] = (b"", {})
    with SubmanifestWriter(s3, "out", "p", "base", "r") as writer:
        assert writer.exists(0) and not writer.exists(1)  # listed on first question
        assert writer.has_summary
        writer.scan()
        assert s3.listings == 1  # once
    with SubmanifestWriter(s3, "out", "p", "base", "r", force=True) as forced:
        assert not forced.exists(0) and forced.existing == {0}


def test_rollback_aborts_this_runs_uploads_and_leaves_what_existed():
    s3 = FakeS3()
    s3.puts["p/base.0.index"] = (b"old", {})
    with SubmanifestWriter(s3, "out", "p", "base", "r", force=True) as writer:
        writer.write(0, one_row())
        writer.write(1, one_row())
        writer.flush()
        assert writer.existing == {0}
        assert writer.rollback() == ["p/base.0.index", "p/base.1.index"]
    assert s3.puts == {"p/base.0.index": (b"old", {})} and s3.uploads == {}
