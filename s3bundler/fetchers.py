"""Who GETs the small objects of an archive: one interface, two clients.

A fetcher takes a sub-manifest row and returns a Future of the object read whole and verified
(:class:`~s3bundler.objects.Fetched`), or failing with ObjectFailed (a DLQ row),
TooBigToBuffer (stream it instead) or DownloadError (no answer from S3: the manifest fails).

- :class:`BotoFetcher` -- boto3 ``get_object`` on a thread pool (``--get-client boto3``);
- :class:`~s3bundler.crt_fetcher.CrtFetcher` -- awscrt's native S3 client
  (``--get-client crt``, the default): the same request, about a quarter of the client CPU per small
  object (docs/performance.md).

Fetchers live as long as the process: one serves every manifest the worker handles.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from s3bundler.objects import Fetched, fetch_whole
from s3common.submanifest import ManifestEntry

log = logging.getLogger(__name__)

GET_CLIENTS = ("crt", "boto3")


class Fetcher(Protocol):
    def submit(self, entry: ManifestEntry, buffer_limit: int) -> Future[Fetched]:
        """Start reading ``entry`` (at most ``buffer_limit`` bytes held in memory)."""
        ...

    def close(self) -> None:
        """Stop: cancel what has not started and release connections and threads."""
        ...


class BotoFetcher:
    """boto3 GETs on ``concurrency`` threads (the client's pool must be at least as large)."""

    def __init__(self, s3: Any, concurrency: int) -> None:
        self._s3 = s3
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="get")

    def submit(self, entry: ManifestEntry, buffer_limit: int) -> Future[Fetched]:
        return self._pool.submit(fetch_whole, self._s3, entry, buffer_limit)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_fetcher(kind: str, s3: Any, session: Any, concurrency: int) -> Fetcher:
    """The fetcher for ``--get-client``. ``crt`` needs credentials boto3 can resolve; without
    any it falls back to boto3, whose own error then says what is missing."""
    if kind == "crt":
        credentials = session.get_credentials()
        if credentials is not None:
            from s3bundler.crt_fetcher import CrtFetcher

            # AWS_CA_BUNDLE or the profile's ca_bundle, as boto3 uses it
            ca_bundle = session._session.get_config_variable("ca_bundle")
            return CrtFetcher(s3, credentials, concurrency, ca_bundle=ca_bundle)
        log.warning("no AWS credentials found: small objects are read with boto3")
    return BotoFetcher(s3, concurrency)
