import gzip
import random
from datetime import UTC, datetime
from urllib.parse import quote_plus, unquote_plus

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s3common.errors import InputDataError
from s3grouper import readers
from s3grouper.inventory import S3Uri, parse_manifest
from s3jobs import inventory_report as fx

KEYS = ["plain", "with space", "plus+sign", "pct%41", "a/b/c", "comma,here", 'q"uote',
        "new\nline", "ünï/日本/😀", "tab\there", "%", "%25", "x" * 900]  # fmt: skip


def columns_for(fmt, fields):
    schema = fx.file_schema(fmt, fields)
    manifest = {"sourceBucket": "src", "fileFormat": fmt, "fileSchema": schema, "files": []}
    import json

    return parse_manifest(json.dumps(manifest).encode(), S3Uri("b", "m.json")).columns


def read(fmt, rows, fields, tmp_path):
    full = [fx.row_defaults(r, "src") for r in rows]
    body = fx.encode(fmt, full, fields)
    columns = columns_for(fmt, fields)
    path = tmp_path / f"data.{fmt}"
    path.write_bytes(body)
    read_fn = {"CSV": readers.read_csv, "ORC": readers.read_orc, "Parquet": readers.read_parquet}
    tables = list(read_fn[fmt](str(path), columns, "src", "s3://b/d"))
    return pa.concat_tables(tables) if tables else None


# --- key decoding ----------------------------------------------------------------------------


def test_decode_keys_unquote_plus_semantics():
    encoded = [quote_plus(k, safe="") for k in KEYS] + ["a+b", "a%2fb", "%zz", "%", "%C3"]
    got = readers.decode_keys(pa.array(encoded)).to_pylist()
    assert got == [unquote_plus(e) for e in encoded]


def test_decode_keys_random():
    rnd = random.Random(11)
    alphabet = "ab/%+ é€😀\n\r,\"'~*=:"
    for _ in range(200):
        raw = ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(12))) for _ in range(40)]
        encoded = [quote_plus(k, safe=rnd.choice(["", "/"])) for k in raw]
        encoded += ["%252F", "%25%2F", "%2525", "%2", "+%2B+"]
        rnd.shuffle(encoded)
        got = readers.decode_keys(pa.array(encoded)).to_pylist()
        assert got == [unquote_plus(e) for e in encoded]


def test_keys_without_escapes_are_untouched():
    arr = pa.array(["a", "b/c"])
    assert readers.decode_keys(arr) is arr


# --- the three formats agree -----------------------------------------------------------------


ROWS = [
    {"Key": k, "Size": i * 7, "IsMultipartUploaded": i % 2 == 0,
     "LastModifiedDate": datetime(2024, 1, 31, 12, 0, i, 123000, tzinfo=UTC)}
    for i, k in enumerate(KEYS)
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["CSV", "ORC", "Parquet"])
def test_formats_normalize_the_same(fmt, tmp_path):
    table = read(fmt, ROWS, fx.DEFAULT_FIELDS, tmp_path)
    assert table.schema == readers.NORMALIZED
    assert table.column("key").to_pylist() == KEYS
    assert table.column("size").to_pylist() == [i * 7 for i in range(len(KEYS))]
    assert table.column("bucket").to_pylist() == ["src"] * len(KEYS)
    assert table.column("last_modified_date")[3].as_py() == datetime(
        2024, 1, 31, 12, 0, 3, 123000, tzinfo=UTC
    )
    assert table.column("is_multipart_uploaded").to_pylist()[:2] == [True, False]
    assert table.column("e_tag")[0].as_py() == fx.row_defaults(ROWS[0], "src")["ETag"]
    assert table.column("version_id").null_count == len(KEYS)  # not in the field set


@pytest.mark.parametrize("fmt", ["CSV", "ORC", "Parquet"])
def test_every_field_and_versioned(fmt, tmp_path):
    rows = [
        {"Key": "a", "VersionId": "v2", "IsLatest": True, "StorageClass": "INTELLIGENT_TIERING",
         "IntelligentTieringAccessTier": "ARCHIVE_ACCESS", "ETag": '"abc"'},
        {"Key": "a", "VersionId": "v1", "IsLatest": False, "IsDeleteMarker": True},
    ]  # fmt: skip
    table = read(fmt, rows, fx.ALL_FIELDS, tmp_path)
    assert table.column("version_id").to_pylist() == ["v2", "v1"]
    assert table.column("is_latest").to_pylist() == [True, False]
    assert table.column("is_delete_marker").to_pylist() == [False, True]
    assert table.column("size").to_pylist() == [100, None]
    assert table.column("e_tag").to_pylist() == ["abc", None if fmt != "CSV" else ""]
    tier = table.column("intelligent_tiering_access_tier").to_pylist()[0]
    assert tier == "ARCHIVE_ACCESS"


