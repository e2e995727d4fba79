"""End to end: s3bundler as a subprocess against the moto server over HTTP.

Checks the product's promises: archives extract (GNU tar and Python tarfile) to bytes identical
to the sources, index rows match the objects (md5, size, and the bytes at ``offset``), big
objects are copied with metadata and tags, failures land in the DLQ index with the right reason,
and every manifest row ends up in exactly one place.
"""

from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import tarfile
import time
import zlib
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import zstandard as zstd

from s3bundler.catalog import catalog_key
from s3bundler.dlq import read_dlq
from s3bundler.index import IndexRow, IndexWriter, read_index
from s3bundler.layout import bigobject_key
from s3bundler.report import ManifestReport
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry
from tests.helpers import metric_sum, run_cli
from tests.s3bundler.e2e import (
    bucket_keys,
    exists,
    make_queue,
    outputs_for,
    slow_manifest,
    worker_at_manifest_start,
)
from tests.s3bundler.sources import Source, deny_get, get_bytes, payload, put_manifest, seed

MiB = 1 << 20

TRICKY_KEYS = [
    "plain.txt",
    "with space/and+plus.bin",
    "percent%20literal%2Fnot-decoded",
    'comma,and"quote".csv',
    "unicode/日本語/ファイル-ü-é.txt",
    "deep/" + "/".join(["d" * 200] * 4) + "/end",  # ~900-byte key: pax path record
    "long-segment/" + "s" * 400,  # a segment no file system takes: shortened member name
    "trailing-slash-with-data/",
    "./dot/../dotdot",
    "zero-bytes",
]


TAR_FLAGS = {"": ["-xf"], "gzip": ["-xzf"], "zstd": ["--zstd", "-xf"]}


