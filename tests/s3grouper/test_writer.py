import base64
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
    """Records PUTs; each takes ``delay`` seconds; counts how many ran at once."""

    def __init__(self, fail_on=None, delay=0.0):
        self.fail_on = fail_on
        self.delay = delay
        self.puts = {}
        self.listings = 0
        self.active = self.most_active = 0
        self._lock = threading.Lock()

    def put_object(self, Bucket, Key, Body, **extra):
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.delay)
            if Key == self.fail_on:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject"
                )
            self.puts[Key] = (Body.read() if hasattr(Body, "read") else Body, extra)
        finally:
            with self._lock:
                self.active -= 1

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


def test_run_id_depends_on_inventory_and_options_only():
    a = run_id("s3://b/m.json", {"x": 1, "y": [1]})
    assert a == run_id("s3://b/m.json", {"y": [1], "x": 1})
    assert a != run_id("s3://b/m.json", {"x": 2, "y": [1]})
    assert a != run_id("s3://c/m.json", {"x": 1, "y": [1]})


def test_option_changes():
    assert option_changes({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": None}) == ["b: 2 -> 3"]


def test_uploads_complete_in_order_with_header_and_metadata():
    s3 = FakeS3()
    seen = []
    with SubmanifestWriter(s3, "out", "pre/", "base", "run1", on_written=seen.append) as writer:
        for n in range(6):
            table = normalized({"key": f"k{n}"}, {"key": f"k{n}b"})
            writer.write(n, [encode_rows(table.slice(0, 1)), encode_rows(table.slice(1))])
        writer.flush()
    keys = [f"pre/base.{n}.index" for n in range(6)]
    assert seen == keys == writer.written
    body, extra = s3.puts["pre/base.3.index"]
    assert [e.key for e in read_manifest(body)] == ["k3", "k3b"]
    assert extra["Metadata"] == {"s3grouper-run": "run1"}


def test_failed_upload_raises_upload_error():
    s3 = FakeS3(fail_on="p/base.1.index")
    failed = pytest.raises(UploadError, match=r"s3://out/p/base\.1\.index.*AccessDenied")
    with failed, SubmanifestWriter(s3, "out", "p", "base", "r") as writer:
        for n in range(3):
            writer.write(n, [encode_rows(normalized({"key": "k"}))])
        writer.flush()


def test_upload_carries_the_crc32_of_its_body():
    s3 = FakeS3()
    with SubmanifestWriter(s3, "out", "p", "base", "r") as writer:
        table = normalized({"key": "a,b"}, {"key": "c"})
        writer.write(0, [encode_rows(table.slice(0, 1)), encode_rows(table.slice(1))])
        writer.flush()
    body, extra = s3.puts["p/base.0.index"]
    assert body.startswith(b"bucket,key,") and b'"a,b"' in body
    assert extra["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()


@pytest.mark.parametrize(("concurrency", "inflight_bytes", "most"), [(3, GiB, 3), (3, 1, 1)])
def test_uploads_in_flight_are_bounded_by_count_and_bytes(concurrency, inflight_bytes, most):
    s3 = FakeS3(delay=0.05)
    body = [encode_rows(normalized({"key": "k"}))]
    with SubmanifestWriter(
        s3, "out", "p", "base", "r", concurrency=concurrency, inflight_bytes=inflight_bytes
    ) as writer:
        for n in range(8):
            writer.write(n, body)
            assert len(writer._inflight) < concurrency  # room for the next one
        writer.flush()
    assert s3.most_active == most
    assert len(s3.puts) == 8 and writer.written == [f"p/base.{n}.index" for n in range(8)]


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


def test_existing_is_what_was_there_before_the_first_write():
    s3 = FakeS3()
    s3.puts["p/base.0.index"] = (b"old", {})
    with SubmanifestWriter(s3, "out", "p", "base", "r") as writer:
        writer.write(1, [encode_rows(normalized({"key": "k"}))])
        writer.flush()
        assert writer.existing == {0} and writer.exists(0) and not writer.exists(1)
        assert writer.rollback() == ["p/base.1.index"]  # this run's only
    assert set(s3.puts) == {"p/base.0.index"}
