"""Reruns: nothing new is written, --force rewrites, different options are refused."""

import time

import pytest

from s3jobs import inventory_report as fx
from tests.s3grouper.support import (
    assert_error,
    assert_ok,
    grouper,
    job_summary,
    objects,
    submanifests,
)

ROWS = [{"Key": f"obj/{n:03d}", "Size": n} for n in range(20)]


@pytest.fixture()
def first_run(s3, bucket, out_bucket):
    uri = fx.put_inventory(s3, bucket, ROWS, fmt="CSV", files=3)
    assert_ok(grouper("-m", uri, "-b", out_bucket, "-c", "6"))
    return uri, objects(s3, out_bucket)


def stamps(listing):
    return {k: (v["LastModified"], v["ETag"]) for k, v in listing.items()}


def test_second_run_writes_nothing(s3, out_bucket, first_run):
    uri, before = first_run
    assert len(before) == 5  # 4 sub-manifests + job summary
    time.sleep(1.1)  # LastModified has one-second resolution
    result = grouper("-m", uri, "-b", out_bucket, "-c", "6")
    assert_ok(result)
    assert "0 sub-manifests written, 4 skipped" in result.stdout
    assert stamps(objects(s3, out_bucket)) == stamps(before)


def test_force_rewrites(s3, out_bucket, first_run):
    uri, before = first_run
    time.sleep(1.1)
    result = grouper("-m", uri, "-b", out_bucket, "-c", "6", "--force")
    assert_ok(result)
    assert "4 sub-manifests written, 0 skipped" in result.stdout
    after = objects(s3, out_bucket)
    assert set(after) == set(before)
    for key, obj in after.items():
        if key.endswith(".index"):
            assert obj["LastModified"] > before[key]["LastModified"]
            assert obj["ETag"] == before[key]["ETag"]  # same grouping, same bytes


def test_changed_options_are_refused(s3, out_bucket, first_run):
    uri, before = first_run
    result = grouper("-m", uri, "-b", out_bucket, "-c", "5", "--exclude", "*7")
    assert_error(result, 2, ".job.json", "different options", "count_threshold: 6 -> 5",
                 "exclude", "--force")  # fmt: skip
    assert stamps(objects(s3, out_bucket)) == stamps(before)


def test_force_with_fewer_groups_removes_stale_submanifests(s3, out_bucket, first_run):
    uri, _ = first_run
    result = grouper("-m", uri, "-b", out_bucket, "-c", "10", "--force")
    assert_ok(result)
    groups = submanifests(s3, out_bucket)
    assert [len(g) for _, g in groups] == [10, 10]
    assert job_summary(s3, out_bucket).manifests == 2
    assert len(objects(s3, out_bucket)) == 3


def test_interrupted_run_is_completed(s3, out_bucket, first_run):
    uri, before = first_run
    summary_key = next(k for k in before if k.endswith(".job.json"))
    lost = next(k for k in before if k.endswith(".2.index"))
    s3.delete_object(Bucket=out_bucket, Key=summary_key)
    s3.delete_object(Bucket=out_bucket, Key=lost)
    time.sleep(1.1)
    result = grouper("-m", uri, "-b", out_bucket, "-c", "6")
    assert_ok(result)
    assert "1 sub-manifests written, 3 skipped" in result.stdout
    after = objects(s3, out_bucket)
    assert set(after) == set(before)
    assert after[lost]["ETag"] == before[lost]["ETag"]


def test_interrupted_run_with_other_options_is_refused(s3, out_bucket, first_run):
    uri, before = first_run
    summary_key = next(k for k in before if k.endswith(".job.json"))
    s3.delete_object(Bucket=out_bucket, Key=summary_key)
    result = grouper("-m", uri, "-b", out_bucket, "-c", "7")
    assert_error(result, 2, ".0.index", "not made by s3grouper with these options", "--force")
    assert len(objects(s3, out_bucket)) == 4
