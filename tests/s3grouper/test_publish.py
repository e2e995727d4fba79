"""Sub-manifests are published as a whole, once every row was read and every sub-manifest
uploaded: a run that fails or is killed before that leaves nothing a bundler could be sent (no
``.index`` object, so no S3 event; no ``--queue`` message), and a rerun completes the job with
exactly one set of sub-manifests and messages.

"Never existed" is checked on a versioned output bucket (a deleted object leaves its versions
listed) that has the stack's event notification (new ``<prefix>/*.index`` -> a queue)."""

from __future__ import annotations

import gzip
import time
import uuid
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from s3grouper.cli import build_parser, options_from_args
from s3grouper.filters import RowFilter
from s3grouper.grouper import GrouperClients, run_grouper
from s3jobs import inventory_report as fx
from tests.helpers import run_cli
from tests.s3grouper.support import (
    PREFIX,
    assert_error,
    assert_ok,
    grouper,
    job_summary,
    objects,
    submanifests,
)
from tests.s3grouper.test_queue import drain

ROWS = [{"Key": f"k{n:03d}", "Size": 1} for n in range(90)]  # -c 1: 90 sub-manifests, 3 files


def late_malformed_report(s3, bucket):
    """60 good rows in two data files, then a third whose second row's size is not a number."""
    good = [f'"source-bucket","k{n:03d}","1"\n' for n in range(60)]
    bad = '"source-bucket","z1","1"\n"source-bucket","z2","x"\n'
    bodies = [gzip.compress("".join(part).encode()) for part in (good[:30], good[30:], [bad])]
    return fx.put_report(s3, bucket, bodies, fields=("Bucket", "Key", "Size"))


@pytest.fixture()
def queue(sqs):
    name = f"grouper-{uuid.uuid4().hex[:8]}"
    return name, sqs.create_queue(QueueName=name)["QueueUrl"]


@pytest.fixture()
def watched(s3, sqs, out_bucket, queue):
    """The output bucket, versioned and notifying ``queue`` of new <prefix>/*.index objects."""
    _, url = queue
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    s3.put_bucket_versioning(Bucket=out_bucket, VersioningConfiguration={"Status": "Enabled"})
    rules = [{"Name": "prefix", "Value": f"{PREFIX}/"}, {"Name": "suffix", "Value": ".index"}]
    s3.put_bucket_notification_configuration(
        Bucket=out_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": rules}},
                }
            ]
        },
    )
    drain(sqs, url)  # the s3:TestEvent
    return url


def versions(s3, bucket):
    """Key -> how many versions (delete markers included) of it ever existed."""
    counts = Counter()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            counts[entry["Key"]] += 1
    return counts


def ever_indexed(s3, bucket):
    return {k: n for k, n in versions(s3, bucket).items() if k.endswith(".index")}


def notified(sqs, url):
    """The keys of the S3 events in the queue (moto sends two per completed multipart upload)."""
    return {
        record["s3"]["object"]["key"].replace("%2F", "/")
        for body in drain(sqs, url)
        for record in body.get("Records", [])
    }


def open_uploads(s3, bucket):
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def test_late_malformed_row_with_queue_sends_nothing(s3, sqs, bucket, out_bucket, queue):
    name, url = queue
    uri = late_malformed_report(s3, bucket)
    result = grouper("-m", uri, "-b", out_bucket, "-c", "1", "--queue", name)
    assert_error(result, 3, "row 2", "'x'")
    assert drain(sqs, url) == [], "no message may point at a sub-manifest of a failed run"
    assert objects(s3, out_bucket) == {}
    assert open_uploads(s3, out_bucket) == [], "the failed run aborts what it uploaded"


def test_late_malformed_row_never_creates_an_index_object(s3, sqs, bucket, out_bucket, watched):
    uri = late_malformed_report(s3, bucket)
    assert_error(grouper("-m", uri, "-b", out_bucket, "-c", "1"), 3, "row 2", "'x'")
    assert ever_indexed(s3, out_bucket) == {}, "not even for a moment"
    assert notified(sqs, watched) == set()
    assert objects(s3, out_bucket) == {}


def test_a_good_run_creates_each_submanifest_once(s3, sqs, bucket, out_bucket, watched):
    uri = fx.put_inventory(s3, bucket, ROWS[:25])
    assert_ok(grouper("-m", uri, "-b", out_bucket, "-c", "2"))
    keys = [k for k, _ in submanifests(s3, out_bucket)]
    assert len(keys) == 13
    assert ever_indexed(s3, out_bucket) == dict.fromkeys(keys, 1)
    assert notified(sqs, watched) == set(keys)


