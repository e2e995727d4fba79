import hashlib
import json

import pytest

from s3common.errors import InputDataError
from s3common.s3uri import S3Uri
from s3grouper.inventory import (
    CSV_TO_SNAKE,
    checksum_key,
    csv_name,
    parse_manifest,
    verify_checksum,
)
from s3jobs import inventory_report as fx

URI = S3Uri("inv-bucket", "inv/src/cfg/2024-01-31T00-00Z/manifest.json")
MD5 = "0" * 32


def manifest(**over):
    raw = {
        "sourceBucket": "src",
        "destinationBucket": "arn:aws:s3:::dest-bucket",
        "version": "2016-11-30",
        "creationTimestamp": "1514944800000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size",
        "files": [{"key": "inv/src/cfg/data/a.csv.gz", "size": 3, "MD5checksum": MD5}],
    }
    raw.update(over)
    return json.dumps({k: v for k, v in raw.items() if v is not None}).encode()


def test_fields_table_matches_the_fixture_written_from_the_docs():
    fixture = {csv: spec[0] for csv, spec in fx.SCHEMA.items()}
    assert fixture == CSV_TO_SNAKE


@pytest.mark.parametrize("fmt", ["CSV", "ORC", "Parquet"])
@pytest.mark.parametrize("fields", [fx.ALL_FIELDS, fx.DEFAULT_FIELDS, fx.MINIMAL_FIELDS])
def test_schema_of_every_format(fmt, fields):
    parsed = parse_manifest(manifest(fileFormat=fmt, fileSchema=fx.file_schema(fmt, fields)), URI)
    assert parsed.file_format == fmt
    assert parsed.columns == tuple(fx.SCHEMA[f][0] for f in fields)


def test_parsed_manifest():
    parsed = parse_manifest(manifest(), URI)
    assert parsed.source_bucket == "src"
    assert parsed.data_bucket == "dest-bucket"
    assert parsed.files[0].key == "inv/src/cfg/data/a.csv.gz"
    assert parsed.files[0].md5 == MD5
    assert parsed.has("size") and not parsed.has("storage_class")


def test_data_bucket_defaults_to_the_manifest_bucket():
    assert parse_manifest(manifest(destinationBucket=None), URI).data_bucket == "inv-bucket"


def test_file_format_is_case_insensitive_and_defaults_to_csv():
    assert parse_manifest(manifest(fileFormat="parquet",
                                   fileSchema="message s3.inventory { required binary key; }"),
                          URI).file_format == "Parquet"  # fmt: skip
    assert parse_manifest(manifest(fileFormat=None), URI).file_format == "CSV"


def test_unknown_csv_field_is_kept_in_snake_case():
    parsed = parse_manifest(manifest(fileSchema="Bucket, Key, Size, LastAccessDate"), URI)
    assert parsed.columns[-1] == "last_access_date"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json {", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (manifest(files=None), "no 'files'"),
        (manifest(sourceBucket=None), "no 'sourceBucket'"),
        (manifest(sourceBucket=""), "no 'sourceBucket'"),
        (manifest(fileSchema=None), "no 'fileSchema'"),
        (manifest(fileFormat="Avro"), "unknown fileFormat 'Avro'"),
        (manifest(fileSchema="Bucket, Size"), "no Key field"),
        (manifest(fileSchema="Bucket, Key, Key"), "names a field twice"),
        (manifest(fileSchema=""), "cannot read field names"),
        (manifest(files="x"), "'files' is not a list"),
        (manifest(files=[{"size": 1, "MD5checksum": MD5}]), r"files\[0\] has no key"),
        (manifest(files=[{"key": "k", "MD5checksum": "xyz"}]), "no valid MD5checksum"),
    ],
)
def test_bad_manifests(data, reason):
    with pytest.raises(InputDataError, match=reason) as info:
        parse_manifest(data, URI)
    assert str(info.value).startswith(str(URI))


def test_checksum_key_and_verification():
    assert checksum_key(URI.key).endswith("/manifest.checksum")
    data = manifest()
    verify_checksum(data, hashlib.md5(data).hexdigest().encode() + b"\n", URI)
    with pytest.raises(InputDataError, match=r"manifest\.checksum"):
        verify_checksum(data + b" ", hashlib.md5(data).hexdigest().encode(), URI)


def test_csv_name():
    assert csv_name("last_modified_date") == "LastModifiedDate"
    assert csv_name("something_new") == "something_new"