def check_tar(tar_bytes: bytes, rows: list[IndexRow], src: Source, tmp_path: Path, codec: str):
    """Index rows vs. the archive vs. the sources, by three independent readers."""
    # 1. GNU tar extracts every member to the source bytes.
    out = tmp_path / f"gnu-{codec}"
    out.mkdir()
    archive = tmp_path / "a.tar"
    archive.write_bytes(tar_bytes)
    proc = subprocess.run(
        ["tar", *TAR_FLAGS[codec], str(archive), "-C", str(out)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    for row in rows:
        assert (out / row.member).read_bytes() == src.data[row.key], row.key
    # 2. Python tarfile sees the same members in manifest order.
    stream = _decompress_all(tar_bytes, codec)
    with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as tf:
        members = tf.getmembers()
        assert [m.name for m in members] == [r.member for r in rows]
        for m, row in zip(members, rows, strict=True):
            assert tf.extractfile(m).read() == src.data[row.key]
            assert m.size == row.size
    # 3. The index: md5 of the source, and the bytes at offset are the object.
    for row in rows:
        body = src.data[row.key]
        assert row.md5 == hashlib.md5(body).hexdigest()
        assert row.size == len(body)
        assert stream[row.offset : row.offset + row.size] == body
        hdr = tarfile.TarInfo.frombuf(
            stream[row.header_offset : row.header_offset + 512], "utf-8", "surrogateescape"
        )
        assert hdr.size == row.size or hdr.type == tarfile.XHDTYPE


def _decompressor(codec: str):
    return (
        zlib.decompressobj(wbits=31) if codec == "gzip" else zstd.ZstdDecompressor().decompressobj()
    )


def _decompress_all(data: bytes, codec: str) -> bytes:
    if not codec:
        return data
    if codec == "zstd":  # (across frames; the seek table's skippable frame skipped)
        reader = zstd.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
        return reader.read()
    out, rest = [], data
    while rest:
        d = _decompressor(codec)
        out.append(d.decompress(rest))
        rest = d.unused_data
    return b"".join(out)


def restore_compressed(s3, archive: S3Uri, row: IndexRow, codec: str) -> bytes:
    """What a user does to get one object back from a .tar.gz or .tar.zst: one ranged GET from
    the frame holding its header, decompressed across frames until the object's last byte."""
    resp = s3.get_object(Bucket=archive.bucket, Key=archive.key, Range=f"bytes={row.gz_offset}-")
    need = row.gz_skip + row.size
    out = bytearray()
    rest = resp["Body"].read()
    while len(out) < need and rest:
        d = _decompressor(codec)
        out += d.decompress(rest)
        rest = d.unused_data
    return bytes(out[row.gz_skip : need])


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compress", "get_client"),
    [("", "crt"), ("gzip", "crt"), ("zstd", "crt"), ("", "boto3")],
    ids=["tar", "tar.gz", "tar.zst", "tar-boto3-gets"],
)
def test_archive_index_copy_and_dlq(s3, buckets, tmp_path, compress, get_client):
    src_b, arch_b, man_b = buckets
    sizes = {k: (0 if k == "zero-bytes" else 1000 + 37 * i) for i, k in enumerate(TRICKY_KEYS)}
    sizes["streamed/nine-mib.bin"] = 9 * MiB  # above the 8 MiB buffering limit: streamed path
    sizes["big/over-maxsize.bin"] = 12 * MiB  # above -s 10MB: server-side copy
    src = seed(s3, src_b, sizes)
    s3.put_object(Bucket=src_b, Key="cold/archived.bin", Body=b"frozen", StorageClass="GLACIER")
    entries = [ManifestEntry(src_b, k, len(v)) for k, v in src.data.items()]
    entries.insert(3, ManifestEntry(src_b, "deleted/since-inventory", 42))
    entries.insert(5, ManifestEntry(src_b, "cold/archived.bin", 6, storage_class="GLACIER"))
    manifest = put_manifest(s3, man_b, "sub/inv-src-manifest.0.index", entries)

    args = ["s3bundler", "-m", str(manifest), "-b", arch_b, "-s", "10MB"]
    args += ["--get-client", get_client, *(["--compress", compress] if compress else [])]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr

    out = outputs_for(manifest, src_b, arch_b, compress)
    assert out.archive_key.endswith({"": ".tar", "gzip": ".tar.gz", "zstd": ".tar.zst"}[compress])
    rows = list(read_index(get_bytes(s3, out.index_uri)))
    archived = {k for k in src.data if k != "big/over-maxsize.bin"}
    assert [r.key for r in rows] == [e.key for e in entries if e.key in archived]
    check_tar(get_bytes(s3, out.archive_uri), rows, src, tmp_path, compress)
    for row in rows:
        assert row.metadata == src.metadata.get(row.key, {})
        assert row.tags == src.tags.get(row.key, {})
        if compress:
            assert restore_compressed(s3, out.archive_uri, row, compress) == src.data[row.key]

    # The big object: copied server-side with metadata and tags, .metadata beside it.
    big_key = bigobject_key("archives", src_b, "big/over-maxsize.bin")
    head = s3.head_object(Bucket=arch_b, Key=big_key)
    assert head["ContentLength"] == 12 * MiB
    assert get_bytes(s3, S3Uri(arch_b, big_key)) == src.data["big/over-maxsize.bin"]
    assert head["Metadata"] == src.metadata.get("big/over-maxsize.bin", {})
    tags = s3.get_object_tagging(Bucket=arch_b, Key=big_key)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == src.tags.get("big/over-maxsize.bin", {})
    meta = json.loads(get_bytes(s3, S3Uri(arch_b, big_key + ".metadata")))
    assert meta["key"] == "big/over-maxsize.bin" and meta["size"] == 12 * MiB
    assert meta["copy_key"] == big_key

    # Failures: in the DLQ index with the right reason.
    dlq = {r.key: r for r in read_dlq(get_bytes(s3, out.dlq))}
    assert {k: r.reason for k, r in dlq.items()} == {
        "deleted/since-inventory": "NoSuchKey",
        "cold/archived.bin": "Glacier",
    }
    # Every manifest row ends in exactly one place.
    placed = [r.key for r in rows] + ["big/over-maxsize.bin"] + list(dlq)
    assert sorted(placed) == sorted(e.key for e in entries)
    # The completion report: exact counts, written last.
    report = ManifestReport.from_json(get_bytes(s3, S3Uri(man_b, manifest.key + ".done")))
    counts = report.counts
    assert (counts.objects, counts.archived, counts.copied, counts.failed) == (
        len(entries),
        len(rows),
        1,
        2,
    )
    assert counts.errors == {"NoSuchKey": 1, "Glacier": 1}
    assert counts.archived_bytes == sum(r.size for r in rows)
    assert report.archive == str(out.archive_uri)
    # ERROR lines, one per failure, for metric filters.
    assert result.stderr.count(" ERROR ") == 2
    assert "manifest_done" in result.stderr


def test_original_headerless_manifest_format(s3, buckets, tmp_path):
    src_b, arch_b, man_b = buckets
    src = seed(s3, src_b, {"a b+c.txt": 10, "ü/x%y": 20, "plain": 30})
    legacy = "".join(f"{src_b},{quote_plus(k, safe='/')},{len(v)}\n" for k, v in src.data.items())
    s3.put_object(Bucket=man_b, Key="old/manifest.3.index", Body=legacy.encode())
    manifest = S3Uri(man_b, "old/manifest.3.index")
    result = run_cli("s3bundler", "-m", str(manifest), "-b", arch_b)
    assert result.returncode == 0, result.stderr
    out = outputs_for(manifest, src_b, arch_b)
    rows = list(read_index(get_bytes(s3, out.index_uri)))
    assert sorted(r.key for r in rows) == sorted(src.data)
    check_tar(get_bytes(s3, out.archive_uri), rows, src, tmp_path, codec="")
    assert not exists(s3, out.dlq)


def test_reprocessing_overwrites_same_keys_and_clears_stale_dlq(s3, buckets):
    src_b, arch_b, man_b = buckets
    src = seed(s3, src_b, {"one": 10, "two": 20})
    entries = [ManifestEntry(src_b, k, len(v)) for k, v in src.data.items()]
    entries.append(ManifestEntry(src_b, "late-arrival", 5))
    manifest = put_manifest(s3, man_b, "p/x.0.index", entries)
    assert run_cli("s3bundler", "-m", str(manifest), "-b", arch_b).returncode == 0
    out = outputs_for(manifest, src_b, arch_b)
    assert [r.reason for r in read_dlq(get_bytes(s3, out.dlq))] == ["NoSuchKey"]
    keys_before = bucket_keys(s3, arch_b)

    s3.put_object(Bucket=src_b, Key="late-arrival", Body=b"12345")
    assert run_cli("s3bundler", "-m", str(manifest), "-b", arch_b).returncode == 0
    assert bucket_keys(s3, arch_b) == keys_before  # same archive + index keys, nothing added
    assert not exists(s3, out.dlq)  # stale DLQ index removed
    rows = list(read_index(get_bytes(s3, out.index_uri)))
    assert [r.key for r in rows] == ["one", "two", "late-arrival"]


def test_changed_object_is_archived_as_it_is_now_and_flagged(s3, buckets):
    src_b, arch_b, man_b = buckets
    seed(s3, src_b, {"grows": 10})
    s3.put_object(Bucket=src_b, Key="grows", Body=b"now twenty bytes....")
    manifest = put_manifest(
        s3, man_b, "p/c.0.index", [ManifestEntry(src_b, "grows", 10, etag="0" * 32)]
    )
    assert run_cli("s3bundler", "-m", str(manifest), "-b", arch_b).returncode == 0
    (row,) = read_index(get_bytes(s3, outputs_for(manifest, src_b, arch_b).index_uri))
    assert row.size == 20
    assert set(row.flags.split(";")) == {"size-changed", "etag-changed"}


def test_versioned_manifest_reads_the_listed_version(s3, buckets):
    src_b, arch_b, man_b = buckets
    s3.put_bucket_versioning(Bucket=src_b, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=src_b, Key="doc", Body=b"version one")["VersionId"]
    s3.put_object(Bucket=src_b, Key="doc", Body=b"version two!")
    manifest = put_manifest(
        s3, man_b, "p/v.0.index", [ManifestEntry(src_b, "doc", 11, version_id=v1)]
    )
    assert run_cli("s3bundler", "-m", str(manifest), "-b", arch_b).returncode == 0
    out = outputs_for(manifest, src_b, arch_b)
    (row,) = read_index(get_bytes(s3, out.index_uri))
    assert row.version_id == v1
    tar = get_bytes(s3, out.archive_uri)
    assert tar[row.offset : row.offset + row.size] == b"version one"


@pytest.mark.parametrize(
    ("manifest_key", "body", "code"),
    [
        ("missing.index", None, 5),
        ("garbage.index", b"hello, world\n", 3),  # neither format: not even its first row
        ("binary.index", b"\x00\x01\x02\xff" * 100, 3),
        ("own.index", IndexWriter().getvalue() + b"src,k,,1,,,,,,,,,,,,,,\n", 3),
    ],
)
def test_unreadable_manifest_exit_codes(s3, buckets, manifest_key, body, code):
    _src_b, arch_b, man_b = buckets
    if body is not None:
        s3.put_object(Bucket=man_b, Key=manifest_key, Body=body)
    result = run_cli("s3bundler", "-m", f"s3://{man_b}/{manifest_key}", "-b", arch_b)
    assert result.returncode == code
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("s3bundler: error:")]
    assert len(errors) == 1 and manifest_key in errors[0]
    assert bucket_keys(s3, arch_b) == []


