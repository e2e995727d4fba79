import botocore.exceptions
import pytest

from s3common.errors import UploadError
from s3common.submanifest import read_manifest
from s3grouper.rows import encode_rows
from s3grouper.writer import SubmanifestWriter, option_changes, run_id
from tests.s3grouper.tables import normalized


class FakeS3:
    def __init__(self, fail_on=None):
        self.fail_on = fail_on
        self.puts = {}

    def put_object(self, Bucket, Key, Body, **extra):
        if Key == self.fail_on:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject"
            )
        self.puts[Key] = (Body.read() if hasattr(Body, "read") else Body, extra)


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
