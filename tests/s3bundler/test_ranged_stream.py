"""Large objects read in parallel ranges, pinned to one version, handed out in order and
verified over the bytes handed out -- with a scripted client, and against the local endpoint."""

from __future__ import annotations

import base64
import hashlib
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions
import pytest

from s3bundler import dlq
from s3bundler.failures import ObjectFailed
from s3bundler.ranged_stream import RangedStream
from s3common.errors import DownloadError
from s3common.submanifest import ManifestEntry
from tests.s3bundler.s3_answers import WHEN, client_error, md5


def multipart_etag(data: bytes, sizes: list[int]) -> str:
    digests, at = b"", 0
    for size in sizes:
        digests += hashlib.md5(data[at : at + size]).digest()
        at += size
    return f"{hashlib.md5(digests).hexdigest()}-{len(sizes)}"


class Body:
    def __init__(self, data: bytes, breaks: bool = False) -> None:
        self._data, self._breaks = data, breaks

    def read(self, n: int = -1) -> bytes:
        if self._breaks:
            raise botocore.exceptions.ResponseStreamingError(error="connection reset")
        return self._data

    def iter_chunks(self, n: int):
        yield from (self._data[i : i + n] for i in range(0, len(self._data), n))


class RangesS3:
    """HEAD, HEAD ?partNumber and ranged GETs of one object, with scripted trouble: ranges
    starting at a ``breaks`` offset break once; ``corrupt`` {offset: byte index} flips a byte
    of that range; ``changed`` answers 412 to every GET."""

    def __init__(self, data: bytes, etag: str, *, parts=(), checksum: str = "", breaks=(),
                 corrupt=None, changed=False, short=()) -> None:  # fmt: skip
        self.data, self.etag, self.parts, self.checksum = data, etag, list(parts), checksum
        self.breaks, self.corrupt, self.changed = set(breaks), corrupt or {}, changed
        self.short = set(short)
        self.gets: list[dict] = []
        self.heads: list[int] = []
        self.lock = threading.Lock()

    def head_object(self, **kw):
        if "PartNumber" in kw:
            self.heads.append(kw["PartNumber"])
            return {"ContentLength": self.parts[kw["PartNumber"] - 1]}
        head = {"ContentLength": len(self.data), "ETag": f'"{self.etag}"', "LastModified": WHEN}
        if self.checksum:
            head["ChecksumCRC32"] = self.checksum
        return head

    def get_object(self, **kw):
        with self.lock:
            self.gets.append(kw)
        if self.changed:
            raise client_error("PreconditionFailed")
        spec = kw.get("Range", f"bytes=0-{len(self.data) - 1}")
        first, last = map(int, spec.removeprefix("bytes=").split("-"))
        body = bytearray(self.data[first : last + 1])
        with self.lock:
            if first in self.breaks:
                self.breaks.discard(first)
                return {"Body": Body(b"", breaks=True)}
            if first in self.short:
                return {"Body": Body(bytes(body[:-1]))}
            if first in self.corrupt:
                body[self.corrupt.pop(first)] ^= 0x01
        return {"Body": Body(bytes(body)), "TagCount": 2 if first == 0 else 0}


@pytest.fixture()
def pool():
    with ThreadPoolExecutor(4) as p:
        yield p


def stream(s3, pool, size: int, part: int = 1000) -> RangedStream:
    entry = ManifestEntry("b", "k", size)
    return RangedStream(s3, entry, pool, threading.Event(), 30, part_size=part).start()


def test_parts_come_in_order_pinned_to_the_version_seen():
    data = bytes(range(256)) * 20
    s3 = RangesS3(data, md5(data))
    pool = ThreadPoolExecutor(4)
    st = stream(s3, pool, len(data))
    assert b"".join(st.chunks()) == data and st.md5 == md5(data)
    assert sorted(g["Range"] for g in s3.gets)[:2] == ["bytes=0-999", "bytes=1000-1999"]
    assert all(g["IfMatch"] == f'"{md5(data)}"' for g in s3.gets)
    assert st.info.tag_count == 2  # from the first range: HEAD does not say
    pool.shutdown()


