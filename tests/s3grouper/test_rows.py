import io
import random
from datetime import UTC, datetime

from s3common.submanifest import ManifestEntry, entry_row, read_manifest, write_rows
from s3grouper.rows import encode_rows
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
