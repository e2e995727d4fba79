"""Shared pieces of the bundler's end-to-end tests: output locations, queues, workers as
subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys

from s3bundler.layout import manifest_outputs
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry
from tests.s3bundler.sources import Source, put_manifest, seed


def outputs_for(manifest: S3Uri, source_bucket: str, archive_bucket: str, compress: str = ""):
    return manifest_outputs(manifest, source_bucket, archive_bucket, "archives", compress)


def make_queue(sqs, name: str, visibility: int = 30) -> str:
    return sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility)})[
        "QueueUrl"
    ]


def slow_manifest(s3, src_b, man_b, n=1500) -> tuple[S3Uri, Source]:
    src = seed(
        s3, src_b, {f"many/{i:05d}": 16 for i in range(n)}, meta_every=10**9, tag_every=10**9
    )
    entries = [ManifestEntry(src_b, k, 16) for k in src.data]
    return put_manifest(s3, man_b, "slow/s.0.index", entries), src


def worker_at_manifest_start(url: str, archive_bucket: str, *extra: str) -> subprocess.Popen:
    """``s3bundler -q`` as a subprocess (one GET at a time), returned once it logged
    manifest_start; its stderr is left to the caller."""
    cmd = [sys.executable, "-m", "s3bundler", "-q", url, "-b", archive_bucket]
    proc = subprocess.Popen(
        [*cmd, "--concurrency", "1", *extra],
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "manifest_start" in line:
            break
    return proc


def bucket_keys(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def exists(s3, uri: S3Uri) -> bool:
    return bool(s3.list_objects_v2(Bucket=uri.bucket, Prefix=uri.key).get("KeyCount"))