def test_unwritable_archive_bucket_aborts_with_exit_4(s3, buckets):
    src_b, _arch_b, man_b = buckets
    seed(s3, src_b, {"a": 10})
    manifest = put_manifest(s3, man_b, "p/u.0.index", [ManifestEntry(src_b, "a", 10)])
    result = run_cli("s3bundler", "-m", str(manifest), "-b", "no-such-archive-bucket-x")
    assert result.returncode == 4, result.stderr
    assert "no-such-archive-bucket-x" in result.stderr


# -- queue mode -------------------------------------------------------------------------------


def test_queue_s3_event_notification_and_plain_json(s3, sqs, buckets):
    src_b, arch_b, man_b = buckets
    url = make_queue(sqs, f"{man_b}-q")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=man_b,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".index"}]}},
                }
            ]
        },
    )
    src = seed(s3, src_b, {"x y/1": 5, "x y/2": 6})
    entries = [ManifestEntry(src_b, k, len(v)) for k, v in src.data.items()]
    by_event = put_manifest(s3, man_b, "sub/by event+plus.0.index", entries)  # S3 notifies
    by_json = put_manifest(s3, man_b, "direct/m.1.manifest", entries)  # no .index: not notified
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Bucket": man_b, "Key": by_json.key}))

    result = run_cli(
        "s3bundler", "-q", url, "-b", arch_b, "--max-messages", "3", "--idle-exit", "3"
    )
    assert result.returncode == 0, result.stderr
    for manifest in (by_event, by_json):
        out = outputs_for(manifest, src_b, arch_b)
        assert sorted(r.key for r in read_index(get_bytes(s3, out.index_uri))) == sorted(src.data)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_poison_message_is_left_for_redrive_and_worker_carries_on(s3, sqs, buckets):
    src_b, arch_b, man_b = buckets
    dead = make_queue(sqs, f"{man_b}-poison-dlq")
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=f"{man_b}-poison",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    seed(s3, src_b, {"ok": 3})
    good = put_manifest(s3, man_b, "p/good.0.index", [ManifestEntry(src_b, "ok", 3)])
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Bucket": man_b, "Key": "p/gone.index"}))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Bucket": man_b, "Key": good.key}))
    result = run_cli("s3bundler", "-q", url, "-b", arch_b, "--idle-exit", "3", timeout=60)
    assert result.returncode == 0, result.stderr
    assert exists(s3, outputs_for(good, src_b, arch_b).archive_uri)
    poison_lines = [ln for ln in result.stderr.splitlines() if "message_failed" in ln]
    assert len(poison_lines) >= 2 and all("reason=PoisonMessage" in ln for ln in poison_lines)
    # The poison went to the dead-letter queue through the redrive policy; the good one was
    # deleted after its commit.
    left = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    bodies = sorted(m["Body"] for m in left.get("Messages", []))
    assert len(bodies) == 2 and "{not json" in bodies
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")


