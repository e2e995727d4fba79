"""The archive index (and big objects' ``.metadata``): the one definition of both formats.

The index is CSV with a header row, one row per archived object, in archive order::

    bucket,key,version_id,size,last_modified,etag,md5,member,offset,header_offset,
    content_type,metadata,tags,storage_class,checksum,gz_offset,gz_skip,flags,crc32c,headers

- ``md5``: hex MD5 of the bytes archived, computed as they streamed.
- ``offset``: byte offset of the member's data in the *uncompressed* tar stream, so for a
  ``.tar`` the object is ``Range: bytes=offset-(offset+size-1)``; ``header_offset`` is where its
  tar header (pax records included) starts.
- ``metadata`` / ``tags``: JSON objects. ``checksum``: the additional S3 checksum verified on
  download, as ``ALGORITHM:base64`` (empty when S3 had none).
- ``gz_offset`` / ``gz_skip`` (compressed archives only, ``.tar.gz`` or ``.tar.zst``; the
  names are from when gzip was the only codec, the archive's extension says which): the
  archive is a series of independent frames (gzip members, zstd frames; codecs.py).
  ``gz_offset`` is the compressed offset of the frame holding this object's header;
  decompress from there, frame after frame, and skip ``gz_skip`` bytes to reach the data. One
  ranged GET from ``gz_offset`` therefore restores one object.
- ``flags``: ``;``-separated notes, e.g. ``size-changed`` or ``etag-changed`` when the object
  differs from the sub-manifest (it is archived as it is now), ``tags-unreadable``,
  ``tags-not-read`` (``--tags never``).
- ``crc32c``: CRC32C of the bytes archived, base64 of its 4 big-endian bytes -- the form S3
  gives ``ChecksumCRC32C``, so a server-side copy of the member's byte range can be verified
  against it (a restore never needs the bytes to pass through the client).
- ``headers``: JSON object of the object's other HTTP headers a restore must set again
  (boto3 names: ``CacheControl``, ``ContentDisposition``, ``ContentEncoding``,
  ``ContentLanguage``, ``Expires``, ``WebsiteRedirectLocation``).

Indexes written before ``crc32c`` and ``headers`` existed (18 columns) are still read.

A big object's ``.metadata`` file is a JSON object with the same fields (``member``/``offset``
empty) plus ``copy_bucket``/``copy_key``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

from s3common.csvrows import CsvWriter

INDEX_COLUMNS: tuple[str, ...] = (
    "bucket",
    "key",
    "version_id",
    "size",
    "last_modified",
    "etag",
    "md5",
    "member",
    "offset",
    "header_offset",
    "content_type",
    "metadata",
    "tags",
    "storage_class",
    "checksum",
    "gz_offset",
    "gz_skip",
    "flags",
    "crc32c",
    "headers",
)
#: The header of indexes written before crc32c and headers were recorded.
INDEX_COLUMNS_V1 = INDEX_COLUMNS[:-2]


@dataclass
class IndexRow:
    bucket: str
    key: str
    version_id: str
    size: int
    last_modified: str
    etag: str
    md5: str
    member: str = ""
    offset: int | None = None
    header_offset: int | None = None
    content_type: str = ""
    metadata: dict[str, str] | None = None
    tags: dict[str, str] | None = None
    storage_class: str = ""
    checksum: str = ""
    gz_offset: int | None = None
    gz_skip: int | None = None
    flags: str = ""
    crc32c: str = ""
    headers: dict[str, str] | None = None

    def cells(self) -> list[str]:
        out: list[str] = []
        for name in INDEX_COLUMNS:  # the field order (asserted below)
            value = getattr(self, name)
            if value is None:
                out.append("")
            elif isinstance(value, dict):
                out.append(json.dumps(value, sort_keys=True, ensure_ascii=False))
            else:
                out.append(str(value))
        return out

    def to_metadata_json(self, copy_bucket: str, copy_key: str) -> bytes:
        doc = asdict(self)
        doc.update(copy_bucket=copy_bucket, copy_key=copy_key)
        return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


assert tuple(f.name for f in fields(IndexRow)) == INDEX_COLUMNS

_INT_FIELDS = {"size", "offset", "header_offset", "gz_offset", "gz_skip"}
_JSON_FIELDS = {"metadata", "tags", "headers"}


class IndexWriter:
    """Accumulates index rows as CSV text (an index of 65,000 rows is a few MB)."""

    def __init__(self) -> None:
        self._buf = io.StringIO(newline="")
        self._csv = CsvWriter(self._buf)
        self._csv.writerow(INDEX_COLUMNS)

    def add(self, row: IndexRow) -> None:
        self._csv.writerow(row.cells())

    def getvalue(self) -> bytes:
        return self._buf.getvalue().encode("utf-8")


def read_index(data: bytes | str) -> Iterator[IndexRow]:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ()) not in (INDEX_COLUMNS, INDEX_COLUMNS_V1):
        raise ValueError(f"not an s3bundler index (header {reader.fieldnames})")
    for raw in reader:
        values: dict[str, object] = {}
        for name, cell in raw.items():
            if name in _INT_FIELDS:
                values[name] = int(cell) if cell != "" else None
            elif name in _JSON_FIELDS:
                values[name] = json.loads(cell) if cell != "" else None
            else:
                values[name] = cell
        yield IndexRow(**values)  # type: ignore[arg-type]
