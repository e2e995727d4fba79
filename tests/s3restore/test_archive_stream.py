"""One read of an archive, resumed where a connection broke, never mixing two versions."""

from __future__ import annotations

import botocore.exceptions
import pytest

from s3common.errors import DownloadError
from s3common.s3uri import S3Uri
from s3restore.archive_stream import RESUMES, ArchiveBody
from s3restore.archives import ArchiveHead

DATA = bytes(range(256)) * 20_000  # 5 MB: several chunks


class Body:
    def __init__(self, data: bytes, break_after: int | None) -> None:
        self._data = data
        self._break_after = break_after

    def iter_chunks(self, size: int):
        sent = 0
        for i in range(0, len(self._data), size):
            if self._break_after is not None and sent >= self._break_after:
                raise botocore.exceptions.ResponseStreamingError(error="connection reset")
            chunk = self._data[i : i + size]
            sent += len(chunk)
            yield chunk

    def close(self) -> None:
        pass


class FlakyS3:
    """GETs whose bodies break after ``break_after`` bytes, ``breaks`` times."""

    def __init__(self, breaks: int, etag: str = '"e1"', break_after: int = 1_500_000) -> None:
        self.breaks = breaks
        self.break_after = break_after
        self.etag = etag
        self.calls: list[dict] = []

    def get_object(self, **kw):
        self.calls.append(kw)
        if kw.get("IfMatch") != self.etag:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "PreconditionFailed", "Message": "At least one"}}, "GetObject"
            )
        start = int(kw["Range"][6:-1]) if "Range" in kw else 0
        flaky = len(self.calls) <= self.breaks
        return {"Body": Body(DATA[start:], self.break_after if flaky else None)}


HEAD = ArchiveHead(S3Uri("arch", "a.tar"), len(DATA), '"e1"', None)


def test_a_broken_read_goes_on_from_where_it_stopped_pinned_to_the_etag():
    s3 = FlakyS3(breaks=2)
    seen: list[int] = []
    body = ArchiveBody(s3, HEAD, on_bytes=seen.append)
    assert b"".join(body) == DATA
    assert sum(seen) == len(DATA) and body.gets == 3
    assert [c.get("Range") for c in s3.calls] == [None, "bytes=2097152-", "bytes=4194304-"]
    assert all(c["IfMatch"] == '"e1"' for c in s3.calls)


def test_a_read_that_keeps_breaking_is_a_download_error():
    body = ArchiveBody(FlakyS3(breaks=RESUMES, break_after=0), HEAD)
    assert b"".join(body) == DATA  # RESUMES breaks in a row: still read
    body = ArchiveBody(FlakyS3(breaks=RESUMES + 1, break_after=0), HEAD)
    with pytest.raises(DownloadError, match=r"cannot read s3://arch/a\.tar"):
        b"".join(body)


def test_an_archive_replaced_mid_read_is_a_download_error():
    s3 = FlakyS3(breaks=1)
    body = iter(ArchiveBody(s3, HEAD))
    next(body)
    s3.etag = '"e2"'  # overwritten between the GETs
    with pytest.raises(DownloadError, match="changed while being read"):
        list(body)
