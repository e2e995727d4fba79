"""Writing sub-manifests and the job summary to S3, idempotently, and publishing the
sub-manifests only as a whole (see :class:`SubmanifestWriter`).

Sub-manifests that already exist are left alone unless ``force``; each carries the run identity
(a digest of the inventory URI and the options) as user metadata so a rerun can tell whether
they were made with the same options even when the job summary was never written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from types import TracebackType
from typing import Any

from s3common import submanifest
from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, error_code, read_failed, write_failed
from s3common.errors import UsageError
from s3common.s3uri import S3Uri
from s3common.sizes import MiB
from s3common.submanifest import JobSummary
from s3grouper import shards, uploads
from s3grouper.uploads import PART_SIZE, Body, OpenUpload

log = logging.getLogger(__name__)

RUN_METADATA = "s3grouper-run"
CONCURRENCY = 8  # uploads in flight: against S3 each request waits tens of ms
INFLIGHT_BYTES = 48 * MiB  # ... and at most this much of their bodies (or just one)
PUBLISH_CONCURRENCY = 16  # CompleteMultipartUpload requests in flight (the S3 client's pool)


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

    A sub-manifest is written in two steps. :meth:`write` uploads it in the background as a
    multipart upload left open (:mod:`s3grouper.uploads`: no object yet, so no S3 event and
    nothing to send); once the caller has written the last one, :meth:`publish` completes them
    all. Leaving the context with an exception (or :meth:`rollback`) aborts the uploads not
    published, so a run that fails leaves no sub-manifest behind that it did not publish.

    Uploads run at most ``concurrency`` at a time and, beyond the first, only while their bodies
    total at most ``inflight_bytes``, so memory stays bounded however large the sub-manifests
    are. Use as a context manager."""

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
        publish_concurrency: int = PUBLISH_CONCURRENCY,
        part_size: int = PART_SIZE,
        summary_key: str | None = None,
        load_summary: Callable[[bytes, str], Any] = JobSummary.from_json,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.base = base
        self.run = run
        self.force = force
        self.concurrency = concurrency
        self.inflight_bytes = inflight_bytes
        self.publish_concurrency = publish_concurrency
        self.part_size = part_size
        # the job summary, or a shard's summary (s3grouper.shards) read with load_summary
        self.summary_key = summary_key or submanifest.job_summary_key(prefix, base)
        self.load_summary = load_summary
        self._listing: tuple[set[int], bool] | None = None  # see scan()
        self.other_groupings: list[str] = []  # sharded groupings' keys under <base>. (see scan)
        self.written: list[int] = []  # numbers of the sub-manifests this run published
        self.kept: list[int] = []  # numbers of those that existed and were left alone
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="upload")
        self._inflight: deque[tuple[int, int, Future[OpenUpload]]] = deque()
        self._inflight_size = 0  # bytes of the bodies in _inflight
        self._staged: list[tuple[int, OpenUpload]] = []  # uploaded, not published, in order

    def __enter__(self) -> SubmanifestWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None:
                self.rollback()
        finally:
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
                    elif (shards.layout(obj["Key"][len(listing_prefix) :]) or 1) > 1:
                        self.other_groupings.append(obj["Key"])  # a sharded grouping's
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
        return self.load_summary(data, str(uri))

    def check_previous(self, inventory: str, options: dict[str, object]) -> JobSummary | None:
        """Refuse (UsageError) to mix with output of a different grouping unless ``force``."""
        previous = self.previous_summary()
        if self.force:
            return previous
        if self.other_groupings:
            raise UsageError(
                f"{self.uri(self.other_groupings[0])}: made by a sharded grouping (s3grouper "
                "--shard); use --force to regroup"
            )
        if previous is not None:
            changes = option_changes(previous.options, options)
            if previous.inventory != inventory:
                changes.insert(0, f"inventory: {previous.inventory} -> {inventory}")
            if getattr(previous, "shard_count", 1) != 1:
                changes.append(f"shards: {previous.shard_count} -> 1")
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
        """Upload sub-manifest ``number`` (header, then the encoded row ``chunks``) in the
        background, unpublished; return its key. Raises the error of an earlier upload, if any."""
        self.scan()  # what existed before this run
        key = self.key(number)
        body = Body.spool(chunks, self.part_size)
        self._inflight.append((number, body.size, self._pool.submit(self._upload, key, body)))
        self._inflight_size += body.size
        self._collect(until_room=True)
        return key

    def flush(self) -> None:
        """Wait for every upload (raising the first failure)."""
        self._collect(until_room=False)

    def _upload(self, key: str, body: Body) -> OpenUpload:
        try:
            return uploads.upload(self.s3, self.bucket, key, body, {RUN_METADATA: self.run})
        finally:
            body.close()

    def _collect(self, until_room: bool) -> None:
        """Take completed uploads, in order. Wait for the oldest while there is no room for
        another upload (``until_room``), or until none is left."""
        while self._inflight:
            number, size, future = self._inflight[0]
            if not future.done() and until_room and not self._full():
                return
            upload = future.result()
            self._inflight.popleft()
            self._inflight_size -= size
            self._staged.append((number, upload))
            log.info("uploaded %s (published when the run is complete)", upload.uri)

    def _full(self) -> bool:
        """No room for another upload: as many as allowed, or bodies over the byte budget."""
        n = len(self._inflight)
        return n >= self.concurrency or (n > 0 and self._inflight_size > self.inflight_bytes)

    def publish(self) -> list[str]:
        """Complete every upload, ``publish_concurrency`` at a time: each becomes its
        sub-manifest object (and S3 sends its event). Call it once every sub-manifest of the
        run is written. If some cannot be completed, the others still are: those are aborted
        and the first failure is raised (a rerun publishes them). Returns the keys published."""
        self.flush()
        staged, self._staged = self._staged, []
        failures = _each(
            self.publish_concurrency, lambda u: uploads.complete(self.s3, u), [u for _, u in staged]
        )
        failed = []
        for (number, upload), error in zip(staged, failures, strict=True):
            if error is None:
                self.written.append(number)
            else:
                failed.append((upload, error))
        if failed:
            _each(
                self.publish_concurrency,
                lambda u: uploads.abort(self.s3, u),
                [u for u, _ in failed],
            )
            raise failed[0][1]
        if staged:
            log.info("published %d sub-manifests in %s", len(staged), self.uri(self.prefix))
        return [self.key(n) for n, _ in staged]

    def rollback(self) -> list[str]:
        """After a failure: abort every upload not published (uploads in flight first finish,
        or are cancelled if not started), so the run leaves none of them behind: none was ever
        an object. Returns their keys."""
        for _number, _size, future in self._inflight:
            future.cancel()
        for number, _size, future in self._inflight:
            try:
                self._staged.append((number, future.result()))
            except BaseException:  # cancelled, or failed (and aborted itself)
                continue
        self._inflight.clear()
        self._inflight_size = 0
        staged, self._staged = self._staged, []
        _each(self.publish_concurrency, lambda u: uploads.abort(self.s3, u), [u for _, u in staged])
        return [self.key(n) for n, _ in staged]

    def keep(self, number: int) -> str:
        """Sub-manifest ``number`` exists and is left as it is."""
        self.kept.append(number)
        return self.key(number)

    def announced(self, resend_kept: bool) -> list[str]:
        """The keys to send to a queue, in sub-manifest order: those this run published, and
        with ``resend_kept`` also those it kept."""
        numbers = sorted(self.written + self.kept) if resend_kept else self.written
        return [self.key(n) for n in numbers]

    def delete_stale(self, count: int) -> list[str]:
        """With ``force``: remove sub-manifests numbered ``count`` and up (a previous grouping
        made more), so the prefix holds exactly this grouping."""
        stale = [self.key(n) for n in sorted(self.existing) if n >= count]
        stale += [k for k in self.other_groupings if k.endswith((".index", shards.SHARD_SUFFIX))]
        for key in stale:
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
            except AWS_ERRORS as exc:
                raise write_failed(self.uri(key), exc) from None
            log.warning("%s: deleted, left over from a previous grouping", self.uri(key))
        return stale

    def write_summary(self, summary: JobSummary, previous: JobSummary | None) -> bool:
        """Write the job summary (last); leave an identical one alone. True if written."""
        if previous is not None and same_summary(previous, summary):
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


def same_summary(a: Any, b: Any) -> bool:
    """Two summaries (dataclasses) alike but for when they were written."""
    left, right = asdict(a), asdict(b)
    left.pop("created", None)
    right.pop("created", None)
    return left == right


def _each(
    workers: int, fn: Callable[[Any], object], items: list[Any]
) -> list[BaseException | None]:
    """Call ``fn`` on every item, ``workers`` at a time; each call's exception (or None)."""
    if not items:
        return []
    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="publish") as pool:
        return [future.exception() for future in [pool.submit(fn, item) for item in items]]
