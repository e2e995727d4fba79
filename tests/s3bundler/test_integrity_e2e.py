"""End to end, the integrity holes that once lost or mislaid objects: bad rows, duplicates,
empty sub-manifests, the bundler's own outputs delivered as work, orphan uploads after kill -9,
test events and --max-messages, objects that break while streamed."""

from __future__ import annotations

import io
import json
import signal
import tarfile
import time
from typing import ClassVar

import pytest

from s3bundler import dlq
from s3bundler.archiver import BundlerConfig, ManifestJob
from s3bundler.dlq import read_dlq
from s3bundler.failures import ObjectFailed
from s3bundler.index import read_index
from s3bundler.ranged_stream import RangedStream
from s3bundler.report import ManifestReport
from s3common.s3uri import S3Uri
from s3common.submanifest import HEADER_LINE, ManifestEntry
from tests.helpers import run_cli
from tests.s3bundler.e2e import (
    bucket_keys,
    make_queue,
    outputs_for,
    slow_manifest,
    worker_at_manifest_start,
)
from tests.s3bundler.sources import get_bytes, put_manifest, seed


def report_of(s3, manifest: S3Uri) -> ManifestReport:
    return ManifestReport.from_json(get_bytes(s3, S3Uri(manifest.bucket, manifest.key + ".done")))


def test_bad_rows_and_repeats_end_in_the_dlq_and_the_good_rows_are_archived(s3, buckets):
    src_b, arch_b, man_b = buckets
    seed(s3, src_b, {"good/1": 10, "good/2": 20})
    text = (
        f"{HEADER_LINE}\n"
        f"{src_b},good/1,10,,,,,\n"
        f"{src_b},bad/size,ten,,,,,\n"
        f"{src_b},,5,,,,,\n"
        f"{src_b},bad/cells,1\n"
        f"{src_b},good/2,20,,,,,\n"
        f"{src_b},good/1,10,,,,,\n"
    )
    s3.put_object(Bucket=man_b, Key="p/rows.0.index", Body=text.encode())
    manifest = S3Uri(man_b, "p/rows.0.index")
    result = run_cli("s3bundler", "-m", str(manifest), "-b", arch_b)
    assert result.returncode == 0, result.stderr
    out = outputs_for(manifest, src_b, arch_b)
    assert [r.key for r in read_index(get_bytes(s3, out.index_uri))] == ["good/1", "good/2"]
    rows = [(r.key, r.reason, r.detail) for r in read_dlq(get_bytes(s3, out.dlq))]
    assert rows == [
        ("bad/size", dlq.BAD_MANIFEST_ROW, "line 3: size is not a number: 'ten'"),
        ("", dlq.BAD_MANIFEST_ROW, "line 4: empty bucket or key"),
        ("bad/cells", dlq.BAD_MANIFEST_ROW, "line 5: expected 8 cells, got 3"),
        ("good/1", dlq.DUPLICATE_ROW, "line 7: same object as line 2 (archived once)"),
    ]
    counts = report_of(s3, manifest).counts
    assert (counts.objects, counts.archived, counts.failed) == (6, 2, 4)


@pytest.mark.parametrize("body", [b"", f"{HEADER_LINE}\n".encode()])
def test_an_empty_sub_manifest_is_done_with_a_zero_report(s3, sqs, buckets, body):
    """The original s3grouper writes an empty last N.index when the count divides evenly."""
    _src_b, arch_b, man_b = buckets
    s3.put_object(Bucket=man_b, Key="p/empty.3.index", Body=body)
    manifest = S3Uri(man_b, "p/empty.3.index")
    result = run_cli("s3bundler", "-m", str(manifest), "-b", arch_b)
    assert result.returncode == 0, result.stderr
    assert report_of(s3, manifest).counts.objects == 0
    url = make_queue(sqs, f"{man_b}-empty")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Bucket": man_b, "Key": manifest.key}))
    result = run_cli("s3bundler", "-q", url, "-b", arch_b, "--max-messages", "1")
    assert result.returncode == 0, result.stderr
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == attrs["ApproximateNumberOfMessagesNotVisible"]
    assert attrs["ApproximateNumberOfMessages"] == "0"  # deleted: not poison
    assert bucket_keys(s3, arch_b) == []


