"""Multipart ETags computed over the bytes read, against the ETags moto computes."""

from __future__ import annotations

import os

import pytest

from s3bundler.etags import MultipartEtag, multipart_parts, uniform_layout


def test_parts_count_of_an_etag():
    assert multipart_parts("0123456789abcdef0123456789abcdef-12") == 12
    assert multipart_parts("0123456789abcdef0123456789abcdef") == 0
    assert multipart_parts("not-an-etag-3") == 0


@pytest.mark.parametrize(
    ("size", "first", "parts", "layout"),
    [
        (25, 10, 3, [10, 10, 5]),
        (30, 10, 3, [10, 10, 10]),
        (31, 10, 3, None),  # would need a fourth part
        (20, 10, 3, None),  # the last part would be empty
        (7, 7, 1, [7]),
        (0, 0, 1, [0]),
    ],
)
def test_uniform_layout(size, first, parts, layout):
    assert uniform_layout(size, first, parts) == layout


@pytest.mark.parametrize("sizes", [[5 << 20, 5 << 20, 123], [6 << 20, 5 << 20, 5 << 20], [9]])
def test_the_etag_matches_what_s3_computes_fed_in_any_chunking(s3, bucket, sizes):
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    parts, data = [], b""
    for n, size in enumerate(sizes, 1):
        body = os.urandom(size)
        data += body
        etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=n, Body=body)
        parts.append({"PartNumber": n, "ETag": etag["ETag"]})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=up, MultipartUpload={"Parts": parts}
    )
    expected = done["ETag"].strip('"')
    for chunk in (1 << 20, 4097, len(data) or 1):
        etag = MultipartEtag(sizes)
        for i in range(0, len(data), chunk):
            etag.update(data[i : i + chunk])
        assert etag.etag() == expected
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1
    etag = MultipartEtag(sizes)
    etag.update(bytes(flipped))
    assert etag.etag() != expected


def test_too_few_or_too_many_bytes_never_match():
    short, long_ = MultipartEtag([4, 4]), MultipartEtag([4, 4])
    short.update(b"1234567")
    long_.update(b"123456789")
    assert short.etag() == "" and long_.etag() == "" and long_.overflow
