"""Sharded grouping (``s3grouper --shard i/S``): the shards' sub-manifests hold exactly the rows
of an unsharded run, the job summary is one document merged by the last shard, reruns of a
shard are idempotent, a failed shard leaves no job summary, and groupings do not mix."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from s3common.errors import InputDataError
from s3common.submanifest import JobSummary, read_manifest
from s3grouper.inventory import DataFile
from s3grouper.shards import Shard, assign, auto_shards
from s3jobs import inventory_report as fx
from tests.s3grouper.support import assert_error, grouper, objects

SIZES = (3, 9, 1, 6, 4, 8, 5)  # rows per data file: uneven, so sizes decide the assignment


def rows_in_files():
    rows, n = [], 0
    for count in SIZES:
        chunk = []
        for _ in range(count):
            chunk.append({"Key": f"obj/{n:03d}", "Size": 10 + n})
            n += 1
        rows.append(chunk)
    rows[1].append({"Key": "folder/", "Size": 0})  # skipped: folder
    rows[5].append({"Key": "cold/1", "Size": 5, "StorageClass": "GLACIER"})  # skipped: glacier
    return rows


def put_sharded_inventory(s3, bucket, fmt):
    """An inventory of len(SIZES) data files of different sizes; returns its URI."""
    bodies = [
        fx.encode(fmt, [fx.row_defaults(r, "source-bucket") for r in chunk], fx.DEFAULT_FIELDS)
        for chunk in rows_in_files()
    ]
    return fx.put_report(s3, bucket, bodies, fmt=fmt)


def run_shards(uri, bucket, prefix, count, *extra):
    results = []
    for i in range(count):
        shard = ["--shard", f"{i}/{count}"] if count > 1 else []
        results.append(grouper("-m", uri, "-b", bucket, "-p", prefix, "-c", "4", *extra, *shard))
    return results


def job(s3, bucket, prefix):
    keys = [k for k in objects(s3, bucket) if k.startswith(prefix + "/")
            and k.endswith(".job.json")]  # fmt: skip
    assert len(keys) == 1, keys
    return JobSummary.from_json(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())


def entries(s3, bucket, summary):
    """Every row of every sub-manifest the summary names, as a multiset; checks that the
    sub-manifests in the bucket are exactly those."""
    listed = {k for k in objects(s3, bucket) if k.startswith(summary.manifest_prefix + "/")
              and k.endswith(".index")}  # fmt: skip
    assert listed == set(summary.manifest_keys())
    rows = Counter()
    for key in summary.manifest_keys():
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        manifest = list(read_manifest(data, key))
        assert 0 < len(manifest) <= 4
        rows.update(manifest)
    return rows


@pytest.mark.parametrize("fmt", ["CSV", "Parquet"])
def test_shards_hold_exactly_the_rows_of_an_unsharded_run(s3, bucket, out_bucket, fmt):
    uri = put_sharded_inventory(s3, bucket, fmt)
    assert all(r.returncode == 0 for r in run_shards(uri, out_bucket, "whole", 1))
    whole = job(s3, out_bucket, "whole")
    expected = entries(s3, out_bucket, whole)
    assert whole.shards is None and whole.objects == sum(SIZES) == sum(expected.values())
    for count in (1, 2, 3):
        prefix = f"s{count}"
        extra = ("--shard", "0/1") if count == 1 else ()
        results = run_shards(uri, out_bucket, prefix, count, *extra)
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        summary = job(s3, out_bucket, prefix)
        assert entries(s3, out_bucket, summary) == expected
        assert (summary.objects, summary.bytes, summary.skipped) == (
            whole.objects, whole.bytes, whole.skipped)  # fmt: skip
        assert summary.shard_count == count
        assert summary.manifests == len(summary.manifest_keys())
        if count > 1:
            assert "job merged" in results[-1].stdout, results[-1].stdout
            assert all("job not complete" in r.stdout for r in results[:-1])
            assert all(f"shard {i}/{count}" in r.stdout for i, r in enumerate(results))


@pytest.fixture()
def sharded(s3, bucket, out_bucket):
    uri = put_sharded_inventory(s3, bucket, "CSV")
    results = run_shards(uri, out_bucket, "p", 2)
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    return uri


def stamps(s3, bucket):
    return {k: (v["LastModified"], v["ETag"]) for k, v in objects(s3, bucket).items()}


def test_rerunning_a_shard_writes_nothing(s3, out_bucket, sharded):
    before = stamps(s3, out_bucket)
    time.sleep(1.1)  # LastModified has one-second resolution
    result = grouper("-m", sharded, "-b", out_bucket, "-p", "p", "-c", "4", "--shard", "1/2")
    assert result.returncode == 0, result.stderr
    assert "0 sub-manifests written" in result.stdout and "job complete" in result.stdout
    assert stamps(s3, out_bucket) == before


def test_a_shard_rerun_before_the_others_finish_then_the_last_merges(s3, bucket, out_bucket):
    uri = put_sharded_inventory(s3, bucket, "CSV")
    first = grouper("-m", uri, "-b", out_bucket, "-p", "p", "-c", "4", "--shard", "0/3")
    assert first.returncode == 0, first.stderr
    again = grouper("-m", uri, "-b", out_bucket, "-p", "p", "-c", "4", "--shard", "0/3")
    assert "0 sub-manifests written" in again.stdout
    assert "waiting for shard(s) 1 2" in again.stdout
    for i in (2, 1):
        last = grouper("-m", uri, "-b", out_bucket, "-p", "p", "-c", "4", "--shard", f"{i}/3")
        assert last.returncode == 0, last.stderr
    assert "job merged: 3 shards" in last.stdout
    assert job(s3, out_bucket, "p").objects == sum(SIZES)


def test_a_failed_shard_leaves_the_job_incomplete(s3, bucket, out_bucket):
    uri = put_sharded_inventory(s3, bucket, "CSV")
    manifest = fx.read_manifest_json(s3, uri)
    files = [DataFile(f["key"], f["MD5checksum"], f["size"]) for f in manifest["files"]]
    victim = files[assign(files, 2)[1][0]].key  # a data file of shard 1
    good = s3.get_object(Bucket=bucket, Key=victim)["Body"].read()
    s3.put_object(Bucket=bucket, Key=victim, Body=good[:-1] + bytes([good[-1] ^ 1]))
    ok, failed = run_shards(uri, out_bucket, "p", 2)
    assert ok.returncode == 0 and "job not complete, waiting for shard(s) 1" in ok.stdout
    assert_error(failed, 3, victim, "MD5")
    assert not any(k.endswith(".job.json") for k in objects(s3, out_bucket))
    assert not any(".s1-of-2." in k for k in objects(s3, out_bucket))  # nothing of shard 1
    s3.put_object(Bucket=bucket, Key=victim, Body=good)  # repaired: the rerun completes the job
    rerun = grouper("-m", uri, "-b", out_bucket, "-p", "p", "-c", "4", "--shard", "1/2")
    assert rerun.returncode == 0 and "job merged" in rerun.stdout
    assert job(s3, out_bucket, "p").objects == sum(SIZES)


def test_shards_of_other_options_or_counts_do_not_mix(s3, out_bucket, sharded):
    other = grouper("-m", sharded, "-b", out_bucket, "-p", "p", "-c", "5", "--shard", "0/2")
    assert_error(other, 2, ".s0-of-2.shard.json", "count_threshold: 4 -> 5", "--force")
    for key in objects(s3, out_bucket):  # shard 1 and the job summary never written
        if ".s1-of-2." in key or key.endswith(".job.json"):
            s3.delete_object(Bucket=out_bucket, Key=key)
    other = grouper("-m", sharded, "-b", out_bucket, "-p", "p", "-c", "5", "--shard", "1/2")
    assert_error(other, 2, ".s0-of-2.shard.json", "count_threshold: 4 -> 5", "--force")
    redo = grouper("-m", sharded, "-b", out_bucket, "-p", "p", "-c", "4", "--shard", "1/2")
    assert redo.returncode == 0 and "job merged" in redo.stdout
    three = grouper("-m", sharded, "-b", out_bucket, "-p", "p", "-c", "4", "--shard", "0/3")
    assert_error(three, 2, ".job.json", "shards: 2 -> 3", "--force")
    whole = grouper("-m", sharded, "-b", out_bucket, "-p", "p", "-c", "4")
    assert_error(whole, 2, "sharded grouping", "--force")


def test_force_regroups_with_another_shard_count(s3, out_bucket, sharded):
    results = run_shards(sharded, out_bucket, "p", 3, "--force")
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    summary = job(s3, out_bucket, "p")
    assert summary.shard_count == 3 and summary.objects == sum(SIZES)
    assert not any(".s0-of-2." in k or ".s1-of-2." in k for k in objects(s3, out_bucket))
    entries(s3, out_bucket, summary)  # the bucket holds exactly the 3-shard grouping
    whole = run_shards(sharded, out_bucket, "p", 1, "--force")[0]
    assert whole.returncode == 0, whole.stderr
    summary = job(s3, out_bucket, "p")
    assert summary.shards is None and not any(".s" in k for k in objects(s3, out_bucket))


def test_a_concurrent_merge_is_written_once(s3, out_bucket, sharded):
    """Two last shards merging at once: the conditional write lets one create the job summary;
    the other finds the same document there. A different one is an error."""
    from s3grouper.merge import JobMerge

    summary = job(s3, out_bucket, "p")
    key = f"p/{summary.base_name}.job.json"
    original = s3.get_object(Bucket=out_bucket, Key=key)["Body"].read()
    merger = JobMerge(s3, out_bucket, "p", summary.base_name, Shard(0, 2), run="x")
    merged, waiting, written = merger._write(summary, conditional=True)
    assert (merged, waiting, written) == (JobSummary.from_json(original), [], False)
    other = JobSummary.from_json(original)
    other.objects += 1
    with pytest.raises(Exception, match="written meanwhile by another run"):
        merger._write(other, conditional=True)
    assert s3.get_object(Bucket=out_bucket, Key=key)["Body"].read() == original


# --- units ---------------------------------------------------------------------------------


def test_assignment_is_deterministic_disjoint_complete_and_balanced():
    files = [DataFile(f"k{n:02d}", "0" * 32, size) for n, size in
             enumerate([100, 10, 90, 20, 80, 30, 70, 40, 60, 50])]  # fmt: skip
    for count in (1, 2, 3, 4, 16):
        shards = assign(files, count)
        assert shards == assign(list(files), count)
        flat = sorted(j for shard in shards for j in shard)
        assert flat == list(range(len(files)))
        assert all(shard == sorted(shard) for shard in shards)
    loads = [sum(files[j].size for j in shard) for shard in assign(files, 2)]
    assert loads == [280, 270]  # largest first, each to the lightest shard
    no_sizes = [DataFile(f"k{n}", "0" * 32) for n in range(5)]
    assert assign(no_sizes, 2) == [[0, 2, 4], [1, 3]]  # round robin in key order


def test_shard_parsing_and_auto_count():
    assert Shard.parse("1/4") == Shard(1, 4) and Shard.parse("0/1") is None
    for bad in ("4/4", "x/2", "1", "-1/2", "0/0"):
        with pytest.raises(ValueError):
            Shard.parse(bad)
    assert [auto_shards(n) for n in (0, 7, 8, 16, 100, 10_000)] == [1, 1, 1, 2, 12, 16]


def test_job_summary_names_every_shards_submanifests_and_old_ones_still_read():
    old = {
        "format": "s3bundler-job/1", "inventory": "s3://i/m.json", "source_bucket": "src",
        "manifest_bucket": "b", "manifest_prefix": "p", "base_name": "x", "options": {},
        "manifests": 2, "objects": 5, "bytes": 50, "skipped": {}, "created": "",
    }  # fmt: skip
    unsharded = JobSummary.from_json(json.dumps(old))
    assert unsharded.manifest_keys() == ["p/x.0.index", "p/x.1.index"]
    assert json.loads(unsharded.to_json()) == old  # written exactly as before
    sharded = JobSummary(**{**old, "manifests": 3, "shards": [2, 0, 1]})
    assert sharded.manifest_keys() == [
        "p/x.s0-of-3.0.index", "p/x.s0-of-3.1.index", "p/x.s2-of-3.0.index"]  # fmt: skip
    again = JobSummary.from_json(sharded.to_json())
    assert again == sharded and again.format == "s3bundler-job/2" and again.shard_count == 3
    for broken in ({**old, "shards": [2]}, {**old, "format": "s3bundler-job/2"},
                   {**old, "format": "s3bundler-job/2", "shards": [1]}):  # fmt: skip
        with pytest.raises(InputDataError):
            JobSummary.from_json(json.dumps(broken))
