"""The ``copy_checksum`` shim: UploadPartCopy answers carry the checksum of the copied range
when the multipart upload asked for one (moto's own answers carry none)."""

from __future__ import annotations

import pytest

from tests.endpoint.checksum_shim import checksum

MiB = 1 << 20


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA256"])
def test_copy_part_result_carries_the_checksum_of_the_range(endpoint, algorithm):
    s3 = endpoint.client("s3", request_checksum_calculation="when_required")
    s3.create_bucket(Bucket="copy-src")
    body = bytes(range(256)) * (5 * MiB // 256) + b"tail"
    s3.put_object(Bucket="copy-src", Key="obj", Body=body)
    upload = s3.create_multipart_upload(Bucket="copy-src", Key="dst", ChecksumAlgorithm=algorithm)

    def copy(part: int, first: int, last: int) -> dict:
        return s3.upload_part_copy(
            Bucket="copy-src",
            Key="dst",
            UploadId=upload["UploadId"],
            PartNumber=part,
            CopySource={"Bucket": "copy-src", "Key": "obj"},
            CopySourceRange=f"bytes={first}-{last}",
        )["CopyPartResult"]

    assert f"Checksum{algorithm}" not in copy(1, 0, 5 * MiB - 1)  # moto alone: none
    endpoint.set_faults({"kind": "copy_checksum"})
    result = copy(1, 0, 5 * MiB - 1)
    assert result[f"Checksum{algorithm}"] == checksum(algorithm, body[: 5 * MiB])
    last = copy(2, 5 * MiB, len(body) - 1)
    assert last[f"Checksum{algorithm}"] == checksum(algorithm, b"tail")


def test_no_algorithm_no_checksum_unless_the_rule_names_one(endpoint):
    s3 = endpoint.client("s3", request_checksum_calculation="when_required")
    s3.create_bucket(Bucket="copy-src2")
    s3.put_object(Bucket="copy-src2", Key="obj", Body=b"abcdef")
    upload = s3.create_multipart_upload(Bucket="copy-src2", Key="dst")["UploadId"]
    args = {
        "Bucket": "copy-src2",
        "Key": "dst",
        "UploadId": upload,
        "PartNumber": 1,
        "CopySource": {"Bucket": "copy-src2", "Key": "obj"},
        "CopySourceRange": "bytes=1-3",
    }
    endpoint.set_faults({"kind": "copy_checksum"})
    assert not [k for k in s3.upload_part_copy(**args)["CopyPartResult"] if "Checksum" in k]
    endpoint.set_faults({"kind": "copy_checksum", "algorithm": "crc32c"})
    result = s3.upload_part_copy(**args)["CopyPartResult"]
    assert result["ChecksumCRC32C"] == checksum("CRC32C", b"bcd")