def test_a_broken_range_is_read_again_alone(pool):
    data = bytes(range(256)) * 20
    s3 = RangesS3(data, md5(data), breaks={2000})
    st = stream(s3, pool, len(data))
    assert b"".join(st.chunks()) == data
    assert [g["Range"] for g in s3.gets].count("bytes=2000-2999") == 2 and st.retries == 1


def test_a_change_is_a_changed_failure_never_a_mix(pool):
    data = b"z" * 3000
    st = stream(RangesS3(data, md5(data), changed=True), pool, len(data))
    with pytest.raises(ObjectFailed) as err:
        b"".join(st.chunks())
    assert err.value.reason == dlq.CHANGED and st.read == 0


def test_a_range_short_three_times_is_a_download_error(pool):
    data = b"y" * 3000
    s3 = RangesS3(data, md5(data), short={1000})  # every answer for bytes 1000- is short
    st = stream(s3, pool, len(data))
    with pytest.raises(DownloadError, match="came back short"):
        b"".join(st.chunks())


def test_a_corrupted_range_of_a_multipart_object_is_a_checksum_mismatch(pool):
    data = bytes(range(256)) * 40  # 10,240 bytes in parts of 4,096
    sizes = [4096, 4096, 2048]
    s3 = RangesS3(data, multipart_etag(data, sizes), parts=sizes, corrupt={5000: 3})
    st = stream(s3, pool, len(data))
    with pytest.raises(ObjectFailed) as err:
        b"".join(st.chunks())
    assert err.value.reason == dlq.CHECKSUM_MISMATCH and "multipart ETag" in err.value.detail
    assert st.read == len(data)  # every byte handed out: the caller leaves it unindexed
    good = RangesS3(data, multipart_etag(data, sizes), parts=sizes)
    assert b"".join(stream(good, pool, len(data)).chunks()) == data
    assert good.heads == [1]  # one HEAD: part 1's size gives the layout


def test_a_corrupted_range_fails_the_full_object_checksum(pool):
    data = b"0123456789" * 1000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    s3 = RangesS3(data, md5(data) + "-3", checksum=crc, corrupt={4000: 10})
    st = stream(s3, pool, len(data))
    with pytest.raises(ObjectFailed) as err:
        b"".join(st.chunks())
    assert err.value.detail.startswith("CRC32 of bytes read")


def test_parts_of_unequal_sizes_are_verified_by_reading_again(pool):
    data = bytes(range(256)) * 30  # 7,680 bytes
    sizes = [3000, 2000, 2680]  # part 1 suggests 3000-byte parts (3000, 3000, 1680): wrong
    s3 = RangesS3(data, multipart_etag(data, sizes), parts=sizes)
    assert b"".join(stream(s3, pool, len(data)).chunks()) == data
    assert s3.heads == [1, 1, 2, 3]
    (whole,) = [g for g in s3.gets if "Range" not in g]  # read again, once, pinned
    assert whole["IfMatch"] == f'"{multipart_etag(data, sizes)}"'


def test_a_glacier_object_fails_before_its_first_byte(pool):
    class Cold(RangesS3):
        def head_object(self, **kw):
            return {**super().head_object(**kw), "StorageClass": "DEEP_ARCHIVE"}

    st = stream(Cold(b"x" * 10, md5(b"x" * 10)), pool, 10)
    with pytest.raises(ObjectFailed) as err:
        _ = st.info
    assert err.value.reason == dlq.GLACIER


def test_against_local_s3(s3, bucket, pool):
    data = bytes(range(256)) * 40_000  # 10 MB in 4 MiB ranges
    s3.put_object(Bucket=bucket, Key="s", Body=data)
    st = RangedStream(s3, ManifestEntry(bucket, "s", len(data)), pool, threading.Event(), 30,
                      part_size=4 << 20).start()  # fmt: skip
    chunks = list(st.chunks())
    assert b"".join(chunks) == data and len(chunks) == 3
    assert st.md5 == md5(data) == st.info.etag
