import csv
import io
import random
from datetime import UTC, datetime

import pyarrow as pa

from s3common.csvrows import CsvWriter
from s3common.submanifest import ManifestEntry, entry_row, read_manifest, write_rows
from s3grouper.rows import encode_lines, encode_rows, kept_line_starts, line_bytes
from tests.s3grouper.tables import normalized

TRICKY = ["plain", "a,b", 'q"uote', '"', "new\nline", "", " lead", "tab\t", "ünï/😀", "x" * 900,
          "a\n\"b\",c"]  # fmt: skip


def reference(table):
    """What s3common.submanifest.write_rows writes for the same objects."""
    entries = []
    for row in table.to_pylist():
        modified = row["last_modified_date"]
        entries.append(
            ManifestEntry(
                bucket=row["bucket"] or "",
                key=row["key"],
                size=row["size"],
                version_id=row["version_id"] or "",
                etag=row["e_tag"] or "",
                last_modified=""
                if modified is None
                else modified.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{modified.microsecond // 1000:03d}Z",
                storage_class=row["storage_class"] or "",
                is_multipart=row["is_multipart_uploaded"],
            )
        )
    out = io.StringIO(newline="")
    write_rows(out, (entry_row(e) for e in entries))
    return out.getvalue().encode("utf-8").split(b"\n", 1)[1]


def test_same_bytes_as_write_rows_for_tricky_cells():
    table = normalized(
        *(
            {"key": k, "size": i, "version_id": [None, "v,1", "", '"v"'][i % 4],
             "is_multipart_uploaded": [True, False, None][i % 3],
             "last_modified_date": None if i == 2 else datetime(1999, 12, 31, 23, 59, 59, i * 1000,
                                                                tzinfo=UTC)}
            for i, k in enumerate(TRICKY)
        )
    )  # fmt: skip
    assert encode_rows(table).to_pybytes() == reference(table)


def test_same_bytes_for_slices_and_random_cells():
    rnd = random.Random(5)
    alphabet = 'ab,"\n\r é/'
    rows = [
        {"key": "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 9))),
         "size": rnd.choice([None, 0, 1, 2**40]), "e_tag": rnd.choice([None, "abc"]),
         "storage_class": rnd.choice([None, "STANDARD"])}
        for _ in range(300)
    ]  # fmt: skip
    table = normalized(*rows)
    for start, length in [(0, 300), (7, 50), (299, 1), (100, 0)]:
        part = table.slice(start, length)
        assert encode_rows(part).to_pybytes() == reference(part)


def test_carriage_returns_are_quoted_and_round_trip():
    # Python's csv writer leaves '\r' bare (its reader then splits the row): both encoders quote it.
    table = normalized({"key": "a\rb"}, {"key": "c\r\nd"})
    data = b"bucket,key,size,version_id,etag,last_modified,storage_class,is_multipart\n"
    data += encode_rows(table).to_pybytes()
    assert [e.key for e in read_manifest(data)] == ["a\rb", "c\r\nd"]


def test_round_trip_through_read_manifest():
    real_keys = [k for k in TRICKY if k]  # S3 keys are never empty
    table = normalized(*({"key": k, "size": i} for i, k in enumerate(real_keys)))
    data = b"bucket,key,size,version_id,etag,last_modified,storage_class,is_multipart\n"
    entries = list(read_manifest(data + encode_rows(table).to_pybytes()))
    assert [e.key for e in entries] == real_keys
    assert [e.size for e in entries] == list(range(len(real_keys)))
    assert entries[0].last_modified == "2024-01-31T12:00:00.000Z"
    assert entries[0].is_multipart is False


def test_dropped_rows_take_no_bytes_and_kept_slices_match_write_rows():
    rnd = random.Random(9)
    alphabet = 'ab,"\n\r é/'
    rows = [
        {"key": "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 9))),
         "size": rnd.choice([None, 0, 7, 2**40]), "version_id": rnd.choice([None, "v,1"]),
         "last_modified_date": rnd.choice([None, datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)]),
         "is_multipart_uploaded": rnd.choice([None, True, False])}
        for _ in range(200)
    ]  # fmt: skip
    table = normalized(*rows)
    for keep_list in ([True] * 200, [False] * 200, [rnd.random() < 0.7 for _ in range(200)]):
        keep = pa.array(keep_list)
        kept = table.filter(keep)
        lines = encode_lines(table, keep)
        assert line_bytes(lines).to_pybytes() == reference(kept)
        starts = kept_line_starts(lines, keep)
        assert len(starts) == kept.num_rows + 1
        buffer = lines.buffers()[2]
        data = b"" if buffer is None else buffer.to_pybytes()
        for a, b in [(0, kept.num_rows), (3, 50), (kept.num_rows, kept.num_rows)]:
            b = min(b, kept.num_rows)
            a = min(a, b)
            assert data[starts[a] : starts[b]] == reference(kept.slice(a, b - a))
    # without a mask every line is there
    assert line_bytes(encode_lines(table)).to_pybytes() == reference(table)
    assert list(kept_line_starts(encode_lines(table), None))[-1] == len(reference(table))


