"""Part sizing and the MultipartWriter against the local S3 endpoint."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
import zlib

import botocore.exceptions
import pytest

from s3bundler.errors import Cancelled
from s3bundler.multipart import (
    GROWTH_EVERY,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    MiB,
    MultipartWriter,
    initial_part_size,
    part_size,
)
from s3common.errors import UploadError
from s3common.s3uri import S3Uri

TiB = 1 << 40
S3_MIN_PART = 5 * MiB  # what S3 (and moto) require of every part but the last


def total_capacity(base: int, parts: int = MAX_PARTS) -> int:
    return sum(part_size(base, n) for n in range(1, parts + 1))


def expected_part_sizes(base: int, total: int) -> list[int]:
    sizes, n = [], 1
    while total > 0:
        size = min(part_size(base, n), total)
        sizes.append(size)
        total -= size
        n += 1
    return sizes or [0]


# --- sizing --------------------------------------------------------------------------------------


def test_part_size_doubles_every_thousand_parts():
    base = MIN_PART_SIZE
    assert part_size(base, 1) == base
    assert part_size(base, GROWTH_EVERY) == base
    assert part_size(base, GROWTH_EVERY + 1) == 2 * base
    assert part_size(base, 2 * GROWTH_EVERY + 1) == 4 * base
    assert part_size(base, MAX_PARTS) == base << 9


def test_part_size_never_exceeds_s3_maximum():
    for base in (MIN_PART_SIZE, 100 * MiB, 1024 * MiB, MAX_PART_SIZE):
        assert all(part_size(base, n) <= MAX_PART_SIZE for n in range(1, MAX_PARTS + 1, 7))
    assert part_size(1024 * MiB, MAX_PARTS) == MAX_PART_SIZE


def test_ten_thousand_parts_cover_more_than_5_tib_from_the_smallest_base():
    assert total_capacity(MIN_PART_SIZE) > 5 * TiB
    assert MIN_PART_SIZE >= S3_MIN_PART


def test_initial_part_size():
    assert initial_part_size(None) == MIN_PART_SIZE
    assert initial_part_size(0) == MIN_PART_SIZE
    assert initial_part_size(1) == MIN_PART_SIZE
    assert initial_part_size(9_000 * MIN_PART_SIZE) == MIN_PART_SIZE
    assert initial_part_size(9_000 * MIN_PART_SIZE + 1) == MIN_PART_SIZE + MiB
    assert initial_part_size(10**18) == MAX_PART_SIZE
    assert initial_part_size(123, minimum=5 * MiB) == 5 * MiB
    for expected in (10**9, 10**11, 5 * TiB, 7 * TiB):
        base = initial_part_size(expected)
        assert base % MiB == 0
        assert base >= MIN_PART_SIZE
        assert base * 9_000 >= expected  # fits in 9,000 parts without growth
        assert total_capacity(base) >= expected


# --- against the local endpoint ------------------------------------------------------------------


def multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def test_odd_sized_writes_make_the_right_object(s3, bucket):
    data = os.urandom(2 * S3_MIN_PART + 123_457)
    target = S3Uri(bucket, "archives/x y/ü.tar")
    writer = MultipartWriter(
        s3, target, base_part_size=S3_MIN_PART, concurrency=2, content_type="application/x-tar"
    ).start()
    assert writer.upload_id
    pos = 0
    for step in (1, 7, 4093, 1_000_003, 3 * MiB + 1, 2 * S3_MIN_PART):
        writer.write(data[pos : pos + step])
        pos += step
    writer.write(data[pos:])
    assert writer.bytes_written == len(data)
    writer.close()

    listed = s3.list_parts(Bucket=bucket, Key=target.key, UploadId=writer.upload_id)["Parts"]
    sizes = expected_part_sizes(S3_MIN_PART, len(data))
    assert [p["Size"] for p in listed] == sizes == [S3_MIN_PART, S3_MIN_PART, 123_457]

    writer.complete()
    got = s3.get_object(Bucket=bucket, Key=target.key)
    assert got["Body"].read() == data
    assert got["ContentType"] == "application/x-tar"
    chunks, start = [], 0
    for size in sizes:
        chunks.append(data[start : start + size])
        start += size
    assert got["ETag"] == multipart_etag(chunks)
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uploads == []


def test_small_and_empty_objects_are_one_part(s3, bucket):
    for key, data in (("small", b"abc"), ("empty", b"")):
        writer = MultipartWriter(s3, S3Uri(bucket, key)).start()
        writer.write(data)
        writer.close()
        writer.complete()
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == data
        assert got["ETag"].endswith('-1"')


def test_abort_leaves_no_upload_and_no_object(s3, bucket):
    target = S3Uri(bucket, "aborted.tar")
    writer = MultipartWriter(s3, target, base_part_size=S3_MIN_PART).start()
    writer.write(os.urandom(S3_MIN_PART + 10))  # one part uploaded, some bytes buffered
    upload_id = writer.upload_id
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [
        upload_id
    ]
    writer.abort()
    writer.abort()  # idempotent
    assert writer.upload_id is None
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key=target.key)


def test_start_on_missing_bucket_is_an_upload_error(s3):
    with pytest.raises(UploadError, match="s3://no-such-bucket-here/k"):
        MultipartWriter(s3, S3Uri("no-such-bucket-here", "k")).start()


# --- with a fake client: limits, failures, cancellation ------------------------------------------


class FakeS3:
    def __init__(self, fail_part: int | None = None, delay: float = 0.0) -> None:
        self.parts: dict[int, int] = {}
        self.fail_part = fail_part
        self.delay = delay
        self.aborted = False
        self._lock = threading.Lock()

    def create_multipart_upload(self, **kw):
        return {"UploadId": "u1"}

    def upload_part(self, *, PartNumber, Body, **kw):
        if self.delay:
            time.sleep(self.delay)
        if PartNumber == self.fail_part:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "InternalError", "Message": "boom"}}, "UploadPart"
            )
        with self._lock:
            self.parts[PartNumber] = len(Body)
        return {"ETag": f'"e{PartNumber}"', "ChecksumCRC32": "AAAAAA=="}

    def complete_multipart_upload(self, *, MultipartUpload, **kw):
        self.completed = MultipartUpload["Parts"]
        return {}

    def abort_multipart_upload(self, **kw):
        self.aborted = True


def test_exactly_ten_thousand_growing_parts_fit():
    fake = FakeS3()
    writer = MultipartWriter(fake, S3Uri("b", "k"), base_part_size=1, concurrency=4).start()
    capacity = total_capacity(1)  # 1,023,000 bytes in exactly 10,000 growing parts
    assert capacity == 1_023_000
    writer.write(b"x" * capacity)
    writer.close()
    writer.complete()
    assert len(fake.completed) == MAX_PARTS
    assert fake.parts[1] == 1 and fake.parts[1001] == 2 and fake.parts[MAX_PARTS] == 512


def test_more_than_ten_thousand_parts_is_refused():
    fake = FakeS3()
    writer = MultipartWriter(fake, S3Uri("b", "k"), base_part_size=1, concurrency=4).start()
    with pytest.raises(UploadError, match="10,000 parts"):
        writer.write(b"x" * (total_capacity(1) + 1))
        writer.close()
    writer.abort()
    assert fake.aborted
    assert max(fake.parts) <= MAX_PARTS


def test_complete_sends_parts_in_order_with_checksums():
    fake = FakeS3(delay=0.001)
    writer = MultipartWriter(fake, S3Uri("b", "k"), base_part_size=10, concurrency=3).start()
    for _ in range(37):
        writer.write(b"abc")
    writer.close()
    writer.complete()
    assert [p["PartNumber"] for p in fake.completed] == list(range(1, 13))
    stream = b"abc" * 37
    expected = [
        base64.b64encode(zlib.crc32(stream[i : i + 10]).to_bytes(4, "big")).decode()
        for i in range(0, len(stream), 10)
    ]
    assert [p["ChecksumCRC32"] for p in fake.completed] == expected
    assert sum(fake.parts.values()) == 111


def test_failed_part_is_an_upload_error_naming_the_part():
    fake = FakeS3(fail_part=2)
    writer = MultipartWriter(fake, S3Uri("b", "k"), base_part_size=10, concurrency=1).start()
    with pytest.raises(UploadError, match="s3://b/k part 2"):
        for _ in range(10):
            writer.write(b"x" * 10)
        writer.close()
    writer.abort()
    assert fake.aborted


def test_cancel_interrupts_waiting_for_parts():
    cancel = threading.Event()
    fake = FakeS3(delay=1.0)
    writer = MultipartWriter(
        fake, S3Uri("b", "k"), base_part_size=10, concurrency=1, cancel=cancel
    ).start()
    writer.write(b"x" * 10)  # part 1 in flight for 1 s
    cancel.set()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        writer.write(b"x" * 10)  # must wait for a free slot, notices the cancel
    assert time.monotonic() - started < 0.7
    writer.abort()


# --- as a context manager: nothing is left behind unless complete() ran -----------------------


def test_the_block_aborts_on_error_and_when_complete_never_ran():
    fake = FakeS3()
    with pytest.raises(RuntimeError), MultipartWriter(fake, S3Uri("b", "k")) as writer:
        writer.write(b"x")
        raise RuntimeError("the archive writer failed")
    assert fake.aborted
    fake = FakeS3()
    with MultipartWriter(fake, S3Uri("b", "k")) as writer:
        writer.write(b"x")
        writer.close()  # forgot complete()
    assert fake.aborted


def test_the_block_keeps_a_completed_upload():
    fake = FakeS3()
    with MultipartWriter(fake, S3Uri("b", "k")) as writer:
        writer.write(b"x")
        writer.close()
        writer.complete()
    assert not fake.aborted and writer.completed and len(fake.completed) == 1


def test_the_block_leaves_no_upload_on_the_endpoint(s3, bucket):
    with pytest.raises(ValueError), MultipartWriter(s3, S3Uri(bucket, "half.tar")) as writer:
        writer.write(b"y" * 100)
        raise ValueError("stop")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
