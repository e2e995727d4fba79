"""The sub-manifest format, its legacy form, names and the job summary."""

from __future__ import annotations

import io
import json
from urllib.parse import quote_plus

import pytest

from s3common.errors import ExitCode, InputDataError
from s3common.submanifest import (
    COLUMNS,
    HEADER_LINE,
    JOB_FORMAT,
    JobSummary,
    ManifestEntry,
    base_name,
    encode_manifest,
    entry_row,
    job_summary_key,
    manifest_name,
    read_manifest,
    submanifest_key,
    write_rows,
)

TRICKY_KEYS = [
    "plain/key.txt",
    "with space and+plus",
    "percent%2Fliteral%20",
    "new\nline",
    "crlf\r\nkey",
    'double"quote',
    "single'quote",
    "comma,separated,key",
    "ünïcödé/日本語/😀",
    "k" * 900,
    " leading and trailing ",
    "trailing/",
    "/leading",
    "Bucket",
    "123",
]


def entries() -> list[ManifestEntry]:
    out = []
    for i, key in enumerate(TRICKY_KEYS):
        out.append(
            ManifestEntry(
                bucket="src-bucket",
                key=key,
                size=i * 1000 if i % 4 else None,
                version_id="" if i % 2 else f"v{i}+/=",
                etag="" if i % 3 else f'"{i:032x}"',
                last_modified="2024-01-02T03:04:05.000Z" if i % 2 else "",
                storage_class="STANDARD" if i % 2 else "",
                is_multipart=None if i % 3 == 0 else bool(i % 2),
            )
        )
    return out


# --- our format ----------------------------------------------------------------------------------


def test_header_is_the_contract():
    assert COLUMNS == (
        "bucket",
        "key",
        "size",
        "version_id",
        "etag",
        "last_modified",
        "storage_class",
        "is_multipart",
    )
    data = encode_manifest([ManifestEntry("b", "k", 1)])
    assert data.startswith((HEADER_LINE + "\n").encode())


def test_round_trip_tricky_keys():
    original = entries()
    data = encode_manifest(original)
    assert list(read_manifest(data)) == original
    assert list(read_manifest(data.decode("utf-8"))) == original


def test_encode_is_deterministic_and_utf8():
    assert encode_manifest(entries()) == encode_manifest(entries())
    data = encode_manifest([ManifestEntry("b", "ü", 1)])
    assert "ü".encode() in data


def test_write_rows_matches_encode():
    buf = io.StringIO(newline="")
    write_rows(buf, (entry_row(e) for e in entries()))
    assert buf.getvalue().encode() == encode_manifest(entries())


def test_entry_row_cells():
    entry = ManifestEntry("b", "k", 0, "v", "e", "t", "GLACIER", False)
    assert entry_row(entry) == ("b", "k", "0", "v", "e", "t", "GLACIER", "false")
    assert entry_row(ManifestEntry("b", "k", None))[2] == ""
    assert entry_row(ManifestEntry("b", "k", 1, is_multipart=True))[7] == "true"


def test_empty_manifest_and_header_only():
    assert list(read_manifest(b"")) == []
    assert list(read_manifest(encode_manifest([]))) == []


def test_blank_lines_are_skipped():
    data = HEADER_LINE + "\n\nb,k,1,,,,,\n\n"
    assert list(read_manifest(data)) == [ManifestEntry("b", "k", 1, is_multipart=None)]


def test_bool_cells_any_case():
    data = HEADER_LINE + "\nb,k,1,,,,,TRUE\nb,k2,1,,,,,False\n"
    assert [e.is_multipart for e in read_manifest(data)] == [True, False]


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("b,k,abc,,,,,", r"row 3: size is not a number: 'abc'"),
        ("b,k,-1,,,,,", r"row 3: size is negative"),
        ("b,k,1.5,,,,,", r"row 3: size is not a number"),
        ("b,k,1,,,,", r"row 3: expected 8 cells, got 7"),
        ("b,k,1,,,,,,", r"row 3: expected 8 cells, got 9"),
        ("b,k,1,,,,,maybe", r"row 3: is_multipart is not true/false"),
        (",k,1,,,,,", r"row 3: empty bucket or key"),
        ("b,,1,,,,,", r"row 3: empty bucket or key"),
    ],
)
def test_bad_rows_name_the_source_and_row(row, match):
    data = f"{HEADER_LINE}\nb,good,1,,,,,\n{row}\n"
    with pytest.raises(InputDataError, match=match) as err:
        list(read_manifest(data, source="s3://mb/x.0.index"))
    assert str(err.value).startswith("s3://mb/x.0.index row 3")
    assert err.value.exit_code == ExitCode.INPUT_DATA


def test_good_rows_before_a_bad_row_are_yielded():
    data = f"{HEADER_LINE}\nb,good,1,,,,,\nb,bad,x,,,,,\n"
    reader = read_manifest(data)
    assert next(reader).key == "good"
    with pytest.raises(InputDataError):
        next(reader)


# --- legacy format -------------------------------------------------------------------------------


def test_legacy_rows_with_url_encoded_keys():
    keys = ["plain", "with space", "plus+sign", "ünï/cödé", "comma,key", "pct%41"]
    lines = [f"src,{quote_plus(k, safe='/')},{i}" for i, k in enumerate(keys)]
    data = "\n".join(lines) + "\n"
    got = list(read_manifest(data))
    assert got == [ManifestEntry("src", k, i) for i, k in enumerate(keys)]
    assert all(e.version_id == "" and e.is_multipart is None for e in got)


def test_legacy_row_with_quoted_cell():
    assert list(read_manifest('src,"a%2Cb",5\n')) == [ManifestEntry("src", "a,b", 5)]


