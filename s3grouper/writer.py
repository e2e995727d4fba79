"""Writing sub-manifests and the job summary to S3, idempotently.

Sub-manifests that already exist are left alone unless ``force``; each carries the run identity
(a digest of the inventory URI and the options) as user metadata so a rerun can tell whether
they were made with the same options even when the job summary was never written.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import tempfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from types import TracebackType
from typing import IO, Any

from s3common import submanifest
from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, error_code, read_failed, write_failed
from s3common.errors import UsageError
from s3common.s3uri import S3Uri
from s3common.sizes import MiB
from s3common.submanifest import JobSummary

log = logging.getLogger(__name__)

RUN_METADATA = "s3grouper-run"
SPOOL_BYTES = 64 * MiB
CONCURRENCY = 8  # uploads in flight: against S3 each PUT waits tens of ms
INFLIGHT_BYTES = 48 * MiB  # ... and at most this much of their bodies (or just one)
PUT_LIMIT = 512 * MiB  # above this, a multipart upload
CONTENT_TYPE = "text/csv; charset=utf-8"


def run_id(inventory: str, options: dict[str, object]) -> str:
    """Identity of a grouping: same inventory and options -> same sub-manifests."""
    text = json.dumps({"inventory": inventory, "options": options}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# --- previous runs ---------------------------------------------------------------------------


def option_changes(old: dict[str, object], new: dict[str, object]) -> list[str]:
    """``name: old -> new`` for every option that differs."""
    return [
        f"{name}: {old.get(name)!r} -> {new.get(name)!r}"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


class SubmanifestWriter:
    """Sub-manifests ``<prefix>/<base>.<N>.index`` and ``<prefix>/<base>.job.json`` in a bucket.

    Uploads run in the background, at most ``concurrency`` at a time and, beyond the first,
    only while their bodies total at most ``inflight_bytes``, so memory stays bounded however
    large the sub-manifests are; ``on_written(key)`` is called in the caller's thread, in
    sub-manifest order, once each upload has completed. Use as a context manager."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str,
        base: str,
        run: str,
        force: bool = False,
        concurrency: int = CONCURRENCY,
        inflight_bytes: int = INFLIGHT_BYTES,
        on_written: Callable[[str], None] | None = None,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.base = base
        self.run = run
        self.force = force
        self.concurrency = concurrency
        self.inflight_bytes = inflight_bytes
        self.on_written = on_written
        self.summary_key = submanifest.job_summary_key(prefix, base)
        self._listing: tuple[set[int], bool] | None = None  # see scan()
        self.written: list[str] = []
        self.kept: list[str] = []
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="upload")
        self._inflight: deque[tuple[str, int, Future[None]]] = deque()
        self._inflight_size = 0  # bytes of the bodies in _inflight

    def __enter__(self) -> SubmanifestWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc is not None)

    def key(self, number: int) -> str:
        return submanifest.submanifest_key(self.prefix, self.base, number)

    def uri(self, key: str) -> S3Uri:
        return S3Uri(self.bucket, key)

    def check_bucket(self) -> None:
        """The output bucket exists and answers (else UploadError)."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except AWS_ERRORS as exc:
            raise write_failed(f"s3://{self.bucket}", exc) from None

    def scan(self) -> None:
        """List what a previous run left (one listing, no HEAD per sub-manifest). Done once:
        on the first call, or on the first question about it (:attr:`existing`,
        :attr:`has_summary`, :meth:`exists`, ...), so no answer can precede the listing."""
        self._scanned()

    @property
    def existing(self) -> set[int]:
        """Numbers of the sub-manifests a previous run left."""
        return self._scanned()[0]

    @property
    def has_summary(self) -> bool:
        """Whether a previous run left a job summary."""
        return self._scanned()[1]

    def _scanned(self) -> tuple[set[int], bool]:
        if self._listing is None:
            self._listing = self._list()
        return self._listing

    def _list(self) -> tuple[set[int], bool]:
        first = self.key(0)
        listing_prefix = first[: len(first) - len("0" + submanifest.INDEX_SUFFIX)]
        pattern = re.compile(re.escape(listing_prefix) + r"(\d+)" + re.escape(".index") + "$")
        existing: set[int] = set()
        has_summary = False
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=listing_prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    match = pattern.match(obj["Key"])
                    if match:
                        existing.add(int(match.group(1)))
                    elif obj["Key"] == self.summary_key:
                        has_summary = True
        except AWS_ERRORS as exc:
            raise read_failed(self.uri(listing_prefix), exc) from None
        return existing, has_summary

    def previous_summary(self) -> JobSummary | None:
        if not self.has_summary:
            return None
        uri = self.uri(self.summary_key)
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=self.summary_key)["Body"].read()
        except AWS_ERRORS as exc:
            raise read_failed(uri, exc) from None
        return JobSummary.from_json(data, str(uri))

    def check_previous(self, inventory: str, options: dict[str, object]) -> JobSummary | None:
        """Refuse (UsageError) to mix with output of a different grouping unless ``force``."""
        previous = self.previous_summary()
        if self.force:
            return previous
        if previous is not None:
            changes = option_changes(previous.options, options)
            if previous.inventory != inventory:
                changes.insert(0, f"inventory: {previous.inventory} -> {inventory}")
            if changes:
                raise UsageError(
                    f"{self.uri(self.summary_key)}: made with different options "
                    f"({'; '.join(changes)}); use --force to regroup"
                )
        elif self.existing:
            key = self.key(min(self.existing))
            if self._run_of(key) != self.run:
                raise UsageError(
                    f"{self.uri(key)}: exists but was not made by s3grouper with these options; "
                    "use --force to regroup"
                )
        return previous

    def _run_of(self, key: str) -> str | None:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except AWS_ERRORS as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise read_failed(self.uri(key), exc) from None
        return head.get("Metadata", {}).get(RUN_METADATA)

    def exists(self, number: int) -> bool:
        """True if sub-manifest ``number`` is there and is to be left alone."""
        return not self.force and number in self.existing

    def write(self, number: int, chunks: Iterable[Any]) -> str:
        """Write sub-manifest ``number`` (header, then the encoded row ``chunks``) in the
        background; return its key. Raises the error of an earlier upload, if any."""
        self.scan()  # what existed before this run, not what it wrote (see rollback)
        key = self.key(number)
        spool, size, crc = self._spool(chunks)
        self._inflight.append((key, size, self._pool.submit(self._upload, key, spool, size, crc)))
        self._inflight_size += size
        self._collect(until_room=True)
        return key

    def flush(self) -> None:
        """Wait for every upload (raising the first failure)."""
        self._collect(until_room=False)

    def _spool(self, chunks: Iterable[Any]) -> tuple[IO[bytes], int, int]:
        """The body in a spool file (memory, or disk past SPOOL_BYTES), its size and CRC32."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b")  # noqa: SIM115
        try:
            text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
            submanifest.write_rows(text, ())  # the header, from the one definition
            text.flush()
            text.detach()
            spool.seek(0)
            crc = zlib.crc32(spool.read())
            for chunk in chunks:
                spool.write(chunk)
                crc = zlib.crc32(chunk, crc)
            size = spool.tell()
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool, size, crc  # type: ignore[return-value]

    def _upload(self, key: str, spool: IO[bytes], size: int, crc: int) -> None:
        try:
            self._put(key, spool, size, crc)
        finally:
            spool.close()

    def _collect(self, until_room: bool) -> None:
        """Hand completed uploads to ``on_written`` in order. Wait for the oldest while there
        is no room for another upload (``until_room``), or until none is left."""
        while self._inflight:
            key, size, future = self._inflight[0]
            if not future.done() and until_room and not self._full():
                return
            future.result()
            self._inflight.popleft()
            self._inflight_size -= size
            self.written.append(key)
            log.info("wrote %s", self.uri(key))
            if self.on_written is not None:
                self.on_written(key)

    def _full(self) -> bool:
        """No room for another upload: as many as allowed, or bodies over the byte budget."""
        n = len(self._inflight)
        return n >= self.concurrency or (n > 0 and self._inflight_size > self.inflight_bytes)

    def rollback(self) -> list[str]:
        """After a failed run: wait for uploads in flight, then delete every sub-manifest this
        run created (ones that existed before are left as they are), so a run that fails half
        way -- e.g. on a malformed row in a late data file -- leaves no new sub-manifests."""
        for key, _size, future in self._inflight:
            if future.exception() is None:
                self.written.append(key)
        self._inflight.clear()
        self._inflight_size = 0
        existing = {self.key(n) for n in self.existing}
        removed = []
        for key in self.written:
            if key in existing:
                continue
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
            except AWS_ERRORS as exc:
                log.debug("cannot remove %s: %s", self.uri(key), exc)
                continue
            removed.append(key)
        return removed

    def keep(self, number: int) -> str:
        key = self.key(number)
        self.kept.append(key)
        return key

    def _put(self, key: str, body: Any, size: int, crc: int) -> None:
        extra = {"ContentType": CONTENT_TYPE, "Metadata": {RUN_METADATA: self.run}}
        try:
            if size <= PUT_LIMIT:
                # The CRC32, computed while spooling, goes in a header: S3 verifies the body
                # against it, and botocore need not stream the body aws-chunked with a
                # trailer (which cost ~1.5 ms of CPU per sub-manifest).
                checksum = base64.b64encode(crc.to_bytes(4, "big")).decode("ascii")
                self.s3.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ChecksumCRC32=checksum, **extra
                )
            else:
                self.s3.upload_fileobj(body, self.bucket, key, ExtraArgs=extra)
        except AWS_ERRORS as exc:
            raise write_failed(self.uri(key), exc) from None

    def delete_stale(self, count: int) -> list[str]:
        """With ``force``: remove sub-manifests numbered ``count`` and up (a previous grouping
        made more), so the prefix holds exactly this grouping."""
        stale = [self.key(n) for n in sorted(self.existing) if n >= count]
        for key in stale:
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
            except AWS_ERRORS as exc:
                raise write_failed(self.uri(key), exc) from None
            log.warning("%s: deleted, left over from a previous grouping", self.uri(key))
        return stale

    def write_summary(self, summary: JobSummary, previous: JobSummary | None) -> bool:
        """Write the job summary (last); leave an identical one alone. True if written."""
        if previous is not None and _same(previous, summary):
            return False
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=self.summary_key,
                Body=summary.to_json(),
                ContentType="application/json",
                Metadata={RUN_METADATA: self.run},
            )
        except AWS_ERRORS as exc:
            raise write_failed(self.uri(self.summary_key), exc) from None
        return True


def _same(a: JobSummary, b: JobSummary) -> bool:
    left, right = asdict(a), asdict(b)
    left.pop("created", None)
    right.pop("created", None)
    return left == right
