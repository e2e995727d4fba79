"""Index, big-object ``.metadata`` and DLQ index: write -> read round trips."""

from __future__ import annotations

import csv
import io
import json

import pytest

from s3bundler import dlq
from s3bundler.dlq import DLQ_COLUMNS, DlqRow, DlqWriter, read_dlq
from s3bundler.index import INDEX_COLUMNS, IndexRow, IndexWriter, read_index

TRICKY_KEYS = [
    "plain.txt",
    "with space/and,comma.txt",
    "quote\"d'key",
    "new\nline\r\nand cr",
    "ünïcödé/日本語",
    "x" * 900,
    "trailing/",
    "=cmd|' /C calc'!A0",
]


def row(key: str, **kw) -> IndexRow:
    base = dict(
        bucket="src",
        key=key,
        version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        size=1234,
        last_modified="2024-01-02T03:04:05.000Z",
        etag="d41d8cd98f00b204e9800998ecf8427e",
        md5="d41d8cd98f00b204e9800998ecf8427e",
        member=f"src/{key}",
        offset=1536,
        header_offset=0,
        content_type="text/plain; charset=utf-8",
        metadata={"author": 'Zoë, "the" tester', "multi": "line1\nline2"},
        tags={"project": "ü,ñ", "empty": ""},
        storage_class="STANDARD_IA",
        checksum="CRC32:AAAAAA==",
        gz_offset=None,
        gz_skip=None,
        flags="size-changed;etag-changed",
    )
    base.update(kw)
    return IndexRow(**base)


def test_index_header_is_the_contract():
    required = ("bucket", "key", "version_id", "size", "last_modified", "etag", "md5")
    assert INDEX_COLUMNS[: len(required)] == required
    for name in ("member", "offset", "content_type", "metadata", "tags", "storage_class"):
        assert name in INDEX_COLUMNS
    data = IndexWriter().getvalue()
    # The header as docs/formats.md documents it, written out: a change is a format change.
    assert data == (
        b"bucket,key,version_id,size,last_modified,etag,md5,member,offset,header_offset,"
        b"content_type,metadata,tags,storage_class,checksum,gz_offset,gz_skip,flags,crc32c,"
        b"headers\n"
    )
    assert list(read_index(data)) == []


def test_index_round_trip_with_tricky_keys_and_json():
    rows = [row(k) for k in TRICKY_KEYS]
    rows.append(row("gz", gz_offset=0, gz_skip=512, offset=0, header_offset=0))
    rows.append(row("nothing", metadata=None, tags=None, offset=None, header_offset=None))
    rows.append(row("emptydicts", metadata={}, tags={}, size=0, flags=""))
    writer = IndexWriter()
    for r in rows:
        writer.add(r)
    data = writer.getvalue()
    assert list(read_index(data)) == rows
    assert list(read_index(data.decode())) == rows


def test_index_is_plain_csv_with_json_cells():
    writer = IndexWriter()
    writer.add(row("a,b\nc"))
    records = list(csv.DictReader(io.StringIO(writer.getvalue().decode(), newline="")))
    assert len(records) == 1
    rec = records[0]
    assert rec["key"] == "a,b\nc"
    assert rec["offset"] == "1536"
    assert json.loads(rec["metadata"]) == {"author": 'Zoë, "the" tester', "multi": "line1\nline2"}
    assert json.loads(rec["tags"]) == {"project": "ü,ñ", "empty": ""}
    assert "ü" in rec["tags"]  # not \\u-escaped
    assert rec["gz_offset"] == "" and rec["gz_skip"] == ""


def test_read_index_rejects_other_headers():
    with pytest.raises(ValueError, match="not an s3bundler index"):
        list(read_index(b"bucket,key,size\nb,k,1\n"))
    with pytest.raises(ValueError):
        list(read_index(b""))
    dlq_data = DlqWriter().getvalue()
    with pytest.raises(ValueError):
        list(read_index(dlq_data))


def test_metadata_json_has_index_fields_and_copy_target():
    r = row("big/ü,\n.bin", member="", offset=None, header_offset=None)
    doc = json.loads(r.to_metadata_json("archive", "p/abc/src/bigobjects/big/ü,\n.bin"))
    assert set(doc) == {*INDEX_COLUMNS, "copy_bucket", "copy_key"}
    assert doc["key"] == "big/ü,\n.bin"
    assert doc["metadata"] == r.metadata and doc["tags"] == r.tags
    assert doc["offset"] is None and doc["member"] == ""
    assert doc["copy_bucket"] == "archive"
    assert doc["copy_key"] == "p/abc/src/bigobjects/big/ü,\n.bin"
    assert IndexRow(**{k: doc[k] for k in INDEX_COLUMNS}) == r


# --- DLQ index -----------------------------------------------------------------------------------


def test_dlq_header_and_reasons():
    assert DLQ_COLUMNS == ("bucket", "key", "version_id", "size", "reason", "detail")
    assert DlqWriter().getvalue() == b"bucket,key,version_id,size,reason,detail\n"
    for reason in ("NoSuchKey", "AccessDenied", "Glacier", "Throttled", "ChecksumMismatch"):
        assert reason in dlq.REASONS
    assert "Changed" in dlq.REASONS


def test_dlq_round_trip():
    rows = [
        DlqRow("src", k, "v1" if i % 2 else "", i * 10 if i % 3 else None, reason, f"detail {k}")
        for i, (k, reason) in enumerate(zip(TRICKY_KEYS, dlq.REASONS, strict=False))
    ]
    rows.append(DlqRow("src", "zero", "", 0, dlq.CHANGED, 'NoSuchKey: "quoted",\nmulti'))
    writer = DlqWriter()
    for r in rows:
        writer.add(r)
    data = writer.getvalue()
    assert list(read_dlq(data)) == rows
    assert list(read_dlq(data.decode())) == rows


def test_read_dlq_rejects_other_headers_and_accepts_empty():
    assert list(read_dlq(b"")) == []
    with pytest.raises(ValueError, match="not an s3bundler DLQ index"):
        list(read_dlq(IndexWriter().getvalue()))


def test_indexes_written_before_crc32c_and_headers_are_still_read():
    old = (
        "bucket,key,version_id,size,last_modified,etag,md5,member,offset,header_offset,"
        "content_type,metadata,tags,storage_class,checksum,gz_offset,gz_skip,flags\n"
        "src,k,,3,2024-01-01T00:00:00.000Z,e,m,src/k,512,0,text/plain,{},{},STANDARD,,,,\n"
    )
    (row,) = read_index(old)
    assert (row.key, row.offset, row.crc32c, row.headers) == ("k", 512, "", None)
