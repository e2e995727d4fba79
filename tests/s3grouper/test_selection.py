"""s3grouper.selection: the rows a grouping run selects, read again from a job summary (what
``s3bundler reconcile`` relies on)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from s3common.errors import InputDataError
from s3common.s3uri import parse_s3_uri
from s3common.sizes import GiB
from s3grouper.filters import FilterOptions
from s3grouper.grouping import Grouper, Thresholds
from s3grouper.selection import Selection, filters_from_job, group_numbers, thresholds_from_job
from s3jobs import inventory_report as fx
from tests.s3grouper.support import assert_ok, grouper, job_summary, submanifests


def test_job_options_read_back_as_the_filters_that_wrote_them():
    filters = FilterOptions(
        include=("a/", "b/"),
        exclude=("*.tmp",),
        glacier=True,
        storage_classes=("GLACIER",),
        min_size=1,
        max_size=10,
        modified_since=datetime(2024, 1, 1, tzinfo=UTC),
        modified_before=datetime(2024, 2, 1, 12, 30, tzinfo=UTC),
        all_versions=True,
        keep_folders=True,
    )
    options = {"name": "manifest", "size_threshold": 1, "count_threshold": 2}
    assert filters_from_job({**options, **filters.describe()}, "job") == filters
    assert filters_from_job({**options, **FilterOptions().describe()}, "job") == FilterOptions()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"only_tuesdays": True}, "unknown grouper option"),
        ({"min_size": "1K"}, "bad grouper options"),
        ({"include": "a/"}, "bad grouper options"),
        ({"modified_since": "yesterday"}, "bad grouper options"),
    ],
)
def test_options_it_cannot_repeat_are_refused(options, message):
    with pytest.raises(InputDataError, match=f"s3://m/j.job.json: {message}"):
        filters_from_job(options, "s3://m/j.job.json")


def test_selection_is_exactly_what_the_grouper_put_in_sub_manifests(s3, bucket, out_bucket):
    rows = [{"Key": f"k/{i:03d}", "Size": i} for i in range(60)]
    rows += [{"Key": "k/folder/", "Size": 0}, {"Key": "cold", "StorageClass": "GLACIER"}]
    rows += [{"Key": f"skip/{i}.tmp", "Size": 5} for i in range(5)]
    manifest = fx.put_inventory(s3, bucket, rows, source_bucket="src", files=3)
    assert_ok(
        grouper("-m", manifest, "-b", out_bucket, "-c", "7", "--exclude", "*.tmp",
                "--min-size", "3", "--no-metrics")
    )  # fmt: skip
    summary = job_summary(s3, out_bucket)
    grouped = [
        (e.key, e.size, n)
        for n, (_, entries) in enumerate(submanifests(s3, out_bucket))
        for e in entries
    ]

    selection = Selection(
        s3, parse_s3_uri(summary.inventory), filters_from_job(summary.options, "job")
    )
    files = []
    selection.open()
    tables = list(selection.tables(on_file_done=lambda: files.append(1)))
    table = pa.concat_tables(tables)
    thresholds = thresholds_from_job(summary.options)
    assert thresholds == Thresholds(size=4 * GiB, count=7)
    replay = Grouper(thresholds)
    groups = pa.concat_arrays([group_numbers(replay, t) for t in tables])
    columns = (table["key"].to_pylist(), table["size"].to_pylist(), groups.to_pylist())
    assert list(zip(*columns, strict=True)) == grouped
    assert selection.selected == summary.objects == len(grouped)
    assert dict(selection.row_filter.skipped) == summary.skipped
    assert selection.rows == len(rows) and len(files) == 3


def test_thresholds_are_read_only_when_usable():
    assert thresholds_from_job({"size_threshold": 10, "count_threshold": 2}) == Thresholds(10, 2)
    assert thresholds_from_job({"size_threshold": 10}) is None
    assert thresholds_from_job({"size_threshold": True, "count_threshold": 2}) is None
