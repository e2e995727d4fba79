"""An archive named by the user: .tar, .tar.gz, .tar.zst or its .index; named by its index,
the archive beside it is found (for a compressed one, whichever codec's is there)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from s3bundler.index import IndexRow
from s3common.errors import DownloadError
from s3common.s3uri import S3Uri
from s3restore.archives import ArchiveRef, head_archive, parse_archive_ref

BASE = "archives/abc123/src/m.0"


@pytest.mark.parametrize("ext", [".tar", ".tar.gz", ".tar.zst"])
def test_each_archive_extension_names_the_pair(ext):
    ref = parse_archive_ref(f"s3://b/{BASE}{ext}")
    assert ref == ArchiveRef(S3Uri("b", BASE + ".index"), S3Uri("b", BASE + ext))
    assert parse_archive_ref(f"s3://b/{BASE}.index") == ArchiveRef(S3Uri("b", BASE + ".index"))
    with pytest.raises(ValueError, match=r"\.tar\.zst"):
        parse_archive_ref(f"s3://b/{BASE}.zip")


class Heads:
    """head_object over a few keys with their LastModified; the others are 404."""

    def __init__(self, **modified: int) -> None:
        self.modified = {BASE + ext.replace("_", "."): t for ext, t in modified.items()}
        self.asked: list[str] = []

    def head_object(self, Bucket: str, Key: str) -> dict:
        self.asked.append(Key)
        if Key not in self.modified:
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
        when = datetime.fromtimestamp(self.modified[Key], UTC)
        return {"ContentLength": 10, "ETag": '"e"', "LastModified": when, "Metadata": {}}


def rows(compressed: bool) -> list[IndexRow]:
    gz_offset = 0 if compressed else None
    return [IndexRow("s", "k", "", 1, "", "", "", "m", 1536, 0, gz_offset=gz_offset)]


@pytest.mark.parametrize(
    ("there", "compressed", "found"),
    [
        ({"_tar": 1}, False, ".tar"),
        ({"_tar_gz": 1}, True, ".tar.gz"),
        ({"_tar_zst": 1}, True, ".tar.zst"),
        # a worker stopped after the index was written, before the other archive was deleted:
        # the newer is the index's
        ({"_tar_gz": 1, "_tar_zst": 2}, True, ".tar.zst"),
        ({"_tar_gz": 3, "_tar_zst": 2}, True, ".tar.gz"),
    ],
)
def test_named_by_its_index_the_archive_is_found(there, compressed, found):
    s3 = Heads(**there)
    head = head_archive(s3, ArchiveRef(S3Uri("b", BASE + ".index")), rows(compressed))
    assert head.uri == S3Uri("b", BASE + found)
    assert (head.codec.extension if head.codec else ".tar") == found


def test_no_compressed_archive_beside_the_index_is_a_download_error():
    with pytest.raises(DownloadError, match=r"m\.0\.tar"):
        head_archive(Heads(_tar=1), ArchiveRef(S3Uri("b", BASE + ".index")), rows(True))
