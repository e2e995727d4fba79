"""ManifestJob in-process against the moto server, with a fetcher of the test's own."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from s3bundler.archiver import BundlerConfig, ManifestJob
from s3bundler.boto_reads import BotoFetcher
from s3common.errors import DownloadError
from s3common.submanifest import ManifestEntry
from tests.s3bundler.sources import put_manifest, seed


class StalledFetcher:
    """Every GET is accepted and never answers (a connection that went silent)."""

    def __init__(self) -> None:
        self.futures: list[Future] = []

    def submit(self, entry: ManifestEntry, buffer_limit: int) -> Future:
        fut: Future = Future()
        self.futures.append(fut)
        return fut

    def close(self) -> None:
        pass


def test_a_get_that_never_answers_fails_the_manifest_and_aborts_the_upload(s3, bucket):
    src = seed(s3, bucket, {"a": 10, "b": 20})
    entries = [ManifestEntry(bucket, k, len(v)) for k, v in src.data.items()]
    manifest = put_manifest(s3, bucket, "m/stall.0.index", entries)
    stalled = StalledFetcher()
    config = BundlerConfig(archive_bucket=bucket, get_stall_seconds=1.0)
    job = ManifestJob(s3, config, manifest, fetcher=stalled)
    with pytest.raises(DownloadError, match="no object arrived for 1s"):
        job.run()
    assert all(f.cancelled() for f in stalled.futures)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == ["a", "b", "m/stall.0.index"]  # nothing written


def test_a_long_lived_fetcher_serves_several_manifests(s3, bucket):
    """The worker passes one fetcher to every ManifestJob; a job must not close it."""
    src = seed(s3, bucket, {"x": 5, "y": 6})
    fetcher = BotoFetcher(s3, 2)
    try:
        for i, key in enumerate(src.data):
            manifest = put_manifest(
                s3, bucket, f"m/n{i}.{i}.index", [ManifestEntry(bucket, key, len(src.data[key]))]
            )
            config = BundlerConfig(archive_bucket=bucket)
            result = ManifestJob(s3, config, manifest, fetcher=fetcher).run()
            assert (result.counts.archived, result.counts.failed) == (1, 0)
    finally:
        fetcher.close()
