"""The small-object GET interface: what a fetcher promises and hands back.

A fetcher takes a sub-manifest row and returns a Future of the object read whole and verified
(:class:`Fetched`), or failing with ObjectFailed (a DLQ row), TooBigToBuffer (stream it
instead) or DownloadError (no answer from S3: the manifest fails). Two implement it:

- ``boto_reads.BotoFetcher`` -- boto3 ``get_object`` on a thread pool (``--get-client boto3``);
- ``crt_fetcher.CrtFetcher`` -- awscrt's native S3 client (``--get-client crt``, the default):
  the same request, about a quarter of the client CPU per small object (docs/performance.md).

Fetchers live as long as the process: one serves every manifest the worker handles.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from s3bundler.object_info import ObjectInfo
from s3common.submanifest import ManifestEntry

GET_CLIENTS = ("crt", "boto3")


@dataclass
class Fetched:
    """A small object read whole into memory and verified. Its body is kept in the pieces it
    arrived in: joining them would hold the object twice for a moment, and the archive's
    multipart writer copies them into a part anyway."""

    entry: ManifestEntry
    info: ObjectInfo
    pieces: list[bytes]
    md5: str
    tags: dict[str, str] | None  # None: the object has tags that could not be read
    flags: list[str]

    @property
    def data(self) -> bytes:
        """The body as one bytes object (a copy when it came in several pieces)."""
        return self.pieces[0] if len(self.pieces) == 1 else b"".join(self.pieces)


class TooBigToBuffer(Exception):
    """The object turned out larger than the buffering limit; stream it instead."""


class Fetcher(Protocol):
    def submit(self, entry: ManifestEntry, buffer_limit: int) -> Future[Fetched]:
        """Start reading ``entry`` (at most ``buffer_limit`` bytes held in memory)."""
        ...

    def close(self) -> None:
        """Stop: cancel what has not started and release connections and threads."""
        ...