@pytest.mark.parametrize("fmt", ["CSV", "ORC", "Parquet"])
def test_minimal_fields(fmt, tmp_path):
    table = read(fmt, [{"Key": "a"}, {"Key": "b"}], fx.MINIMAL_FIELDS, tmp_path)
    assert table.column("key").to_pylist() == ["a", "b"]
    assert table.column("size").null_count == 2


@pytest.mark.parametrize("fmt", ["ORC", "Parquet"])
def test_typed_files_read_in_small_batches_give_the_same_rows(fmt, tmp_path, monkeypatch):
    whole = read(fmt, ROWS, fx.DEFAULT_FIELDS, tmp_path)
    monkeypatch.setattr(readers, "TYPED_BATCH_ROWS", 3)  # ORC: slices of each stripe
    assert read(fmt, ROWS, fx.DEFAULT_FIELDS, tmp_path).equals(whole)


def test_parquet_read_one_row_group_at_a_time(tmp_path, monkeypatch):
    path = tmp_path / "x.parquet"
    keys = [f"k{i}" for i in range(11)]
    pq.write_table(pa.table({"key": keys, "size": list(range(11))}), path, row_group_size=4)
    monkeypatch.setattr(readers, "TYPED_BATCH_ROWS", 3)
    tables = list(readers.read_parquet(str(path), ("key", "size"), "src", "s3://inv/x"))
    assert [t.num_rows for t in tables] == [3, 1, 3, 1, 3]  # no batch spans two row groups
    assert [k for t in tables for k in t.column("key").to_pylist()] == keys


# --- CSV specifics ---------------------------------------------------------------------------


def csv_body(lines):
    return gzip.compress("".join(lines).encode())


@pytest.fixture()
def read_csv(tmp_path):
    def read(body, columns=("bucket", "key", "size")):
        path = tmp_path / "x.csv.gz"
        path.write_bytes(body)
        return list(readers.read_csv(str(path), columns, "b", "s3://inv/data/x.csv.gz"))

    return read


