"""``python -m s3grouper`` against the moto server, for real-format CSV, ORC and Parquet
inventories (built by s3jobs/inventory_report.py)."""

from datetime import UTC, datetime

import pytest

from s3grouper.grouping import Thresholds
from s3jobs import inventory_report as fx
from tests.s3grouper.support import assert_ok, grouper, job_summary, objects, submanifests
from tests.s3grouper.test_grouping import reference

FORMATS = ["CSV", "ORC", "Parquet"]

TRICKY_KEYS = [
    "plain.txt",
    "with space/and more spaces .txt",
    "plus+sign+",
    "percent%20literal%",
    "percent%2Fnot-a-slash",
    "comma,separated,key",
    'double"quote"',
    "new\nline",
    "carriage\rreturn",
    "ünïcødé/日本語/😀.bin",
    "long/" + "x" * 895,  # 900 bytes
    "é" * 450,  # 900 bytes, multi-byte
    "#hash?query&a=1;b=2[3]{4}~*'()!$@",
    "a/b/../c/./d",
    "tab\there",
    " leading and trailing ",
]


def tricky_rows():
    rows = []
    for n, key in enumerate(TRICKY_KEYS):
        rows.append(
            {
                "Key": key,
                "Size": [0, 100, 250, 999, 5000, 1][n % 6],  # 5000: above the threshold
                "LastModifiedDate": datetime(2024, 1, 1 + n, 8, 30, n, n * 1000, tzinfo=UTC),
                "IsMultipartUploaded": n % 3 == 0,
                "StorageClass": ["STANDARD", "STANDARD_IA", "GLACIER_IR"][n % 3],
            }
        )
    rows.insert(3, {"Key": "folder/", "Size": 0})
    rows.insert(7, {"Key": "cold/object", "Size": 10, "StorageClass": "GLACIER"})
    rows.insert(9, {"Key": "colder/object", "Size": 10, "StorageClass": "DEEP_ARCHIVE"})
    return rows


def expected_entries(rows, source_bucket="source-bucket"):
    full = [fx.row_defaults(r, source_bucket) for r in rows]
    return [
        r for r in full
        if not (r["Key"].endswith("/") and r["Size"] == 0)
        and r["StorageClass"] not in ("GLACIER", "DEEP_ARCHIVE")
    ]  # fmt: skip


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_eligible_object_lands_in_exactly_one_submanifest(fmt, s3, bucket, out_bucket):
    rows = tricky_rows()
    uri = fx.put_inventory(s3, bucket, rows, fmt=fmt, files=4)
    result = grouper("-m", uri, "-b", out_bucket, "-s", "1000", "-c", "4")
    assert_ok(result)

    groups = submanifests(s3, out_bucket)
    entries = [e for _, group in groups for e in group]
    want = expected_entries(rows)
    assert [e.key for e in entries] == [r["Key"] for r in want]  # exact keys, inventory order
    for entry, row in zip(entries, want, strict=True):
        assert entry.bucket == "source-bucket"
        assert entry.size == row["Size"]
        assert entry.etag == row["ETag"]
        assert entry.last_modified == iso(row["LastModifiedDate"])
        assert entry.storage_class == row["StorageClass"]
        assert entry.is_multipart is row["IsMultipartUploaded"]
        assert entry.version_id == ""

    # Thresholds: the exact partition the rule gives, and the bounds it implies.
    sizes = [r["Size"] for r in want]
    want_groups = reference(sizes, Thresholds(size=1000, count=4))
    assert [len(g) for _, g in groups] == [len(g) for g in want_groups]
    for _, group in groups:
        assert 1 <= len(group) <= 4
        assert len(group) == 1 or sum(e.size for e in group) <= 1000

    summary = job_summary(s3, out_bucket)
    assert summary.inventory == uri
    assert summary.source_bucket == "source-bucket"
    assert summary.manifest_bucket == out_bucket
    assert (summary.manifests, summary.objects, summary.bytes) == (
        len(groups), len(want), sum(sizes)
    )  # fmt: skip
    assert summary.skipped["folder"] == 1 and summary.skipped["glacier"] == 2
    assert summary.options["size_threshold"] == 1000 and summary.options["count_threshold"] == 4
    assert [k for k, _ in groups] == summary.manifest_keys()
    assert f"{len(groups)} sub-manifests written" in result.stdout
    assert f"{len(want)} objects" in result.stdout