def test_heartbeat_keeps_message_invisible_past_queue_timeout(s3, sqs, buckets):
    src_b, arch_b, man_b = buckets
    url = make_queue(sqs, f"{man_b}-hb", visibility=2)
    manifest, _ = slow_manifest(s3, src_b, man_b)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Bucket": man_b, "Key": manifest.key}))
    proc = worker_at_manifest_start(url, arch_b, "--max-messages", "1")
    assert proc.stderr is not None
    # The worker holds the message now. Another consumer polls for as long as it works.
    started = time.monotonic()
    stolen: list[dict] = []
    while proc.poll() is None:
        stolen.extend(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []))
    elapsed = time.monotonic() - started
    rest = proc.stderr.read()
    assert proc.returncode == 0, rest
    assert elapsed > 4, f"manifest too fast ({elapsed:.1f}s) to prove the heartbeat"
    print(f"manifest took {elapsed:.1f}s with a 2 s visibility timeout")
    assert stolen == [], "message became visible while the manifest was being processed"
    assert "manifest_done" in rest


def test_sigterm_mid_manifest_aborts_upload_and_releases_message(s3, sqs, buckets):
    src_b, arch_b, man_b = buckets
    url = make_queue(sqs, f"{man_b}-term", visibility=300)
    manifest, _ = slow_manifest(s3, src_b, man_b)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Bucket": man_b, "Key": manifest.key}))
    proc = worker_at_manifest_start(url, arch_b)
    time.sleep(0.5)
    assert s3.list_multipart_uploads(Bucket=arch_b).get("Uploads"), "upload should be running"
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    rc = proc.wait(timeout=15)
    rest = proc.stderr.read()
    assert rc == 143, rest
    assert time.monotonic() - t0 < 5
    assert not s3.list_multipart_uploads(Bucket=arch_b).get("Uploads")
    assert bucket_keys(s3, arch_b) == []
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
    assert len(again) == 1, "message should be visible again at once"