def test_fields_the_inventory_lacks_are_empty_cells():
    table = normalized(
        {"key": "k", "size": None, "e_tag": None, "storage_class": None,
         "last_modified_date": None, "is_multipart_uploaded": None},
        {"key": "l", "size": None, "e_tag": None, "storage_class": None,
         "last_modified_date": None, "is_multipart_uploaded": None},
    )  # fmt: skip
    assert encode_rows(table).to_pybytes() == b"src,k,,,,,,\nsrc,l,,,,,,\n"
    assert encode_rows(table).to_pybytes() == reference(table)


def test_timestamps_render_as_the_inventory_writes_them():
    table = normalized(
        *({"key": str(i), "last_modified_date": datetime(y, 1, 2, 3, 4, 5, ms * 1000, tzinfo=UTC)}
          for i, (y, ms) in enumerate([(1970, 0), (2024, 7), (9999, 999), (1000, 10)]))
    )  # fmt: skip
    assert encode_rows(table).to_pybytes() == reference(table)
    assert b",1970-01-02T03:04:05.000Z," in encode_rows(table).to_pybytes()


def test_timestamps_past_year_9999_keep_their_z():
    from s3grouper.rows import _timestamps

    millis = pa.array([253402300800000, 0, None], pa.timestamp("ms", "UTC"))  # year 10000
    assert _timestamps(millis).to_pylist() == [
        "10000-01-01T00:00:00.000Z", "1970-01-01T00:00:00.000Z", ""]  # fmt: skip


def test_every_submanifest_column_has_a_cell_encoder():
    from s3common.submanifest import COLUMNS
    from s3grouper.readers import NORMALIZED
    from s3grouper.rows import CELLS

    assert set(CELLS) == set(COLUMNS)
    assert {source for source, _ in CELLS.values()} <= set(NORMALIZED.names)


def test_column_order_comes_from_submanifest_columns(monkeypatch):
    """Reordering COLUMNS reorders the vectorized encoder's cells too: they cannot disagree."""
    import s3grouper.rows as rows
    from s3common.submanifest import COLUMNS

    mixed = normalized(
        {"key": "a,b", "size": 3, "version_id": "v", "is_multipart_uploaded": True},
        {"key": "c", "size": None, "storage_class": None, "is_multipart_uploaded": None},
        {"key": 'q"', "e_tag": None, "last_modified_date": None},
    )
    unversioned = normalized({"key": "x"}, {"key": "y"})  # version_id: a scalar cell
    cases = [
        (mixed, tuple(reversed(COLUMNS))),
        (mixed, (*COLUMNS[1:], COLUMNS[0])),
        (mixed, COLUMNS[2:] + COLUMNS[:2]),
        (unversioned, (*(c for c in COLUMNS if c != "version_id"), "version_id")),
    ]
    for table, order in cases:
        canonical = list(csv.reader(io.StringIO(reference(table).decode(), newline="")))
        monkeypatch.setattr(rows, "COLUMNS", order)
        where = [COLUMNS.index(name) for name in order]
        expected = io.StringIO(newline="")
        CsvWriter(expected).writerows([row[i] for i in where] for row in canonical)
        assert encode_rows(table).to_pybytes() == expected.getvalue().encode()