def test_submanifest_keys_follow_the_inventory_manifest_key(s3, bucket, out_bucket):
    uri = fx.put_inventory(s3, bucket, [{"Key": "a"}], prefix="inv/daily", config_id="cfg-1")
    assert_ok(grouper("-m", uri, "-b", out_bucket, "-p", "work/grouped/", "-k", "nightly"))
    assert sorted(objects(s3, out_bucket)) == [
        "work/grouped/inv-daily-source-bucket-cfg-1-2024-01-31T00-00Z-nightly.0.index",
        "work/grouped/inv-daily-source-bucket-cfg-1-2024-01-31T00-00Z-nightly.job.json",
    ]


VERSIONED = [
    {"Key": "a", "VersionId": "a-3", "IsLatest": True, "Size": 3},
    {"Key": "a", "VersionId": "a-2", "IsLatest": False, "Size": 2},
    {"Key": "b b", "VersionId": "b-2", "IsLatest": True, "IsDeleteMarker": True},
    {"Key": "b b", "VersionId": "b-1", "IsLatest": False, "Size": 1},
    {"Key": "c+", "VersionId": "null", "IsLatest": True, "Size": 5},
    {"Key": "d", "VersionId": "d-1", "IsLatest": False, "IsDeleteMarker": True},
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_versioned_inventory(fmt, s3, bucket, out_bucket):
    uri = fx.put_inventory(s3, bucket, VERSIONED, fmt=fmt, fields=fx.VERSIONED_FIELDS, files=2)
    assert_ok(grouper("-m", uri, "-b", out_bucket, "-p", "latest"))
    entries = [e for _, g in submanifests(s3, out_bucket, "latest") for e in g]
    assert [(e.key, e.version_id, e.size) for e in entries] == [("a", "a-3", 3), ("c+", "null", 5)]
    summary = job_summary(s3, out_bucket, "latest")
    assert summary.skipped["delete_marker"] == 2 and summary.skipped["not_latest"] == 2

    assert_ok(grouper("-m", uri, "-b", out_bucket, "-p", "all", "--all-versions"))
    entries = [e for _, g in submanifests(s3, out_bucket, "all") for e in g]
    assert [(e.key, e.version_id) for e in entries] == [
        ("a", "a-3"), ("a", "a-2"), ("b b", "b-1"), ("c+", "null"),
    ]  # fmt: skip
    assert job_summary(s3, out_bucket, "all").skipped["delete_marker"] == 2


def test_glacier_mode_has_its_own_names(s3, bucket, out_bucket):
    rows = [
        {"Key": "hot", "StorageClass": "STANDARD"},
        {"Key": "cold", "StorageClass": "GLACIER"},
        {"Key": "ir", "StorageClass": "GLACIER_IR"},
        {"Key": "it", "StorageClass": "INTELLIGENT_TIERING",
         "IntelligentTieringAccessTier": "DEEP_ARCHIVE_ACCESS"},
    ]  # fmt: skip
    fields = (*fx.DEFAULT_FIELDS, "IntelligentTieringAccessTier")
    uri = fx.put_inventory(s3, bucket, rows, fields=fields)
    assert_ok(grouper("-m", uri, "-b", out_bucket))
    assert_ok(grouper("-m", uri, "-b", out_bucket, "-g"))
    normal = [e.key for _, g in submanifests(s3, out_bucket) for e in g]
    glacier = [e.key for _, g in submanifests(s3, out_bucket, name="manifest-glacier") for e in g]
    assert (normal, glacier) == (["hot", "ir"], ["cold", "it"])
    assert job_summary(s3, out_bucket, name="manifest-glacier").options["glacier"] is True


def test_inventory_without_size_groups_by_count_and_warns(s3, bucket, out_bucket):
    rows = [{"Key": f"k{n}"} for n in range(7)] + [{"Key": "dir/"}]
    uri = fx.put_inventory(s3, bucket, rows, fields=("Bucket", "Key", "StorageClass"))
    result = grouper("-m", uri, "-b", out_bucket, "-c", "3", "-s", "1")
    assert_ok(result)
    assert "no Size field" in result.stderr
    groups = submanifests(s3, out_bucket)
    assert [[e.key for e in g] for _, g in groups] == [["k0", "k1", "k2"], ["k3", "k4", "k5"],
                                                      ["k6"]]  # fmt: skip
    assert all(e.size is None for _, g in groups for e in g)
    assert job_summary(s3, out_bucket).bytes == 0


def test_filters_from_the_command_line(s3, bucket, out_bucket, tmp_path):
    def day(d):
        return datetime(2024, 3, d, tzinfo=UTC)

    rows = [
        {"Key": "logs/a.gz", "Size": 10, "LastModifiedDate": day(5)},
        {"Key": "logs/b.tmp", "Size": 10, "LastModifiedDate": day(5)},
        {"Key": "logs/_temporary/c.gz", "Size": 10, "LastModifiedDate": day(5)},
        {"Key": "logs/d.gz", "Size": 10, "LastModifiedDate": day(1)},
        {"Key": "logs/e.gz", "Size": 99999, "LastModifiedDate": day(5)},
        {"Key": "logs/f.gz", "Size": 10, "LastModifiedDate": day(5), "StorageClass": "STANDARD_IA"},
        {"Key": "img/g.gz", "Size": 10, "LastModifiedDate": day(5)},
    ]
    excludes = tmp_path / "excludes"
    excludes.write_text("# scratch\n*/_temporary/*\n\n")
    uri = fx.put_inventory(s3, bucket, rows)
    result = grouper(
        "-m", uri, "-b", out_bucket, "-i", "logs/", "--exclude", "*.tmp",
        "--exclude-from", str(excludes), "--storage-class", "standard", "--max-size", "1K",
        "--modified-since", "2024-03-02",
    )  # fmt: skip
    assert_ok(result)
    assert [e.key for _, g in submanifests(s3, out_bucket) for e in g] == ["logs/a.gz"]
    summary = job_summary(s3, out_bucket)
    assert summary.skipped["filtered"] == 6
    assert summary.options["exclude"] == ["*.tmp", "*/_temporary/*"]


def test_filter_needing_a_missing_field_is_refused(s3, bucket, out_bucket):
    uri = fx.put_inventory(s3, bucket, [{"Key": "a"}], fields=("Bucket", "Key", "Size"))
    result = grouper("-m", uri, "-b", out_bucket, "-g")
    assert result.returncode == 2
    assert "StorageClass" in result.stderr and result.stderr.count("\n") == 1
    assert objects(s3, out_bucket) == {}


def test_multipart_data_files_are_verified_by_reading_them(s3, bucket, out_bucket):
    rows = [{"Key": f"k{n}"} for n in range(5)]
    uri = fx.put_inventory(s3, bucket, rows, fmt="Parquet", multipart=True)
    data_key = fx.read_manifest_json(s3, uri)["files"][0]["key"]
    assert "-" in s3.head_object(Bucket=bucket, Key=data_key)["ETag"]  # not the MD5
    assert_ok(grouper("-m", uri, "-b", out_bucket))
    assert job_summary(s3, out_bucket).objects == 5


def test_data_files_fall_back_to_the_manifest_bucket(s3, bucket, out_bucket):
    def elsewhere(manifest):
        manifest["destinationBucket"] = "arn:aws:s3:::no-such-bucket-for-inventory"

    uri = fx.put_inventory(s3, bucket, [{"Key": "a"}], manifest_edit=elsewhere)
    assert_ok(grouper("-m", uri, "-b", out_bucket))
    assert job_summary(s3, out_bucket).objects == 1


def test_empty_inventory_writes_only_the_job_summary(s3, bucket, out_bucket):
    uri = fx.put_report(s3, bucket, [])
    result = grouper("-m", uri, "-b", out_bucket)
    assert_ok(result)
    assert submanifests(s3, out_bucket) == []
    assert job_summary(s3, out_bucket).manifests == 0