def test_multipart_copy_of_big_object_keeps_metadata_and_tags(s3, buckets):
    """The UploadPartCopy path (objects above 5 GiB in production), exercised in-process with
    the threshold lowered so a 13 MiB object is copied in 5 MiB parts."""
    from s3bundler.archiver import BundlerConfig, ManifestJob

    src_b, arch_b, man_b = buckets
    body = payload("huge", 13 * MiB)
    s3.put_object(
        Bucket=src_b,
        Key="huge/file.bin",
        Body=body,
        Metadata={"owner": "team-a"},
        ContentType="application/x-test",
        Tagging="keep=yes",
    )
    manifest = put_manifest(
        s3, man_b, "p/h.0.index", [ManifestEntry(src_b, "huge/file.bin", len(body))]
    )
    config = BundlerConfig(
        archive_bucket=arch_b,
        maxsize=1 * MiB,
        copy_multipart_threshold=6 * MiB,
        copy_part_size=5 * MiB,
    )
    result = ManifestJob(s3, config, manifest).run()
    assert (result.counts.copied, result.counts.archived, result.counts.failed) == (1, 0, 0)
    key = bigobject_key("archives", src_b, "huge/file.bin")
    head = s3.head_object(Bucket=arch_b, Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # three copied parts
    assert head["Metadata"] == {"owner": "team-a"}
    assert head["ContentType"] == "application/x-test"
    assert get_bytes(s3, S3Uri(arch_b, key)) == body
    tags = s3.get_object_tagging(Bucket=arch_b, Key=key)["TagSet"]
    assert tags == [{"Key": "keep", "Value": "yes"}]
    assert not s3.list_multipart_uploads(Bucket=arch_b).get("Uploads")


def test_access_denied_object_goes_to_dlq(s3, buckets):
    src_b, arch_b, man_b = buckets
    src = seed(s3, src_b, {"open/a": 10, "secret/b": 20, "open/c": 30})
    deny_get(s3, src_b, "secret/")
    entries = [ManifestEntry(src_b, k, len(v)) for k, v in src.data.items()]
    manifest = put_manifest(s3, man_b, "p/d.0.index", entries)
    result = run_cli("s3bundler", "-m", str(manifest), "-b", arch_b)
    assert result.returncode == 0, result.stderr
    out = outputs_for(manifest, src_b, arch_b)
    assert [r.key for r in read_index(get_bytes(s3, out.index_uri))] == ["open/a", "open/c"]
    assert [(r.key, r.reason) for r in read_dlq(get_bytes(s3, out.dlq))] == [
        ("secret/b", "AccessDenied")
    ]


def test_metrics_land_in_cloudwatch_and_can_be_turned_off(s3, buckets):
    src_b, arch_b, man_b = buckets
    src = seed(s3, src_b, {"m/1": 100, "m/2": 200})
    entries = [ManifestEntry(src_b, k, len(v)) for k, v in src.data.items()]
    entries.append(ManifestEntry(src_b, "m/gone", 1))
    manifest = put_manifest(s3, man_b, "p/metrics.0.index", entries)
    names = ("ObjectsArchived", "BytesArchived", "ManifestsCompleted")
    before = {n: metric_sum(n) for n in names}
    gone_before = metric_sum("ObjectErrors", "NoSuchKey")

    assert run_cli("s3bundler", "-m", str(manifest), "-b", arch_b).returncode == 0
    after = {n: metric_sum(n) for n in names}
    assert after["ObjectsArchived"] - before["ObjectsArchived"] == 2
    assert after["BytesArchived"] - before["BytesArchived"] == 300
    assert after["ManifestsCompleted"] - before["ManifestsCompleted"] == 1
    assert metric_sum("ObjectErrors", "NoSuchKey") - gone_before == 1

    assert run_cli("s3bundler", "-m", str(manifest), "-b", arch_b, "--no-metrics").returncode == 0
    assert metric_sum("ObjectsArchived") == after["ObjectsArchived"]


def test_archive_of_another_sub_manifest_is_never_overwritten(s3, buckets):
    """Two sub-manifests with one file name under different prefixes map to one archive key;
    the second is refused (exit 2, nothing written) instead of silently replacing the first."""
    src_b, arch_b, man_b = buckets
    src = seed(s3, src_b, {"first": 5, "second": 6})
    one = put_manifest(s3, man_b, "run-a/job.0.index", [ManifestEntry(src_b, "first", 5)])
    two = put_manifest(s3, man_b, "run-b/job.0.index", [ManifestEntry(src_b, "second", 6)])
    assert run_cli("s3bundler", "-m", str(one), "-b", arch_b).returncode == 0
    out = outputs_for(one, src_b, arch_b)
    assert out.archive_key == outputs_for(two, src_b, arch_b).archive_key
    before = bucket_keys(s3, arch_b)

    result = run_cli("s3bundler", "-m", str(two), "-b", arch_b)
    assert result.returncode == 2
    assert (
        "already holds the archive of s3://" in result.stderr
        and "run-a/job.0.index" in result.stderr
    )
    assert bucket_keys(s3, arch_b) == before
    assert [r.key for r in read_index(get_bytes(s3, out.index_uri))] == ["first"]
    assert src  # seeded


def test_switching_compression_leaves_one_archive(s3, buckets):
    src_b, arch_b, man_b = buckets
    seed(s3, src_b, {"a": 5})
    manifest = put_manifest(s3, man_b, "p/z.0.index", [ManifestEntry(src_b, "a", 5)])
    assert run_cli("s3bundler", "-m", str(manifest), "-b", arch_b).returncode == 0
    assert run_cli("s3bundler", "-m", str(manifest), "-b", arch_b, "-c").returncode == 0
    out = outputs_for(manifest, src_b, arch_b, compress="gzip")
    catalog = catalog_key("archives", src_b, "z.0")
    assert bucket_keys(s3, arch_b) == sorted([out.archive_key, out.index_key, catalog])
    assert (
        run_cli("s3bundler", "-m", str(manifest), "-b", arch_b, "--compress", "zstd").returncode
        == 0
    )
    out = outputs_for(manifest, src_b, arch_b, compress="zstd")
    assert bucket_keys(s3, arch_b) == sorted([out.archive_key, out.index_key, catalog])
    assert run_cli("s3bundler", "-m", str(manifest), "-b", arch_b).returncode == 0
    out = outputs_for(manifest, src_b, arch_b)
    assert bucket_keys(s3, arch_b) == sorted([out.archive_key, out.index_key, catalog])


@pytest.mark.parametrize("get_client", ["crt", "boto3"])
@pytest.mark.parametrize("algorithm", ["CRC64NVME", "SHA256", "CRC32C"])
def test_additional_checksums_are_verified_and_recorded(s3, buckets, algorithm, get_client):
    """GETs use ChecksumMode=ENABLED; the full-object checksum (CRC64NVME, S3's default for new
    objects) is verified -- by botocore for boto3 GETs (CRC64NVME needs awscrt, a pinned
    dependency), by checksums.BodyChecksum for awscrt GETs -- and the index records it."""
    src_b, arch_b, man_b = buckets
    s3.put_object(Bucket=src_b, Key="c", Body=b"checksummed", ChecksumAlgorithm=algorithm)
    manifest = put_manifest(s3, man_b, "p/ck.0.index", [ManifestEntry(src_b, "c", 11)])
    args = ["-b", arch_b, "-v", "--get-client", get_client]
    result = run_cli("s3bundler", "-m", str(manifest), *args)
    assert result.returncode == 0, result.stderr
    (row,) = read_index(get_bytes(s3, outputs_for(manifest, src_b, arch_b).index_uri))
    assert row.checksum.startswith(f"{algorithm}:")