def test_failed_force_run_leaves_the_previous_grouping_as_it_was(s3, bucket, out_bucket):
    # The same report path in another bucket gives the same output names.
    uri = fx.put_inventory(s3, bucket, ROWS[:60], fields=("Bucket", "Key", "Size"))
    assert_ok(grouper("-m", uri, "-b", out_bucket, "-c", "2"))
    before = {k: v["ETag"] for k, v in objects(s3, out_bucket).items()}
    other = f"{bucket}-b"
    s3.create_bucket(Bucket=other)
    bad = late_malformed_report(s3, other)
    result = grouper("-m", bad, "-b", out_bucket, "-c", "1", "--force")
    assert_error(result, 3, "row 2", "'x'")
    assert {k: v["ETag"] for k, v in objects(s3, out_bucket).items()} == before


def settled(read, quiet: float = 1.0, limit: float = 15.0):
    """``read()`` once it has returned the same value for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    last = read()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = read()
        if now == last:
            return now
        last = now
    return last


def kill_run(*args):
    result = run_cli("tests.s3grouper.crash", *args)
    assert result.returncode == -9, result.stderr
    return result


def assert_one_complete_set(s3, out_bucket):
    subs = submanifests(s3, out_bucket)
    assert [[e.key for e in entries] for _, entries in subs] == [[r["Key"]] for r in ROWS]
    assert job_summary(s3, out_bucket).manifests == len(ROWS)
    return [k for k, _ in subs]


@pytest.mark.parametrize("delivery", ["queue", "notification"])
def test_killed_while_reading_then_rerun(s3, sqs, bucket, out_bucket, queue, watched, delivery):
    name, url = queue
    extra = ("--queue", name) if delivery == "queue" else ()
    if delivery == "queue":  # --queue and the notification must not share a queue
        s3.put_bucket_notification_configuration(Bucket=out_bucket, NotificationConfiguration={})
    uri = fx.put_inventory(s3, bucket, ROWS, files=3)
    args = ("-m", uri, "-b", out_bucket, "-c", "1", *extra)

    kill_run("--before-file", "2", *args)  # 60 sub-manifests done, 30 to go
    assert ever_indexed(s3, out_bucket) == {}
    assert drain(sqs, url) == [], "nothing of the killed run reaches the queue"

    result = grouper(*args)
    assert_ok(result)
    assert "90 sub-manifests written, 0 skipped" in result.stdout
    keys = assert_one_complete_set(s3, out_bucket)
    assert ever_indexed(s3, out_bucket) == dict.fromkeys(keys, 1)
    if delivery == "queue":
        assert sorted(m["Key"] for m in drain(sqs, url)) == sorted(keys)  # each once
    else:
        assert notified(sqs, url) == set(keys)


def test_killed_while_publishing_then_rerun(s3, sqs, bucket, out_bucket, queue, watched):
    name, url = queue
    s3.put_bucket_notification_configuration(Bucket=out_bucket, NotificationConfiguration={})
    uri = fx.put_inventory(s3, bucket, ROWS, files=3)
    args = ("-m", uri, "-b", out_bucket, "-c", "1", "--queue", name)

    kill_run("--at-complete", "40", *args)
    # Completions the killed process had already sent may still be landing: wait until the
    # set of published sub-manifests stops changing before counting it.
    published = settled(lambda: ever_indexed(s3, out_bucket))
    assert 0 < len(published) < len(ROWS)
    assert not any(k.endswith(".job.json") for k in objects(s3, out_bucket))
    assert drain(sqs, url) == [], "messages are sent once every sub-manifest is published"

    result = grouper(*args)
    assert_ok(result)
    assert f"{len(published)} skipped (existing)" in result.stdout
    keys = assert_one_complete_set(s3, out_bucket)
    assert ever_indexed(s3, out_bucket) == dict.fromkeys(keys, 1), "published ones are kept"
    messages = [m["Key"] for m in drain(sqs, url)]
    assert sorted(messages) == sorted(keys), "the rerun sends every one, once"


def test_a_row_lost_by_a_bug_fails_the_run_before_anything_is_published(
    s3, bucket, out_bucket, monkeypatch
):
    real = RowFilter.mask

    def lossy(self, table):  # drops each batch's first row without counting it as skipped
        keep = real(self, table)
        lose = pa.array([i > 0 for i in range(table.num_rows)])
        return lose if keep is None else pc.and_(keep, lose)

    monkeypatch.setattr(RowFilter, "mask", lossy)
    uri = fx.put_inventory(s3, bucket, ROWS[:20], files=2)
    args = ["-m", uri, "-b", out_bucket, "-c", "3", "--no-metrics"]
    with pytest.raises(RuntimeError, match="20 rows read, but 18 grouped and 0 skipped"):
        run_grouper(options_from_args(build_parser().parse_args(args)), GrouperClients(s3=s3))
    assert objects(s3, out_bucket) == {}
    assert open_uploads(s3, out_bucket) == []
