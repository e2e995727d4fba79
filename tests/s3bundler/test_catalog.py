"""The catalog the bundler writes: one Parquet file per manifest and bucket, one row per
sub-manifest row, readable as one Hive-partitioned dataset."""

from __future__ import annotations

import io
import itertools
import json

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from s3bundler import catalog
from s3bundler.dlq import DlqRow
from s3bundler.index import IndexRow
from s3bundler.report import ManifestReport
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry
from tests.helpers import run_cli
from tests.s3bundler.sources import get_bytes, put_manifest, seed

MANIFEST = S3Uri("m", "p/x.0.index")
ARCHIVE = S3Uri("a", "archives/abc123/src/x.0.tar")


def index_row(key: str, **kw) -> IndexRow:
    base = dict(
        bucket="src", key=key, version_id="", size=3, last_modified="2024-01-02T03:04:05.678Z",
        etag="e", md5="m", member=f"src/{key}", offset=512, header_offset=0, crc32c="AAAAAA==",
        metadata={"a": "b"}, tags={}, headers={"CacheControl": "no-cache"},
    )  # fmt: skip
    base.update(kw)
    return IndexRow(**base)


def test_catalog_keys_are_hive_partitions_by_source_bucket():
    assert (
        catalog.catalog_key("archives", "src", "x.0") == "archives/catalog/bucket=src/x.0.parquet"
    )
    assert (
        catalog.catalog_key("", "", "x.0")
        == "catalog/bucket=__HIVE_DEFAULT_PARTITION__/x.0.parquet"
    )
    assert catalog.partition_prefix("p/", "src") == "p/catalog/bucket=src/"


def test_one_row_per_outcome_sorted_by_key_with_the_documented_schema():
    sub = catalog.CatalogFile(MANIFEST, ARCHIVE)
    sub.on_archived(index_row("z"))
    sub.on_failed(DlqRow("src", "b", "v1", None, "NoSuchKey", "gone"))
    sub.on_copied(
        index_row("big", member="", offset=None), S3Uri("a", "archives/x/src/bigobjects/big")
    )
    sub.on_failed(DlqRow("", "", "", None, "BadManifestRow", "line 9: empty bucket or key"))
    files = sub.files("archives", "x.0")
    assert sorted(files) == [
        "archives/catalog/bucket=__HIVE_DEFAULT_PARTITION__/x.0.parquet",
        "archives/catalog/bucket=src/x.0.parquet",
    ]
    table = pq.read_table(io.BytesIO(files["archives/catalog/bucket=src/x.0.parquet"]))
    assert table.schema.equals(catalog.SCHEMA, check_metadata=False)
    assert table.schema.metadata[b"s3bundler"] == catalog.FORMAT.encode()
    rows = table.to_pylist()
    assert [(r["key"], r["status"]) for r in rows] == [
        ("b", "failed"), ("big", "copied"), ("z", "archived"),
    ]  # fmt: skip
    archived = rows[2]
    assert archived["archive"] == str(ARCHIVE) and archived["offset"] == 512
    assert archived["crc32c"] == "AAAAAA==" and archived["manifest"] == str(MANIFEST)
    assert json.loads(archived["headers"]) == {"CacheControl": "no-cache"}
    assert archived["last_modified"].isoformat() == "2024-01-02T03:04:05.678000+00:00"
    assert rows[0]["reason"] == "NoSuchKey" and rows[0]["version_id"] == "v1"
    assert rows[1]["copy"] == "s3://a/archives/x/src/bigobjects/big"


def test_row_groups_hold_disjoint_key_ranges():
    sub = catalog.CatalogFile(MANIFEST, ARCHIVE)
    for i in reversed(range(40_000)):
        sub.on_archived(index_row(f"k{i:06d}"))
    (body,) = sub.files("p", "x.0").values()
    meta = pq.ParquetFile(io.BytesIO(body)).metadata
    ranges = [
        (meta.row_group(i).column(0).statistics.min, meta.row_group(i).column(0).statistics.max)
        for i in range(meta.num_row_groups)
    ]
    assert len(ranges) == 3 and ranges[0] == ("k000000", "k016383")
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))


def test_the_bundler_writes_the_catalog_before_its_report(s3, buckets, tmp_path):
    src_b, arch_b, man_b = buckets
    s3.put_bucket_versioning(Bucket=src_b, VersioningConfiguration={"Status": "Enabled"})
    seed(s3, src_b, {"a/1": 10, "a/2": 20, "big": 300})
    entries = [
        ManifestEntry(src_b, "a/1", 10),
        ManifestEntry(src_b, "a/2", 20),
        ManifestEntry(src_b, "big", 300),
        ManifestEntry(src_b, "gone", 4),
    ]
    manifest = put_manifest(s3, man_b, "p/cat.0.index", entries)
    result = run_cli("s3bundler", "-m", str(manifest), "-b", arch_b, "-s", "100")
    assert result.returncode == 0, result.stderr
    report = ManifestReport.from_json(get_bytes(s3, S3Uri(man_b, manifest.key + ".done")))
    (uri,) = report.catalog
    assert uri == f"s3://{arch_b}/archives/catalog/bucket={src_b}/cat.0.parquet"
    local = tmp_path / "catalog" / f"bucket={src_b}"
    local.mkdir(parents=True)
    key = uri.split(f"s3://{arch_b}/", 1)[1]
    (local / "cat.0.parquet").write_bytes(get_bytes(s3, S3Uri(arch_b, key)))
    table = ds.dataset(tmp_path / "catalog", format="parquet", partitioning="hive").to_table()
    rows = {r["key"]: r for r in table.to_pylist()}
    assert {k: r["status"] for k, r in rows.items()} == {
        "a/1": "archived", "a/2": "archived", "big": "copied", "gone": "failed",
    }  # fmt: skip
    assert {r["bucket"] for r in rows.values()} == {src_b}
    assert rows["a/1"]["version_id"] and rows["gone"]["reason"] == "NoSuchKey"
    tar = get_bytes(s3, S3Uri(*rows["a/2"]["archive"][5:].split("/", 1)))
    start = rows["a/2"]["offset"]
    assert tar[start : start + 20] == get_bytes(s3, S3Uri(src_b, "a/2"))
    assert pa.types.is_timestamp(table.schema.field("last_modified").type)
