"""What S3 says about an object, and the integrity rules on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from s3bundler.object_info import ObjectInfo, full_object_checksum, iso8601
from s3common.submanifest import ManifestEntry
from tests.s3bundler.s3_answers import WHEN, md5, response


def test_iso8601():
    assert iso8601(WHEN) == "2024-01-02T03:04:05.678Z"
    plus2 = timezone(timedelta(hours=2))
    assert iso8601(datetime(2024, 1, 2, 5, 4, 5, tzinfo=plus2)) == "2024-01-02T03:04:05.000Z"


# --- ObjectInfo ----------------------------------------------------------------------------------


def test_from_response_plain_object():
    info = ObjectInfo.from_response(response(VersionId="v9", TagCount=2, StorageClass="GLACIER_IR"))
    assert info.size == 5
    assert info.etag == md5(b"hello")
    assert info.plain_md5_etag is True
    assert info.version_id == "v9"
    assert info.tag_count == 2
    assert info.storage_class == "GLACIER_IR"
    assert info.metadata == {"a": "b"}
    assert (info.carried, info.restore) == ({}, "")
    cold = ObjectInfo.from_response(
        response(CacheControl="max-age=9", Restore='ongoing-request="false"', Body=b"")
    )
    assert cold.carried == {"CacheControl": "max-age=9"}  # what a multipart copy must carry
    assert cold.restore == 'ongoing-request="false"'


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
