"""A large object read in parallel ranged GETs and handed out in order.

When its turn is near, a stream is started: a HEAD (``ChecksumMode=ENABLED``: size, ETag,
version and S3's full-object checksum), then ranged GETs of ``part_size`` bytes, up to
``window`` of them in flight, each pinned to what the HEAD saw (``VersionId`` when there is
one, ``If-Match`` the ETag always) -- so the parts are of one object version, and a change
is a 412 (``Changed``), never a mix. A part whose body breaks is read again (its own range),
up to three times. The writer takes the parts in order; every byte it is handed is verified
(stream_check.py) once the last one is read. Errors of the HEAD or of a part reach the
writer when it asks for that part, so nothing is written for an object that fails before its
first byte.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import botocore.exceptions

from s3bundler import dlq
from s3bundler.failures import NETWORK_ERRORS, STREAM_ERRORS, ObjectFailed, object_call, reason_for
from s3bundler.object_info import ObjectInfo
from s3bundler.stream_check import StreamCheck, object_args
from s3bundler.waiting import result_of
from s3common.aws import AWS_ERRORS, describe
from s3common.errors import DownloadError
from s3common.sizes import MiB
from s3common.submanifest import ManifestEntry

PART_SIZE = 8 * MiB
WINDOW = 3  # parts in flight per stream
READ_ATTEMPTS = 3

log = logging.getLogger(__name__)


class RangedStream:
    """``RangedStream(...).start()``; then ``info``, ``chunks()``, ``read``, ``md5``."""

    def __init__(
        self,
        s3: Any,
        entry: ManifestEntry,
        pool: ThreadPoolExecutor,
        cancel: threading.Event,
        stall_seconds: float | None = None,
        part_size: int = PART_SIZE,
        window: int = WINDOW,
    ) -> None:
        self._s3 = s3
        self.entry = entry
        self._pool = pool
        self._cancel = cancel
        self._stall = stall_seconds
        self._part_size = part_size
        self._window = window
        self._head: Future[ObjectInfo] | None = None
        self._parts: deque[Future[bytes]] = deque()
        self._check: StreamCheck | None = None
        self.read = 0
        self.retries = 0

    @property
    def where(self) -> str:
        return f"s3://{self.entry.bucket}/{self.entry.key}"

    def start(self) -> RangedStream:
        self._head = self._pool.submit(self._head_object)
        return self

    @property
    def info(self) -> ObjectInfo:
        """What the HEAD said (waits for it; ObjectFailed/DownloadError when it failed)."""
        if self._head is None:
            self.start()
        assert self._head is not None
        return result_of(self._head, self._cancel, self._stall, self.where)

    @property
    def md5(self) -> str:
        assert self._check is not None, "chunks() not read yet"
        return self._check.md5

    def chunks(self) -> Iterator[bytes]:
        info = self.info
        self._check = StreamCheck(self._s3, self.entry, info)
        ranges = deque(
            (start, min(start + self._part_size, info.size) - 1)
            for start in range(0, info.size, self._part_size)
        )
        try:
            while ranges or self._parts:
                while ranges and len(self._parts) < self._window:
                    first, last = ranges.popleft()
                    self._parts.append(self._pool.submit(self._get_range, info, first, last))
                data = result_of(self._parts.popleft(), self._cancel, self._stall, self.where)
                self._check.update(data)
                self.read += len(data)
                yield data
        finally:
            self.close()
        self._check.verify(f" (parts read again: {self.retries})" if self.retries else "")

    def close(self) -> None:
        for fut in self._parts:
            fut.cancel()
        self._parts.clear()
        if self._head is not None:
            self._head.cancel()

    # -- requests (on the pool's threads) -----------------------------------------------------
    def _head_object(self) -> ObjectInfo:
        args = object_args(self.entry) | {"ChecksumMode": "ENABLED"}
        head = object_call(self.where, self._s3.head_object, **args)
        info = ObjectInfo.from_response(head, self.entry.version_id)
        if (
            info.storage_class in ("GLACIER", "DEEP_ARCHIVE")
            and 'ongoing-request="false"' not in info.restore
        ):
            raise ObjectFailed(dlq.GLACIER, f"storage class {info.storage_class}, not restored")
        return info

    def _get_range(self, info: ObjectInfo, first: int, last: int) -> bytes:
        args = object_args(self.entry, info) | {
            "Range": f"bytes={first}-{last}",
            "IfMatch": f'"{info.etag}"',
        }
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                resp = self._s3.get_object(**args)
                if first == 0:
                    info.tag_count = int(resp.get("TagCount", 0) or 0)  # HEAD does not say
                data = resp["Body"].read()
            except botocore.exceptions.FlexibleChecksumError as exc:
                raise ObjectFailed(dlq.CHECKSUM_MISMATCH, describe(exc)) from exc
            except (*STREAM_ERRORS, *NETWORK_ERRORS) as exc:
                if attempt == READ_ATTEMPTS:
                    raise DownloadError(
                        f"cannot read {self.where} bytes {first}-{last}: {describe(exc)}",
                        transient=True,
                    ) from exc
                self._retrying(first, last, attempt, describe(exc))
                continue
            except AWS_ERRORS as exc:
                raise ObjectFailed(reason_for(exc), describe(exc)) from exc
            if len(data) == last - first + 1:
                return data
            self._retrying(first, last, attempt, f"{len(data)} bytes came back")
        raise DownloadError(
            f"{self.where}: bytes {first}-{last} came back short {READ_ATTEMPTS} times",
            transient=True,
        )

    def _retrying(self, first: int, last: int, attempt: int, why: str) -> None:
        self.retries += 1
        log.info("re-reading %s bytes %d-%d (attempt %d failed: %s)",
                 self.where, first, last, attempt, why)  # fmt: skip