def test_the_bundlers_own_index_delivered_as_work_is_never_bundled(s3, sqs, buckets):
    src_b, arch_b, man_b = buckets
    seed(s3, src_b, {"a": 3})
    manifest = put_manifest(s3, man_b, "p/own.0.index", [ManifestEntry(src_b, "a", 3)])
    assert run_cli("s3bundler", "-m", str(manifest), "-b", arch_b).returncode == 0
    index = outputs_for(manifest, src_b, arch_b).index_uri
    before = bucket_keys(s3, arch_b)
    url = make_queue(sqs, f"{man_b}-own")
    for key in (index.key, manifest.key + ".done", manifest.key + ".dlq-not-there"):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Bucket": arch_b, "Key": key}))
    result = run_cli("s3bundler", "-q", url, "-b", arch_b, "--idle-exit", "2")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("message_ignored") == 1  # the index; the others: poison/gone
    assert "never bundled" in result.stderr
    assert bucket_keys(s3, arch_b) == before  # no .done, .dlq or archive beside the index


def test_kill_9_leaves_an_upload_that_the_next_run_aborts(s3, sqs, buckets):
    src_b, arch_b, man_b = buckets
    url = make_queue(sqs, f"{man_b}-kill", visibility=1)
    manifest, _ = slow_manifest(s3, src_b, man_b, n=600)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Bucket": man_b, "Key": manifest.key}))
    proc = worker_at_manifest_start(url, arch_b, "--visibility-timeout", "30")
    deadline = time.monotonic() + 20
    while not s3.list_multipart_uploads(Bucket=arch_b).get("Uploads"):
        assert time.monotonic() < deadline, "the worker never started its upload"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert len(s3.list_multipart_uploads(Bucket=arch_b).get("Uploads", [])) == 1
    result = run_cli("s3bundler", "-m", str(manifest), "-b", arch_b, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "aborted 1 stale multipart upload" in result.stderr
    assert s3.list_multipart_uploads(Bucket=arch_b).get("Uploads", []) == []


def test_a_test_event_does_not_count_as_the_one_message(s3, sqs, buckets):
    src_b, arch_b, man_b = buckets
    seed(s3, src_b, {"t": 4})
    manifest = put_manifest(s3, man_b, "p/te.0.index", [ManifestEntry(src_b, "t", 4)])
    url = make_queue(sqs, f"{man_b}-te")
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": man_b}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(test_event))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Bucket": man_b, "Key": manifest.key}))
    result = run_cli("s3bundler", "-q", url, "-b", arch_b, "--max-messages", "1")
    assert result.returncode == 0, result.stderr
    assert report_of(s3, manifest).counts.archived == 1


class BreaksOnce(RangedStream):
    """The first read of ``key`` breaks half-way, as when it changes between a dropped
    connection and the ranged GET that resumes it."""

    broken: ClassVar[set[str]] = set()
    key = "big/changing"

    def chunks(self):
        if self.entry.key != self.key or self.key in self.broken:
            yield from super().chunks()
            return
        self.broken.add(self.key)
        for n, chunk in enumerate(super().chunks()):
            if n == 1:
                raise ObjectFailed(dlq.CHANGED, "PreconditionFailed: changed while read")
            yield chunk


def test_an_object_that_breaks_while_streamed_is_left_out_and_the_rest_archived(
    s3, buckets, monkeypatch
):
    src_b, arch_b, man_b = buckets
    src = seed(s3, src_b, {"small/a": 100, "big/changing": 9 << 20, "small/b": 200})
    entries = [ManifestEntry(src_b, k, len(v)) for k, v in src.data.items()]
    manifest = put_manifest(s3, man_b, "p/brk.0.index", entries)
    monkeypatch.setattr("s3bundler.archiver.RangedStream", BreaksOnce)
    BreaksOnce.broken = set()
    result = ManifestJob(s3, BundlerConfig(archive_bucket=arch_b), manifest).run()
    assert (result.counts.archived, result.counts.errors) == (2, {dlq.CHANGED: 1})
    out = outputs_for(manifest, src_b, arch_b)
    tar_bytes = get_bytes(s3, out.archive_uri)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
        names = tf.getnames()
    assert names == [f"{src_b}/small/a", f"{src_b}/small/b"]  # a clean archive, no half member
    (row,) = read_dlq(get_bytes(s3, out.dlq))
    assert row.key == "big/changing" and "left out of the archive" in row.detail
