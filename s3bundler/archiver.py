"""One manifest in, one archive + index + DLQ index (+ big-object copies) out.

The story of :meth:`ManifestJob.run`:

1. read the sub-manifest; split objects into archive members and big objects (> maxsize);
2. start the big-object copies in the background (server-side, see copier.py);
3. download small objects concurrently (a thread pool, bounded by an in-flight byte budget)
   while this thread writes them *in manifest order* as pax tar members into a multipart upload
   (tarstream.py -> multipart.py); objects above the buffering limit are streamed chunk by
   chunk by this thread instead;
4. commit in order: delete a stale index -> complete the archive upload -> put the index ->
   put (or delete a stale) DLQ index -> put the completion report (``<manifest>.done``) ->
   publish metrics. An index therefore never exists without its complete archive, and
   reprocessing the same manifest overwrites the same keys. (The worker deletes the SQS
   message after this returns.)

Any manifest-level failure (or cancellation) aborts the multipart upload and propagates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from s3bundler import events
from s3bundler.copier import Copied, CopySettings, copy_big_object
from s3bundler.dlq import DlqRow, DlqWriter
from s3bundler.errors import Cancelled, ManifestUnreadable, OutputCollision
from s3bundler.fetchers import BotoFetcher, Fetcher
from s3bundler.index import IndexRow, IndexWriter
from s3bundler.layout import (
    MANIFEST_METADATA,
    ManifestOutputs,
    manifest_outputs,
    manifest_tag,
    member_name,
)
from s3bundler.multipart import MultipartWriter, initial_part_size
from s3bundler.objects import (
    Fetched,
    ObjectFailed,
    ObjectInfo,
    ObjectStream,
    TooBigToBuffer,
    check_md5,
    iso8601,
    read_tags,
)
from s3bundler.report import ManifestReport, report_key
from s3bundler.tarstream import GzipMembers, MemberPosition, TarStream
from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, error_code, read_failed, write_failed
from s3common.errors import DownloadError, ExitCode, InputDataError
from s3common.metrics import BYTES, COUNT, SECONDS, Metrics
from s3common.s3uri import S3Uri
from s3common.submanifest import LEGACY_FIELDS, ManifestEntry, read_manifest

log = logging.getLogger(__name__)

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class BundlerConfig:
    archive_bucket: str
    archive_prefix: str = "archives"
    maxsize: int = 2 * GiB
    compress: bool = False
    compress_level: int = 1  # zlib level; 1 is ~3x faster than 6 for ~1 point of ratio
    concurrency: int = 32
    buffer_bytes: int = 64 * MiB  # budget for downloaded-but-not-yet-written objects
    stream_threshold: int = 8 * MiB  # larger objects are streamed, not buffered
    get_stall_seconds: float = 300.0  # waiting longer for the next buffered object fails
    upload_concurrency: int = 3
    copy_concurrency: int = 4
    copy_multipart_threshold: int = 5 * GiB
    copy_part_size: int = 512 * MiB
    legacy_fields: tuple[str, ...] = LEGACY_FIELDS

    def copy_settings(self) -> CopySettings:
        return CopySettings(
            archive_bucket=self.archive_bucket,
            archive_prefix=self.archive_prefix,
            multipart_threshold=self.copy_multipart_threshold,
            part_size=self.copy_part_size,
        )


@dataclass
class ManifestResult:
    manifest: S3Uri
    outputs: ManifestOutputs | None = None
    objects: int = 0
    archived: int = 0
    archived_bytes: int = 0
    copied: int = 0
    copied_bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def load_manifest(s3: Any, uri: S3Uri, legacy_fields: tuple[str, ...]) -> list[ManifestEntry]:
    """Read a whole sub-manifest (at most tens of thousands of rows). Raises
    ManifestUnreadable with exit code 5 (cannot fetch) or 3 (cannot parse)."""
    try:
        data = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except AWS_ERRORS as exc:
        raise ManifestUnreadable(str(read_failed(uri, exc)), ExitCode.DOWNLOAD) from exc
    try:
        entries = list(read_manifest(data, source=str(uri), legacy_fields=legacy_fields))
    except UnicodeDecodeError as exc:
        raise ManifestUnreadable(f"{uri}: not UTF-8 text: {exc}", ExitCode.INPUT_DATA) from None
    except InputDataError as exc:
        raise ManifestUnreadable(str(exc), ExitCode.INPUT_DATA) from None
    if not entries:
        raise ManifestUnreadable(f"{uri}: sub-manifest lists no objects", ExitCode.INPUT_DATA)
    return entries


class ManifestJob:
    def __init__(
        self,
        s3: Any,
        config: BundlerConfig,
        manifest: S3Uri,
        cancel: threading.Event | None = None,
        metrics: Metrics | None = None,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.s3 = s3
        self.fetcher = fetcher  # None: boto3 GETs on a thread pool of this job's own
        self.metrics = metrics or Metrics(None)
        self.config = config
        self.manifest = manifest
        self.cancel = cancel or threading.Event()
        self.result = ManifestResult(manifest)
        self.index = IndexWriter()
        self.dlq = DlqWriter()
        self._upload: MultipartWriter | None = None
        self._started = time.monotonic()
        self._tar: TarStream | None = None

    # -- the story ----------------------------------------------------------------------------
    def run(self) -> ManifestResult:
        started = self._started = time.monotonic()
        entries = load_manifest(self.s3, self.manifest, self.config.legacy_fields)
        self.result.objects = len(entries)
        outputs = manifest_outputs(
            self.manifest,
            entries[0].bucket,
            self.config.archive_bucket,
            self.config.archive_prefix,
            self.config.compress,
        )
        self.result.outputs = outputs
        self._check_ownership(outputs)
        big: list[ManifestEntry] = []
        small: list[ManifestEntry] = []
        for e in entries:
            (big if e.size is not None and e.size > self.config.maxsize else small).append(e)
        events.manifest_start(self.manifest, outputs, entries)

        copy_pool = ThreadPoolExecutor(self.config.copy_concurrency, thread_name_prefix="copy")
        try:
            copies = [
                (
                    e,
                    copy_pool.submit(
                        copy_big_object, self.s3, e, self.config.copy_settings(), self.cancel
                    ),
                )
                for e in big
            ]
            if small:
                self._archive(small, outputs)
            for entry, fut in copies:
                self._collect_copy(entry, fut)
            self._commit(outputs)
            self.result.seconds = time.monotonic() - started
            self._publish()
        except BaseException:
            copy_pool.shutdown(wait=False, cancel_futures=True)
            if self._upload is not None:
                self._upload.abort()
            raise
        copy_pool.shutdown(wait=True)
        return self.result

    # -- archiving ----------------------------------------------------------------------------
    def _archive(self, entries: list[ManifestEntry], outputs: ManifestOutputs) -> None:
        cfg = self.config
        expected = sum(e.size or 0 for e in entries) + 1536 * len(entries)
        self._upload = MultipartWriter(
            self.s3,
            outputs.archive_uri,
            base_part_size=initial_part_size(expected),
            concurrency=cfg.upload_concurrency,
            content_type="application/gzip" if cfg.compress else "application/x-tar",
            metadata={MANIFEST_METADATA: manifest_tag(self.manifest)},
            cancel=self.cancel,
        ).start()
        gz = GzipMembers(self._upload, level=cfg.compress_level) if cfg.compress else None
        self._tar = TarStream(self._upload, gz)

        window: deque[tuple[ManifestEntry, Future[Fetched] | None, int]] = deque()
        reserved = 0
        pending = iter(entries)
        lookahead: ManifestEntry | None = next(pending, None)
        max_window = cfg.concurrency * 4
        fetcher = self.fetcher or BotoFetcher(self.s3, cfg.concurrency)
        try:
            while True:
                # Keep the fetcher busy, within the byte budget.
                while lookahead is not None and len(window) < max_window:
                    e = lookahead
                    if e.size is None or e.size > cfg.stream_threshold:
                        window.append((e, None, 0))
                    else:
                        cost = max(e.size, 1)
                        if window and reserved + cost > cfg.buffer_bytes:
                            break
                        reserved += cost
                        fut = fetcher.submit(e, cfg.stream_threshold)
                        window.append((e, fut, cost))
                    lookahead = next(pending, None)
                if not window:
                    break
                entry, fut, cost = window.popleft()
                if fut is None:
                    self._stream_member(entry)
                    continue
                try:
                    self._write_fetched(self._result_of(fut, cfg.get_stall_seconds))
                except ObjectFailed as failure:
                    self._failed(entry, failure.reason, failure.detail)
                except TooBigToBuffer:
                    self._stream_member(entry)
                reserved -= cost
        except BaseException:
            for _, f, _ in window:
                if f is not None:
                    f.cancel()
            raise
        finally:
            if fetcher is not self.fetcher:
                fetcher.close()
        self._tar.close()
        self._upload.close()

    def _result_of(self, fut: Future[Any], stall_limit: float | None = None) -> Any:
        """The future's result, watching for a stop signal; a wait longer than ``stall_limit``
        seconds cancels it and fails the manifest (DownloadError, the message is redelivered)
        rather than holding it forever."""
        waited = 0.0
        while True:
            if self.cancel.is_set():
                raise Cancelled()
            try:
                return fut.result(timeout=0.5)
            except FutureTimeout:
                waited += 0.5
                if stall_limit is not None and waited >= stall_limit:
                    fut.cancel()
                    raise DownloadError(
                        f"{self.manifest}: no object arrived for {waited:.0f}s; giving up"
                    ) from None

    def _write_fetched(self, f: Fetched) -> None:
        assert self._tar is not None
        name = member_name(f.entry.bucket, f.entry.key)
        pos = self._tar.begin(name, f.info.size, int(f.info.last_modified.timestamp()))
        self._tar.write(f.data)
        self._tar.end()
        self._indexed(f.entry, f.info, f.md5, f.tags, f.flags, name, pos)

    def _stream_member(self, entry: ManifestEntry) -> None:
        assert self._tar is not None
        try:
            stream = ObjectStream(self.s3, entry)
        except ObjectFailed as failure:
            self._failed(entry, failure.reason, failure.detail)
            return
        info = stream.info
        name = member_name(entry.bucket, entry.key)
        pos = self._tar.begin(name, info.size, int(info.last_modified.timestamp()))
        try:
            for chunk in stream.chunks():
                if self.cancel.is_set():
                    raise Cancelled()
                self._tar.write(chunk)
        except ObjectFailed as failure:
            stream.close()
            if stream.read < info.size:
                # Half a member is in the archive; it cannot be finished consistently.
                raise InputDataError(
                    f"s3://{entry.bucket}/{entry.key} {failure.reason} while streaming "
                    f"({failure.detail}); archive abandoned for redelivery"
                ) from failure
            self._tar.end()
            self._failed(entry, failure.reason, failure.detail + " (bytes left unindexed)")
            return
        self._tar.end()
        try:
            check_md5(info, stream.md5)
        except ObjectFailed as failure:
            # The bytes are in the archive but not in the index: the object is in the DLQ only.
            self._failed(entry, failure.reason, failure.detail + " (bytes left unindexed)")
            return
        tags, tag_flag = read_tags(self.s3, entry, info)
        flags = info.flags_against(entry) + ([tag_flag] if tag_flag else [])
        self._indexed(entry, info, stream.md5, tags, flags, name, pos)

    def _indexed(
        self,
        entry: ManifestEntry,
        info: ObjectInfo,
        md5: str,
        tags: dict[str, str] | None,
        flags: list[str],
        name: str,
        pos: MemberPosition,
    ) -> None:
        version_id = entry.version_id or ("" if info.version_id == "null" else info.version_id)
        self.index.add(
            IndexRow(
                bucket=entry.bucket,
                key=entry.key,
                version_id=version_id,
                size=info.size,
                last_modified=iso8601(info.last_modified),
                etag=info.etag,
                md5=md5,
                member=name,
                offset=pos.data_offset,
                header_offset=pos.header_offset,
                content_type=info.content_type,
                metadata=info.metadata,
                tags=tags,
                storage_class=info.storage_class,
                checksum=info.checksum,
                gz_offset=pos.gz_offset,
                gz_skip=pos.gz_skip,
                flags=";".join(flags),
            )
        )
        self.result.archived += 1
        self.result.archived_bytes += info.size

    def _failed(self, entry: ManifestEntry, reason: str, detail: str) -> None:
        self.dlq.add(DlqRow(entry.bucket, entry.key, entry.version_id, entry.size, reason, detail))
        self.result.errors[reason] += 1
        events.object_failed(self.manifest, entry, reason, detail)

    def _collect_copy(self, entry: ManifestEntry, fut: Future[Copied]) -> None:
        try:
            copied = self._result_of(fut)
        except ObjectFailed as failure:
            self._failed(entry, failure.reason, failure.detail)
            return
        self.result.copied += 1
        self.result.copied_bytes += copied.row.size
        events.object_copied(self.manifest, entry, copied.target)

    def _publish(self) -> None:
        """Progress metrics, after the DLQ index and before the message is deleted."""
        r = self.result
        self.metrics.publish(
            {
                "ObjectsArchived": (r.archived, COUNT),
                "BytesArchived": (r.archived_bytes, BYTES),
                "ObjectsCopied": (r.copied, COUNT),
                "BytesCopied": (r.copied_bytes, BYTES),
                "ObjectErrors": (r.failed, COUNT),
                "ManifestsCompleted": (1, COUNT),
                "ManifestSeconds": (r.seconds, SECONDS),
            },
            {("ObjectErrors", "Reason", reason): (n, COUNT) for reason, n in r.errors.items()},
        )

    def _check_ownership(self, out: ManifestOutputs) -> None:
        """Refuse to overwrite an archive that holds a *different* sub-manifest (same file name
        under another prefix, e.g. two grouper runs with one -k): that would silently lose the
        other's objects. Archives of this very manifest are overwritten (reprocessing)."""
        mine = manifest_tag(self.manifest)
        for key in (out.archive_key, out.other_archive_key):
            try:
                head = self.s3.head_object(Bucket=out.archive_bucket, Key=key)
            except AWS_ERRORS as exc:
                if error_code(exc) in NOT_FOUND_CODES:
                    continue
                raise read_failed(S3Uri(out.archive_bucket, key), exc) from exc
            owner = head.get("Metadata", {}).get(MANIFEST_METADATA, "")
            if owner != mine:
                raise OutputCollision(
                    f"{self.manifest}: s3://{out.archive_bucket}/{key} already holds the archive "
                    f"of {unquote(owner) or 'another sub-manifest'}; give sub-manifests distinct "
                    "names (s3grouper -k) or use another archive prefix (-p)"
                )

    # -- commit -------------------------------------------------------------------------------
    def _commit(self, out: ManifestOutputs) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        # A stale index from an earlier run must never sit beside a different archive.
        self._delete(out.index_uri)
        if self.index.rows:
            assert self._upload is not None
            self._upload.complete()
            self._upload = None
            self._put(out.index_uri, self.index.getvalue(), "text/csv")
        else:
            if self._upload is not None:
                self._upload.abort()
                self._upload = None
            self._delete(out.archive_uri)
        # The same manifest archived earlier with the other compression setting.
        self._delete(S3Uri(out.archive_bucket, out.other_archive_key))
        if self.dlq.rows:
            self._put(out.dlq, self.dlq.getvalue(), "text/csv")
        else:
            self._delete(out.dlq)
        self._put(self._report_uri(), self._report(out).to_json(), "application/json")

    def _report_uri(self) -> S3Uri:
        return S3Uri(self.manifest.bucket, report_key(self.manifest.key))

    def _report(self, out: ManifestOutputs) -> ManifestReport:
        r = self.result
        return ManifestReport(
            manifest=str(self.manifest),
            objects=r.objects,
            archived=r.archived,
            archived_bytes=r.archived_bytes,
            copied=r.copied,
            copied_bytes=r.copied_bytes,
            failed=r.failed,
            errors=dict(r.errors),
            seconds=round(time.monotonic() - self._started, 3),
            archive=str(out.archive_uri) if r.archived else "",
            index=str(out.index_uri) if r.archived else "",
            dlq=str(out.dlq) if r.failed else "",
            finished=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    def _put(self, uri: S3Uri, body: bytes, content_type: str) -> None:
        try:
            self.s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body, ContentType=content_type)
        except AWS_ERRORS as exc:
            raise write_failed(uri, exc) from exc

    def _delete(self, uri: S3Uri) -> None:
        try:
            self.s3.delete_object(Bucket=uri.bucket, Key=uri.key)
        except AWS_ERRORS as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise write_failed(uri, exc) from exc