def test_legacy_row_looking_like_a_header_is_data():
    # the original format has no header: a row "Bucket,Key,Size" would be a bad size
    with pytest.raises(InputDataError, match="row 1: size is not a number"):
        list(read_manifest("Bucket,Key,Size\n"))


def test_legacy_fields_with_extra_columns():
    fields = ("Bucket", "Key", "VersionId", "IsLatest", "Size", "ETag", "StorageClass")
    data = 'src,dir%2Fa+b,v1,true,42,"abc",GLACIER\nsrc,c,,false,,,\n'
    got = list(read_manifest(data, legacy_fields=fields))
    assert got == [
        ManifestEntry("src", "dir/a b", 42, version_id="v1", etag="abc", storage_class="GLACIER"),
        ManifestEntry("src", "c", None),
    ]


def test_legacy_fields_without_size():
    got = list(read_manifest("src,k%2B\n", legacy_fields=("Bucket", "Key")))
    assert got == [ManifestEntry("src", "k+", None)]


def test_legacy_fields_must_include_bucket_and_key():
    with pytest.raises(InputDataError, match="Bucket and Key"):
        list(read_manifest("a,b,1\n", legacy_fields=("Key", "Size", "Other")))


@pytest.mark.parametrize(
    ("data", "row"), [("src,k\n", 1), ("src,k,1,extra\n", 1), ("src,k,1\nsrc,k2\n", 2)]
)
def test_legacy_wrong_cell_count(data, row):
    with pytest.raises(InputDataError, match=rf"^m\.idx row {row}: neither an s3bundler"):
        list(read_manifest(data, source="m.idx"))


def test_legacy_bad_size():
    with pytest.raises(InputDataError, match="legacy row 2: size is not a number"):
        list(read_manifest("src,a,1\nsrc,b,big\n", source="legacy"))


def test_not_utf8_raises_unicode_error():
    with pytest.raises(UnicodeDecodeError):
        list(read_manifest(b"\xff\xfe,b,1\n"))


# --- names and keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "name"),
    [
        (
            "inv/src/cfg/2024-01-01T00-00Z/manifest.json",
            "inv-src-cfg-2024-01-01T00-00Z-manifest",
        ),
        ("manifest.json", "manifest"),
        ("/a//b/manifest.json", "a-b-manifest"),
    ],
)
def test_base_name(key, name):
    assert base_name(key) == name


def test_base_name_custom_leaf():
    assert base_name("x/y/manifest.json", name="job") == "x-y-job"


def test_submanifest_and_job_keys():
    assert submanifest_key("sub", "base", 0) == "sub/base.0.index"
    assert submanifest_key("/sub/dir/", "base", 12) == "sub/dir/base.12.index"
    assert submanifest_key("", "base", 3) == "base.3.index"
    assert job_summary_key("sub/", "base") == "sub/base.job.json"
    assert job_summary_key("", "base") == "base.job.json"


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("p/x-manifest.3.index", "x-manifest.3"),
        ("x-manifest.0.index", "x-manifest.0"),
        ("p/q/legacy.csv", "legacy"),
        ("p/legacy-manifest.17", "legacy-manifest.17"),  # original: ends in a digit, kept
        ("p/noext", "noext"),
        ("p/a.b.c.index", "a.b.c"),
    ],
)
def test_manifest_name(key, name):
    assert manifest_name(key) == name


def test_manifest_name_of_a_submanifest_key():
    assert manifest_name(submanifest_key("sub", "inv-manifest", 7)) == "inv-manifest.7"


# --- job summary ---------------------------------------------------------------------------------


def summary() -> JobSummary:
    return JobSummary(
        inventory="s3://inv/src/cfg/2024/manifest.json",
        source_bucket="src",
        manifest_bucket="mb",
        manifest_prefix="sub",
        base_name="inv-src-cfg-2024-manifest",
        options={"count": 1000, "size": "4GiB", "include": ["ü*"], "glacier": False},
        manifests=3,
        objects=2500,
        bytes=123_456_789,
        skipped={"glacier": 4, "prefix": 1},
        created="2024-01-02T03:04:05Z",
    )


def test_job_summary_round_trip():
    s = summary()
    data = s.to_json()
    assert JobSummary.from_json(data) == s
    assert JobSummary.from_json(data.decode()) == s
    doc = json.loads(data)
    assert doc["format"] == JOB_FORMAT
    assert doc["manifests"] == 3 and doc["objects"] == 2500 and doc["bytes"] == 123_456_789


def test_job_summary_manifest_keys():
    assert summary().manifest_keys() == [
        "sub/inv-src-cfg-2024-manifest.0.index",
        "sub/inv-src-cfg-2024-manifest.1.index",
        "sub/inv-src-cfg-2024-manifest.2.index",
    ]


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[]",
        "{}",
        '{"format": "something-else/1"}',
        json.dumps({**json.loads(summary().to_json()), "unknown_field": 1}),
        json.dumps({"format": JOB_FORMAT, "inventory": "x"}),
    ],
)
def test_job_summary_rejects_other_documents(data):
    with pytest.raises(InputDataError, match=r"s3://mb/j\.job\.json: not an s3bundler job summary"):
        JobSummary.from_json(data, source="s3://mb/j.job.json")


def test_carriage_return_in_a_key_survives_the_round_trip():
    """csv.writer with '\\n' line ends leaves a bare '\\r' unquoted; ours quotes it."""
    from s3common.submanifest import ManifestEntry, encode_manifest, read_manifest

    entries = [ManifestEntry("b", "one\rtwo", 1), ManifestEntry("b", "\r", 2)]
    data = encode_manifest(entries)
    assert b'"one\rtwo"' in data
    assert list(read_manifest(data)) == entries
