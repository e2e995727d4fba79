"""Which GET client reads which object: ``--get-client crt`` sends objects below CRT_BELOW to
awscrt and larger ones to boto3 (awscrt holds a body twice while it is delivered)."""

from __future__ import annotations

from concurrent.futures import Future

import boto3

from s3bundler.boto_reads import BotoFetcher
from s3bundler.crt_fetcher import CrtFetcher
from s3bundler.fetchers import CRT_BELOW, BySize, make_fetcher
from s3common.submanifest import ManifestEntry


class Recorder:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.closed = False

    def submit(self, entry: ManifestEntry, buffer_limit: int) -> Future:
        self.keys.append(entry.key)
        return Future()

    def close(self) -> None:
        self.closed = True


def test_objects_go_by_size_and_an_unknown_size_counts_as_the_limit():
    small, large = Recorder(), Recorder()
    fetcher = BySize(small, large)
    for key, size in (("a", 0), ("b", CRT_BELOW - 1), ("c", CRT_BELOW), ("d", 8 << 20)):
        fetcher.submit(ManifestEntry("bk", key, size), 8 << 20)
    fetcher.submit(ManifestEntry("bk", "unknown", None), 8 << 20)
    fetcher.submit(ManifestEntry("bk", "unknown-small-limit", None), 1024)
    assert small.keys == ["a", "b", "unknown-small-limit"]
    assert large.keys == ["c", "d", "unknown"]
    fetcher.close()
    assert small.closed and large.closed


def test_a_close_that_fails_still_closes_the_other():
    class Broken(Recorder):
        def close(self) -> None:
            raise RuntimeError("boom")

    large = Recorder()
    try:
        BySize(Broken(), large).close()
    except RuntimeError:
        pass
    else:
        raise AssertionError("the first close's error must not be swallowed")
    assert large.closed


def test_make_fetcher_pairs_awscrt_with_boto3_and_boto3_alone(s3):
    session = boto3.session.Session()
    crt = make_fetcher("crt", s3, session, 4)
    boto = make_fetcher("boto3", s3, session, 4)
    try:
        assert isinstance(crt, BySize) and isinstance(boto, BotoFetcher)
        assert isinstance(crt._small, CrtFetcher) and isinstance(crt._large, BotoFetcher)
    finally:
        crt.close()
        boto.close()
