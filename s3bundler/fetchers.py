"""The fetcher ``--get-client`` asks for (the interface is in fetched.py)."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

from s3bundler.boto_reads import BotoFetcher
from s3bundler.fetched import Fetched, Fetcher
from s3bundler.tag_reads import TagReads
from s3common.request_options import RequestOptions
from s3common.requests import RequestCounter
from s3common.sizes import MiB
from s3common.submanifest import ManifestEntry

log = logging.getLogger(__name__)

#: Objects of at least this size are read by boto3 even with ``--get-client crt``: awscrt
#: holds a body in its own buffers until Python has taken it (no read backpressure in its
#: Python client), so each byte in flight costs twice (docs/performance.md, "Memory"), while
#: boto3's per-request CPU -- awscrt's advantage -- is small beside a large body's.
CRT_BELOW = 1 * MiB


class BySize:
    """Objects below ``threshold`` bytes to ``small``, the others to ``large``."""

    def __init__(self, small: Fetcher, large: Fetcher, threshold: int = CRT_BELOW) -> None:
        self._small, self._large, self._threshold = small, large, threshold

    def submit(self, entry: ManifestEntry, buffer_limit: int) -> Future[Fetched]:
        size = entry.size if entry.size is not None else buffer_limit
        fetcher = self._small if size < self._threshold else self._large
        return fetcher.submit(entry, buffer_limit)

    def close(self) -> None:
        try:
            self._small.close()
        finally:
            self._large.close()


def make_fetcher(
    kind: str,
    s3: Any,
    session: Any,
    concurrency: int,
    requests: RequestOptions | None = None,
    counter: RequestCounter | None = None,
    tag_reads: TagReads | None = None,
) -> Fetcher:
    """The fetcher for ``--get-client``, reading tags as ``tag_reads`` says (``--tags``; None:
    when the GET announces them). ``crt`` reads objects below :data:`CRT_BELOW` with awscrt
    and larger ones with boto3. ``counter`` counts awscrt's requests (boto3's are counted on
    the client ``s3``)."""
    boto = BotoFetcher(s3, concurrency, tag_reads)
    if kind != "crt":
        return boto
    crt = make_crt_fetcher(s3, session, concurrency, requests, counter, tag_reads)
    return boto if crt is None else BySize(crt, boto)


def make_crt_fetcher(
    s3: Any,
    session: Any,
    concurrency: int,
    requests: RequestOptions | None = None,
    counter: RequestCounter | None = None,
    tag_reads: TagReads | None = None,
) -> Fetcher | None:
    """awscrt's fetcher for every object, or None (with a warning) without credentials boto3
    can resolve -- boto3's own error then says what is missing."""
    credentials = session.get_credentials()
    if credentials is None:
        log.warning("no AWS credentials found: small objects are read with boto3")
        return None
    from s3bundler.crt_fetcher import CrtFetcher

    # AWS_CA_BUNDLE or the profile's ca_bundle, as boto3 uses it
    ca_bundle = session._session.get_config_variable("ca_bundle")
    return CrtFetcher(
        s3, credentials, concurrency, ca_bundle=ca_bundle, requests=requests,
        counter=counter, tag_reads=tag_reads,
    )  # fmt: skip
