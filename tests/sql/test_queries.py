"""The Athena stack's named queries, run verbatim on DuckDB over catalog files written by the
bundler's own code (``s3bundler.catalog``) for two source buckets, and an S3 Inventory-like
report with AWS's column names, both laid out where the stack's Glue tables look for them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudformation import athena_queries as q
from cloudformation.s3bundler_athena_cfn import build_template
from s3bundler.catalog import CatalogFile, catalog_key, encode
from s3bundler.dlq import DlqRow
from s3bundler.index import IndexRow
from s3common.s3uri import S3Uri
from tests.cloudformation.cfn_eval import Evaluator
from tests.sql.athena_duckdb import create_views, local

ARCHIVE_BUCKET, PREFIX = "arch", "archives"
SRC_A, SRC_B = "src-a", "src-b"
DT, OLD_DT = "2024-01-31-01-00", "2024-01-24-01-00"
INVENTORY = f"s3://inv/{SRC_A}/daily/hive/"
PARAMS = {"SourceBuckets": f"{SRC_A},{SRC_B}", "InventoryLocation": INVENTORY}
IMPORTS = {"s3bundler-ArchiveBucket": ARCHIVE_BUCKET, "s3bundler-ArchivePrefix": PREFIX}
WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Obj:
    key: str
    version_id: str = ""
    size: int = 10


#: src-a's objects (as its inventory lists them) by what the bundler did with them.
ARCHIVED_A = (Obj("a/1", "v1"), Obj("a/1", "v2"), Obj("a/2"), Obj("z/3"))
COPIED_A = (Obj("big", size=5_000_000),)
FAILED_A = {Obj("gone"): "NoSuchKey", Obj("locked"): "AccessDenied"}
#: In the inventory, never in the catalog: what "not accounted for" must return exactly. (a/1
#: has catalog rows, but not for this version.)
WITHHELD = (Obj("missing/1"), Obj("missing/2", size=7), Obj("a/1", "v0"))


def _index_row(bucket: str, obj: Obj, offset: int) -> IndexRow:
    return IndexRow(
        bucket=bucket, key=obj.key, version_id=obj.version_id, size=obj.size,
        last_modified="2024-01-02T03:04:05.000Z", etag="e", md5="0" * 32,
        member=f"{bucket}/{obj.key}", offset=offset, header_offset=offset - 512,
        crc32c="AAAAAA==",
    )  # fmt: skip


def _job(name: str) -> tuple[S3Uri, S3Uri]:
    """(sub-manifest, archive) of a manifest ``name`` (e.g. job1/x.0)."""
    return (
        S3Uri(ARCHIVE_BUCKET, f"s3grouper-output/{name}.index"),
        S3Uri(ARCHIVE_BUCKET, f"{PREFIX}/{name}.tar"),
    )


def catalog_files() -> dict[str, bytes]:
    """{key in the archive bucket: Parquet}, as the bundler writes them: job1/x.0 holds all of
    src-a, two objects of src-b and a row without a bucket (so three files); job2/y.0 archives
    a/1 v1 a second time and copies z/3, which job1 archived."""
    manifest, archive = _job("job1/x.0")
    first = CatalogFile(manifest, archive)
    for i, obj in enumerate(ARCHIVED_A):
        first.on_archived(_index_row(SRC_A, obj, 512 + 1024 * i))
    for obj in COPIED_A:
        big = _index_row(SRC_A, obj, 512)
        first.on_copied(big, S3Uri(ARCHIVE_BUCKET, f"{PREFIX}/job1/{SRC_A}/bigobjects/big"))
    for obj, reason in FAILED_A.items():
        first.on_failed(DlqRow(SRC_A, obj.key, obj.version_id, obj.size, reason, "detail"))
    first.on_archived(_index_row(SRC_B, Obj("a/2"), 512))  # same key, other bucket
    first.on_failed(DlqRow(SRC_B, "b/gone", "", None, "NoSuchKey", "deleted"))
    first.on_failed(DlqRow("", "", "", None, "BadManifestRow", "line 9: empty bucket or key"))
    files = first.files(PREFIX, "x.0")
    # The second job, with encode and catalog_key directly (what CatalogFile.files does).
    manifest, archive = _job("job2/y.0")
    again = CatalogFile(manifest, archive)
    again.on_archived(_index_row(SRC_A, ARCHIVED_A[0], 9728))
    again.on_copied(_index_row(SRC_A, ARCHIVED_A[3], 0), S3Uri(ARCHIVE_BUCKET, "copies/z/3"))
    files[catalog_key(PREFIX, SRC_A, "y.0")] = encode(again.rows[SRC_A])
    return files


def inventory_rows(objects: list[Obj], **extra: Any) -> list[dict[str, Any]]:
    return [
        {"bucket": SRC_A, "key": o.key, "version_id": o.version_id or None, "is_latest": True,
         "is_delete_marker": False, "size": o.size, "last_modified_date": WHEN,
         "e_tag": "e", "storage_class": "STANDARD", "is_multipart_uploaded": False, **extra}
        for o in objects
    ]  # fmt: skip


#: An inventory report's Parquet schema with some of the optional fields (AWS's names/types).
INVENTORY_SCHEMA = pa.schema([
    ("bucket", pa.string()), ("key", pa.string()), ("version_id", pa.string()),
    ("is_latest", pa.bool_()), ("is_delete_marker", pa.bool_()), ("size", pa.int64()),
    ("last_modified_date", pa.timestamp("ms", tz="UTC")), ("e_tag", pa.string()),
    ("storage_class", pa.string()), ("is_multipart_uploaded", pa.bool_()),
])  # fmt: skip


def write_inventory(root: Path, dt: str, parts: list[list[dict[str, Any]]]) -> None:
    """One report: its data files under data/, and hive/dt=<dt>/symlink.txt listing them."""
    config = INVENTORY.removesuffix("hive/")
    uris = []
    for n, rows in enumerate(parts):
        uri = f"{config}data/{dt}-{n}.parquet"
        path = local(root, uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=INVENTORY_SCHEMA), path)
        uris.append(uri)
    symlink = local(root, f"{INVENTORY}dt={dt}/symlink.txt")
    symlink.parent.mkdir(parents=True)
    symlink.write_text("".join(u + "\n" for u in uris))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return json.loads(build_template().to_json())


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory, template) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("s3")
    for key, body in catalog_files().items():
        path = local(root, f"s3://{ARCHIVE_BUCKET}/{key}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    accounted = [*ARCHIVED_A, *COPIED_A, *FAILED_A]
    write_inventory(root, DT, [
        inventory_rows(accounted[:3]),
        inventory_rows([*accounted[3:], *WITHHELD[:2]])
        + inventory_rows([WITHHELD[2]], is_latest=False)
        + inventory_rows([Obj("deleted", "dm1")], is_delete_marker=True, size=None),
    ])  # fmt: skip
    write_inventory(root, OLD_DT, [inventory_rows([Obj("old-only"), *accounted])])
    ev = Evaluator(template, PARAMS, imports=IMPORTS)
    tables = {
        r["Properties"]["TableInput"]["Name"]: ev.value(r["Properties"]["TableInput"])
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::Glue::Table" and ev.resource_exists(lid)
    }
    assert set(tables) == {"catalog", "inventory"}
    connection = duckdb.connect()
    create_views(connection, root, tables)
    yield connection
    connection.close()


def run(con: Any, query: q.NamedQuery, *params: str) -> list[dict[str, Any]]:
    """The named query's text, exactly as the template saves it, with ``params`` for its ``?``."""
    assert query.sql.count("?") == len(params), query.name
    cursor = con.execute(query.sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_the_template_saves_exactly_this_sql(template):
    saved = {
        lid: r["Properties"]
        for lid, r in template["Resources"].items()
        if r["Type"] == "AWS::Athena::NamedQuery"
    }
    assert {lid: p["QueryString"] for lid, p in saved.items()} == {
        query.logical_id: query.sql for query in q.QUERIES
    }
    for query in q.QUERIES:
        assert saved[query.logical_id]["Database"] == {"Ref": "GlueDatabase"}
        assert saved[query.logical_id]["Name"] == query.name


def test_the_docs_show_exactly_this_sql():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text()
    for query in q.QUERIES:
        assert f"```sql\n{query.sql}\n```" in doc, query.name
        assert f"**{query.name}**" in doc


def test_where_is_this_key(con):
    rows = run(con, q.WHERE_IS, SRC_A, "a/1")
    assert [(r["version_id"], r["archive"], r["offset"]) for r in rows] == [
        ("v1", f"s3://{ARCHIVE_BUCKET}/{PREFIX}/job1/x.0.tar", 512),
        ("v1", f"s3://{ARCHIVE_BUCKET}/{PREFIX}/job2/y.0.tar", 9728),
        ("v2", f"s3://{ARCHIVE_BUCKET}/{PREFIX}/job1/x.0.tar", 1536),
    ]
    assert {(r["bucket"], r["key"], r["status"], r["member"]) for r in rows} == {
        (SRC_A, "a/1", "archived", f"{SRC_A}/a/1")
    }
    (other,) = run(con, q.WHERE_IS, SRC_B, "a/2")  # the same key in the other bucket
    assert (other["bucket"], other["offset"], other["md5"]) == (SRC_B, 512, "0" * 32)
    (copied,) = run(con, q.WHERE_IS, SRC_A, "big")
    assert copied["status"] == "copied" and copied["archive"] is None
    assert copied["copy"] == f"s3://{ARCHIVE_BUCKET}/{PREFIX}/job1/{SRC_A}/bigobjects/big"
    (failed,) = run(con, q.WHERE_IS, SRC_A, "locked")
    assert (failed["status"], failed["reason"]) == ("failed", "AccessDenied")
    assert failed["manifest"] == f"s3://{ARCHIVE_BUCKET}/s3grouper-output/job1/x.0.index"
    assert run(con, q.WHERE_IS, SRC_A, "nowhere") == []


def test_inventory_objects_not_accounted_for(con):
    rows = run(con, q.UNACCOUNTED, DT, "")
    assert [(r["bucket"], r["key"], r["version_id"], r["size"]) for r in rows] == sorted(
        (SRC_A, o.key, o.version_id or None, o.size) for o in WITHHELD
    )
    assert rows[0]["last_modified_date"] == WHEN
    assert [r["key"] for r in run(con, q.UNACCOUNTED, DT, "missing/")] == ["missing/1", "missing/2"]
    assert run(con, q.UNACCOUNTED, DT, "a/2") == []
    # Another report of the same inventory: only its own rows.
    assert [r["key"] for r in run(con, q.UNACCOUNTED, OLD_DT, "")] == ["old-only"]


def test_failures_by_reason(con):
    rows = run(con, q.FAILURES)
    assert [(r["bucket"], r["reason"], r["objects"]) for r in rows] == [
        (SRC_A, "AccessDenied", 1), (SRC_A, "NoSuchKey", 1), (SRC_B, "NoSuchKey", 1),
        (None, "BadManifestRow", 1),  # Hive's null partition, which the projection lists
    ]  # fmt: skip
    by = {(r["bucket"], r["reason"]): r for r in rows}
    assert by[(SRC_A, "NoSuchKey")]["example_key"] == "gone"
    assert by[(SRC_A, "AccessDenied")]["bytes"] == 10
    assert by[(SRC_B, "NoSuchKey")]["bytes"] is None  # size unknown (not in the manifest)


def test_objects_in_two_places(con):
    rows = run(con, q.DUPLICATES)
    job1, job2 = (f"s3://{ARCHIVE_BUCKET}/{PREFIX}/{j}.tar" for j in ("job1/x.0", "job2/y.0"))
    found = [(r["bucket"], r["key"], r["version_id"], r["places"], r["locations"]) for r in rows]
    assert found == [
        (SRC_A, "a/1", "v1", 2, [job1, job2]),
        (SRC_A, "z/3", "", 2, [job1, f"s3://{ARCHIVE_BUCKET}/copies/z/3"]),  # archived, copied
    ]