def test_csv_read_in_small_blocks_gives_every_row_in_order(read_csv, monkeypatch):
    lines = [f'"b","k{i}","{i}"\n' for i in range(200)]
    monkeypatch.setattr(readers, "CSV_BLOCK_SIZE", 256)  # ~16 rows a block
    monkeypatch.setattr(readers, "CSV_BLOCKS_PER_BATCH", 3)
    tables = read_csv(csv_body(lines))
    blocks = -(-sum(len(line) for line in lines) // 256)
    assert len(tables) == -(-blocks // 3)  # blocks were normalized 3 at a time
    assert [k for t in tables for k in t.column("key").to_pylist()] == [f"k{i}" for i in range(200)]
    lines[150] = '"b","k150","x"\n'  # the row number counts across batches
    with pytest.raises(InputDataError, match=r"row 151: Size is not a number: 'x'"):
        read_csv(csv_body(lines))


def test_size_not_a_number_names_file_and_row(read_csv):
    body = csv_body(['"b","k1","1"\n', '"b","k2","12x"\n'])
    with pytest.raises(InputDataError, match=r"s3://inv/data/x.csv.gz: row 2: Size .*'12x'"):
        read_csv(body)


def test_negative_size_is_refused(read_csv):
    with pytest.raises(InputDataError, match="row 1: Size is negative"):
        read_csv(csv_body(['"b","k1","-1"\n']))


def test_bad_boolean_names_the_field(read_csv):
    body = csv_body(['"b","k1","yes"\n'])
    with pytest.raises(InputDataError, match="row 1: IsLatest is not true/false: 'yes'"):
        read_csv(body, ("bucket", "key", "is_latest"))


def test_bad_timestamp_names_the_field(read_csv):
    body = csv_body(['"b","k1","2024-01-31T00:00:00.000Z"\n', '"b","k1","soon"\n'])
    with pytest.raises(InputDataError, match="row 2: LastModifiedDate is not a timestamp"):
        read_csv(body, ("bucket", "key", "last_modified_date"))


def test_wrong_column_count_is_input_data_error(read_csv):
    with pytest.raises(InputDataError, match="not a CSV inventory file"):
        read_csv(csv_body(['"b","k1"\n']))


def test_not_gzip_is_input_data_error(read_csv):
    with pytest.raises(InputDataError, match=r"s3://inv/data/x\.csv\.gz"):
        read_csv(b"this is not gzip at all")


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes(b ^ 0xFF for b in data[at : at + 40]) + data[at + 40 :]


@pytest.mark.parametrize(
    "body",
    [
        gzip.compress(b'"b","k1","1"\n' * 5000)[:-20],
        _flip(gzip.compress(bytes(range(256)) * 400), 500),
    ],
    ids=["truncated", "corrupt"],
)
def test_broken_gzip_is_input_data_error(read_csv, body):
    with pytest.raises(InputDataError, match=r"x\.csv\.gz: cannot decompress: "):
        read_csv(body)


def test_concatenated_gzip_members_are_read(read_csv):
    body = gzip.compress(b'"b","k1","1"\n') + gzip.compress(b'"b","k2","2"\n')
    tables = read_csv(body)
    assert sum(t.num_rows for t in tables) == 2


def test_empty_size_cells_are_null(read_csv):
    table = read_csv(csv_body(['"b","k1",""\n']))[0]
    assert table.column("size").to_pylist() == [None]


def test_unknown_columns_are_ignored(read_csv):
    table = read_csv(csv_body(['"b","k1","1","whatever"\n']), ("bucket", "key", "size", "future"))[
        0
    ]
    assert table.column("key").to_pylist() == ["k1"]


def test_cells_off_the_usual_shape_still_parse(read_csv):
    # mixed-case and empty booleans, timestamps without a zone or empty, ETags in quotes
    body = csv_body([
        '"b","k1","TRUE","2024-01-31T12:00:00Z","""e1"""\n',
        '"b","k2","","2024-01-31T12:00:00.5","e2"\n',
        '"b","k3","False","","e3"\n',
    ])  # fmt: skip
    columns = ("bucket", "key", "is_latest", "last_modified_date", "e_tag")
    table = read_csv(body, columns)[0]
    assert table.column("is_latest").to_pylist() == [True, None, False]
    assert table.column("last_modified_date").to_pylist() == [
        datetime(2024, 1, 31, 12, tzinfo=UTC), datetime(2024, 1, 31, 12, 0, 0, 500000, tzinfo=UTC),
        None]  # fmt: skip
    assert table.column("e_tag").to_pylist() == ["e1", "e2", "e3"]


# --- every row names the report's bucket and a key -------------------------------------------


@pytest.mark.parametrize("fmt", ["CSV", "ORC", "Parquet"])
def test_a_row_of_another_bucket_is_refused_naming_row_and_buckets(fmt, tmp_path):
    rows = [{"Key": "a"}, {"Key": "b"}, {"Key": "c", "Bucket": "other-bucket"}]
    with pytest.raises(InputDataError) as info:
        read(fmt, rows, fx.DEFAULT_FIELDS, tmp_path)
    assert str(info.value) == (
        "s3://b/d: row 3: Bucket 'other-bucket' is not the manifest's sourceBucket 'src'"
    )


def test_the_bucket_check_counts_rows_across_batches(read_csv, monkeypatch):
    lines = [f'"b","k{i}","{i}"\n' for i in range(200)]
    lines[170] = '"c","k170","1"\n'
    monkeypatch.setattr(readers, "CSV_BLOCK_SIZE", 256)
    monkeypatch.setattr(readers, "CSV_BLOCKS_PER_BATCH", 3)
    with pytest.raises(InputDataError, match=r"row 171: Bucket 'c' is not .* sourceBucket 'b'"):
        read_csv(csv_body(lines))


def test_an_empty_bucket_cell_is_another_bucket(read_csv):
    with pytest.raises(InputDataError, match=r"row 2: Bucket '' is not"):
        read_csv(csv_body(['"b","k1","1"\n', '"","k2","1"\n']))


def test_without_a_bucket_column_rows_are_the_report_bucket(read_csv):
    table = read_csv(csv_body(['"k1","1"\n']), ("key", "size"))[0]
    assert table.column("bucket").to_pylist() == ["b"]


def test_an_empty_key_is_refused(read_csv, tmp_path):
    with pytest.raises(InputDataError, match=r"x\.csv\.gz: row 2: Key is empty: ''"):
        read_csv(csv_body(['"b","k1","1"\n', '"b","","1"\n']))
    path = tmp_path / "nullkey.parquet"
    pq.write_table(pa.table({"key": ["a", None], "size": [1, 2]}), path)
    with pytest.raises(InputDataError, match=r"row 2: Key is empty: None"):
        list(readers.read_parquet(str(path), ("key", "size"), "src", "s3://inv/x"))
