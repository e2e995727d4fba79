"""Bad input: the documented exit code, one line on stderr naming the S3 URI, nothing written."""

import gzip
import hashlib
import json

import pytest

from s3jobs import inventory_report as fx
from tests.s3grouper.support import assert_error, grouper, objects

ROWS = [{"Key": f"k{n}", "Size": n} for n in range(30)]


def put_raw_manifest(s3, bucket, body, key="inv/src/cfg/2024-01-31T00-00Z/manifest.json"):
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def refused(s3, out_bucket, uri, code, *fragments, extra=()):
    result = grouper("-m", uri, "-b", out_bucket, "-c", "3", *extra)
    assert_error(result, code, *fragments)
    assert objects(s3, out_bucket) == {}, "nothing may be written"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (json.dumps({"fileSchema": "Bucket, Key", "fileFormat": "CSV"}).encode(), "no 'files'"),
        (json.dumps({"files": [], "fileFormat": "CSV"}).encode(), "no 'fileSchema'"),
        (json.dumps({"files": [], "fileSchema": "Bucket, Key", "fileFormat": "JSON"}).encode(),
         "unknown fileFormat 'JSON'"),
    ],
)  # fmt: skip
def test_bad_manifest_json(s3, bucket, out_bucket, body, reason):
    uri = put_raw_manifest(s3, bucket, body)
    refused(s3, out_bucket, uri, 3, uri, reason)


def test_manifest_checksum_mismatch(s3, bucket, out_bucket):
    uri = fx.put_inventory(s3, bucket, ROWS)
    checksum_key = uri.split("/", 3)[3].replace("manifest.json", "manifest.checksum")
    s3.put_object(Bucket=bucket, Key=checksum_key, Body=b"0" * 32)
    refused(s3, out_bucket, uri, 3, uri, "manifest.checksum")


def test_missing_data_file(s3, bucket, out_bucket):
    uri = fx.put_inventory(s3, bucket, ROWS, files=3)
    missing = fx.read_manifest_json(s3, uri)["files"][2]["key"]
    s3.delete_object(Bucket=bucket, Key=missing)
    refused(s3, out_bucket, uri, 3, f"s3://{bucket}/{missing}", "does not exist")


@pytest.mark.parametrize("fmt", ["CSV", "Parquet"])
def test_data_file_checksum_mismatch_in_the_last_file(s3, bucket, out_bucket, fmt):
    def corrupt_last(manifest):
        manifest["files"][-1]["MD5checksum"] = hashlib.md5(b"something else").hexdigest()

    uri = fx.put_inventory(s3, bucket, ROWS, fmt=fmt, files=3, manifest_edit=corrupt_last)
    last = fx.read_manifest_json(s3, uri)["files"][-1]["key"]
    refused(s3, out_bucket, uri, 3, f"s3://{bucket}/{last}", "does not match MD5checksum")


def test_data_file_checksum_mismatch_when_etag_is_not_md5(s3, bucket, out_bucket):
    def corrupt_last(manifest):
        manifest["files"][-1]["MD5checksum"] = hashlib.md5(b"something else").hexdigest()

    uri = fx.put_inventory(s3, bucket, ROWS, files=2, multipart=True, manifest_edit=corrupt_last)
    refused(s3, out_bucket, uri, 3, "does not match MD5checksum")


def test_size_not_a_number_names_file_and_row(s3, bucket, out_bucket):
    lines = ['"source-bucket","k1","5"\n', '"source-bucket","k2","five"\n']
    body = gzip.compress("".join(lines).encode())
    uri = fx.put_report(s3, bucket, [body], fields=("Bucket", "Key", "Size"))
    data_key = fx.read_manifest_json(s3, uri)["files"][0]["key"]
    refused(s3, out_bucket, uri, 3, f"s3://{bucket}/{data_key}", "row 2", "Size", "'five'")


def test_data_file_that_is_not_gzip_csv(s3, bucket, out_bucket):
    uri = fx.put_report(s3, bucket, [b"plain text, not gzip"], fields=("Bucket", "Key"))
    refused(s3, out_bucket, uri, 3, "cannot decompress")


def test_data_file_that_is_not_parquet(s3, bucket, out_bucket):
    uri = fx.put_report(s3, bucket, [b"PAR? no"], fmt="Parquet", fields=("Bucket", "Key"))
    refused(s3, out_bucket, uri, 3, "not a Parquet inventory file")


def test_missing_manifest_json(s3, bucket, out_bucket):
    uri = f"s3://{bucket}/inv/src/cfg/2024-01-31T00-00Z/manifest.json"
    refused(s3, out_bucket, uri, 5, uri, "NoSuchKey")


def test_manifest_bucket_does_not_exist(s3, out_bucket):
    uri = "s3://grouper-no-such-bucket/inv/manifest.json"
    refused(s3, out_bucket, uri, 5, uri, "NoSuchBucket")


def test_output_bucket_does_not_exist(s3, bucket):
    uri = fx.put_inventory(s3, bucket, ROWS)
    result = grouper("-m", uri, "-b", "grouper-no-such-output")
    assert_error(result, 4, "s3://grouper-no-such-output")


def test_bad_arguments(s3, bucket, out_bucket):
    uri = fx.put_inventory(s3, bucket, ROWS)
    refused(s3, out_bucket, uri, 2, "--count-threshold", extra=("-c", "none"))


def test_filter_on_a_field_the_inventory_lacks(s3, bucket, out_bucket):
    uri = fx.put_inventory(s3, bucket, ROWS, fields=("Bucket", "Key", "Size"))
    refused(s3, out_bucket, uri, 2, "--modified-since", "LastModifiedDate",
            extra=("--modified-since", "2024-01-01"))  # fmt: skip


def test_malformed_row_late_in_the_inventory_leaves_nothing_written(s3, bucket, out_bucket):
    # Rows are parsed while grouping, so sub-manifests are complete before the malformed row is
    # met; the failed run removes the ones it created, and no job summary is written.
    good = "".join(f'"source-bucket","k{n}","1"\n' for n in range(10))
    bad = '"source-bucket","z1","1"\n"source-bucket","z2","x"\n'
    bodies = [gzip.compress(good.encode()), gzip.compress(bad.encode())]
    uri = fx.put_report(s3, bucket, bodies, fields=("Bucket", "Key", "Size"))
    result = grouper("-m", uri, "-b", out_bucket, "-c", "3")
    assert_error(result, 3, "row 2", "'x'")
    assert objects(s3, out_bucket) == {}, "the failed run must remove what it wrote"


@pytest.mark.parametrize("fmt", ["CSV", "Parquet"])
def test_a_row_of_another_bucket_is_refused(s3, bucket, out_bucket, fmt):
    # Row 28 of 30 (row 8 of the last data file) names a bucket other than the report's: it
    # would be archived from there. Found late, after sub-manifests of 3 rows were uploaded.
    rows = [{"Key": f"k{n}", "Size": 1} for n in range(30)]
    rows[27]["Bucket"] = "someone-elses-bucket"
    uri = fx.put_inventory(s3, bucket, rows, fmt=fmt, files=3)
    last = fx.read_manifest_json(s3, uri)["files"][-1]["key"]
    message = ("row 8: Bucket 'someone-elses-bucket' is not the manifest's sourceBucket "
               "'source-bucket'")  # fmt: skip
    refused(s3, out_bucket, uri, 3, f"s3://{bucket}/{last}: {message}")
