"""The bundler's reading of a sub-manifest: bad rows and repeated objects become DLQ rows, the
bundler's own outputs are recognised and never bundled."""

from __future__ import annotations

import json

import pytest

from s3bundler import dlq
from s3bundler.errors import ManifestUnreadable, NotASubmanifest
from s3bundler.index import IndexWriter
from s3bundler.manifest import parse_manifest
from s3bundler.report import ManifestReport
from s3common.submanifest import HEADER_LINE, LEGACY_FIELDS, ManifestEntry


def parse(text: str | bytes, fields=LEGACY_FIELDS):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_manifest(data, "s3://m/x.0.index", fields)


def test_good_rows_survive_bad_ones_and_each_bad_row_is_listed_with_its_line():
    text = (
        f"{HEADER_LINE}\n"
        "src,ok1,5,,,,,\n"
        "src,bad-size,five,,,,,\n"
        "src,,5,,,,,\n"  # empty key
        "src,short,5\n"  # wrong cell count
        'src,"multi\nline",x,,,,,\n'
        "src,ok2,,v2,,,,\n"
    )
    loaded = parse(text)
    assert [e.key for e in loaded.entries] == ["ok1", "ok2"]
    got = [(r.entry.key, r.reason, r.detail) for r in loaded.rejected]
    assert got == [
        ("bad-size", dlq.BAD_MANIFEST_ROW, "line 3: size is not a number: 'five'"),
        ("", dlq.BAD_MANIFEST_ROW, "line 4: empty bucket or key"),
        ("short", dlq.BAD_MANIFEST_ROW, "line 5: expected 8 cells, got 3"),
        ("multi\nline", dlq.BAD_MANIFEST_ROW, "line 6: size is not a number: 'x'"),
    ]
    assert loaded.rows == 6  # every data row, good or bad


def test_an_object_listed_twice_is_archived_once():
    text = f"{HEADER_LINE}\nsrc,k,1,,,,,\nsrc,k,1,v1,,,,\nsrc,k,2,,,,,\nsrc,k,1,v1,,,,\n"
    loaded = parse(text)
    assert [(e.key, e.version_id) for e in loaded.entries] == [("k", ""), ("k", "v1")]
    assert [(r.reason, r.detail) for r in loaded.rejected] == [
        (dlq.DUPLICATE_ROW, "line 4: same object as line 2 (archived once)"),
        (dlq.DUPLICATE_ROW, "line 5: same object as line 3 (archived once)"),
    ]


def test_legacy_rows_after_a_good_first_row_are_lenient_too():
    loaded = parse("src,a%2Bb,1\nsrc,b,big\nsrc,c,3\n")
    assert [e.key for e in loaded.entries] == ["a+b", "c"]
    assert [(r.entry.key, r.detail) for r in loaded.rejected] == [
        ("b", "line 2: size is not a number: 'big'")
    ]


def test_invalid_utf8_costs_only_its_row():
    data = f"{HEADER_LINE}\nsrc,good,1,,,,,\n".encode() + b"src,bad\xff,1,,,,,\n"
    loaded = parse(data)
    assert [e.key for e in loaded.entries] == ["good"]
    assert loaded.rejected[0].detail == "line 3: not UTF-8 text"
    assert loaded.rejected[0].entry.key == "bad\ufffd"


@pytest.mark.parametrize("text", ["", f"{HEADER_LINE}\n", f"{HEADER_LINE}\n\n"])
def test_an_empty_sub_manifest_has_no_rows(text):
    assert parse(text).rows == 0


@pytest.mark.parametrize(
    "data",
    [
        IndexWriter().getvalue() + b"src,k,,1,x,e,m,src/k,512,0,,{},{},,,,,\n",
        b"bucket,key,version_id,size,reason,detail\nsrc,k,,1,NoSuchKey,gone\n",
        ManifestReport("s3://m/x.0.index").to_json(),
        json.dumps({"bucket": "s", "key": "k", "copy_key": "p/k"}).encode(),
        b"\x1f\x8b\x08\x00" + bytes(100),
        bytes(257) + b"ustar\x0000" + bytes(250),
    ],
)
def test_the_bundlers_own_outputs_are_never_bundled(data):
    with pytest.raises(NotASubmanifest, match="never bundled"):
        parse(data)


@pytest.mark.parametrize("data", [b"hello, world\n", b"just text\n", b"{not json"])
def test_anything_else_that_is_not_a_sub_manifest_is_unreadable(data):
    with pytest.raises(ManifestUnreadable) as err:
        parse(data)
    assert err.value.exit_code == 3


def test_rejected_rows_keep_what_could_be_read():
    loaded = parse(f"{HEADER_LINE}\nsrc,k,x,v9,,,,\n")
    assert loaded.rejected[0].entry == ManifestEntry("src", "k", None, "v9")
