"""A file-like writer that turns ``write()`` calls into an S3 multipart upload.

Bytes are buffered to the part size and each full part is uploaded by a small thread pool
while the caller keeps writing; at most ``concurrency`` parts are in flight, so memory stays
at about ``(concurrency + 1) * part_size``. Every part carries a CRC32 checksum that S3
verifies. Part size grows (doubling every 1,000 parts) so no archive needs more than 10,000
parts, whatever its size.

Use it as a context manager: entering starts the upload, leaving aborts it unless
``complete()`` ran -- so an error anywhere in between can never leave an orphan upload behind
(a ``kill -9`` still can: the bucket's lifecycle rule is the backstop).
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import zlib
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from s3bundler.errors import Cancelled
from s3common.aws import AWS_ERRORS, error_code, write_failed
from s3common.errors import S3BundlerError
from s3common.s3uri import S3Uri
from s3common.sizes import MiB

log = logging.getLogger(__name__)

MIN_PART_SIZE = 8 * MiB
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
GROWTH_EVERY = 1_000


def initial_part_size(expected_bytes: int | None, minimum: int = MIN_PART_SIZE) -> int:
    """A part size that fits ``expected_bytes`` into 9,000 parts (room to spare), in MiB."""
    if not expected_bytes:
        return minimum
    need = math.ceil(expected_bytes / 9_000 / MiB) * MiB
    return min(max(minimum, need), MAX_PART_SIZE)


def part_size(base: int, part_number: int) -> int:
    """Size of part ``part_number`` (1-based): ``base`` doubled every 1,000 parts."""
    return min(base << ((part_number - 1) // GROWTH_EVERY), MAX_PART_SIZE)


class MultipartWriter:
    def __init__(
        self,
        s3: Any,
        target: S3Uri,
        *,
        base_part_size: int = MIN_PART_SIZE,
        concurrency: int = 3,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
        cancel: threading.Event | None = None,
        storage_class: str = "",
        tagging: str = "",
    ) -> None:
        self._metadata = dict(metadata or {})
        self._storage_class = storage_class
        self._tagging = tagging
        self._s3 = s3
        self.target = target
        self._base = base_part_size
        self._concurrency = max(1, concurrency)
        self._content_type = content_type
        self._cancel = cancel or threading.Event()
        self._chunks: deque[bytes | memoryview] = deque()
        self._buffered = 0
        self._next_part = 1
        self._inflight: set[Future[dict[str, Any]]] = set()
        self._done: list[dict[str, Any]] = []
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="part")
        self.upload_id: str | None = None
        self.bytes_written = 0
        self.completed = False

    def __enter__(self) -> MultipartWriter:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.completed:
            return
        try:
            self.abort()
        except S3BundlerError as abort_error:
            if exc is None:
                raise
            # S3 is failing already (that is what is propagating); the upload is aborted by
            # the next run of this manifest, or by the bucket's lifecycle rule.
            log.error("cannot abort the multipart upload of %s: %s", self.target, abort_error)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> MultipartWriter:
        extra = {"StorageClass": self._storage_class} if self._storage_class else {}
        if self._tagging:
            extra["Tagging"] = self._tagging
        try:
            resp = self._s3.create_multipart_upload(
                Bucket=self.target.bucket,
                Key=self.target.key,
                ContentType=self._content_type,
                Metadata=self._metadata,
                ChecksumAlgorithm="CRC32",
                **extra,
            )
        except AWS_ERRORS as exc:
            raise write_failed(self.target, exc) from exc
        self.upload_id = resp["UploadId"]
        return self

    def write(self, data: bytes) -> int:
        if not data:
            return 0
        self._chunks.append(data if isinstance(data, bytes) else bytes(data))
        self._buffered += len(data)
        self.bytes_written += len(data)
        size = part_size(self._base, self._next_part)
        while self._buffered >= size:
            self._submit(self._take(size))
            size = part_size(self._base, self._next_part)
        return len(data)

    def _take(self, size: int) -> bytes:
        """The first ``size`` buffered bytes as one part, copied once (a chunk split between
        two parts is cut by memoryviews, not copied)."""
        pieces: list[bytes | memoryview] = []
        total = 0
        while total < size:
            chunk = self._chunks.popleft()
            if total + len(chunk) > size:
                need = size - total
                view = memoryview(chunk)
                pieces.append(view[:need])
                self._chunks.appendleft(view[need:])
                total = size
            else:
                pieces.append(chunk)
                total += len(chunk)
        self._buffered -= size
        return b"".join(pieces)

    def close(self) -> None:
        """Upload what is buffered as the last part and wait for every part."""
        if self._buffered or self._next_part == 1:
            self._submit(self._take(self._buffered))
        while self._inflight:
            self._reap(wait_for_one=True)
        self._pool.shutdown(wait=True)

    def complete(self) -> dict[str, Any]:
        parts = sorted(self._done, key=lambda p: p["PartNumber"])
        try:
            resp = self._s3.complete_multipart_upload(
                Bucket=self.target.bucket,
                Key=self.target.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": parts},
            )
        except AWS_ERRORS as exc:
            raise write_failed(self.target, exc) from exc
        self.completed = True
        self.upload_id = None
        return resp

    def abort(self) -> None:
        """Stop uploading and abort the upload; safe to call more than once."""
        for fut in self._inflight:
            fut.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._inflight.clear()
        if self.upload_id is None:
            return
        try:
            self._s3.abort_multipart_upload(
                Bucket=self.target.bucket, Key=self.target.key, UploadId=self.upload_id
            )
        except AWS_ERRORS as exc:
            if error_code(exc) != "NoSuchUpload":
                raise write_failed(f"{self.target} (abort)", exc) from exc
        self.upload_id = None

    # -- parts --------------------------------------------------------------------------------
    def _submit(self, body: bytes) -> None:
        if self._next_part > MAX_PARTS:
            raise write_failed(self.target, RuntimeError("archive needs more than 10,000 parts"))
        while len(self._inflight) >= self._concurrency:
            self._reap(wait_for_one=True)
        number = self._next_part
        self._next_part += 1
        self._inflight.add(self._pool.submit(self._upload, number, body))

    def _reap(self, wait_for_one: bool) -> None:
        while True:
            if self._cancel.is_set():
                raise Cancelled()
            done, _ = wait(self._inflight, timeout=0.5, return_when=FIRST_COMPLETED)
            if done or not wait_for_one:
                break
        for fut in done:
            self._inflight.discard(fut)
            self._done.append(fut.result())

    def _upload(self, number: int, body: bytes) -> dict[str, Any]:
        # The part's CRC32 is computed here (zlib, GIL released) and sent as a header, which
        # S3 verifies; botocore would otherwise stream the body through its Python
        # aws-chunked trailer wrapper, a large share of the upload CPU (docs/performance.md).
        crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
        try:
            resp = self._s3.upload_part(
                Bucket=self.target.bucket,
                Key=self.target.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=body,
                ChecksumCRC32=crc,
            )
        except AWS_ERRORS as exc:
            raise write_failed(f"{self.target} part {number}", exc) from exc
        return {"PartNumber": number, "ETag": resp["ETag"], "ChecksumCRC32": crc}
