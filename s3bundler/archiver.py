"""One manifest in, one archive + index + DLQ index (+ big-object copies) out.

The story of :meth:`ManifestJob.run`:

1. read the sub-manifest (manifest.py): malformed and repeated rows go straight to the DLQ
   index; an empty one is done at once (a zero-count completion report);
2. abort multipart uploads a killed worker left on this manifest's archive key;
3. split the rows into archive members and big objects (> maxsize); copy the big objects
   server-side in the background (copier.py);
4. read the small ones ahead, in order, within a byte budget (scheduler.py) and write them as
   pax tar members into a multipart upload (archive_writer.py -> multipart.py);
5. commit in order (outputs.py), then publish metrics. (The worker deletes the SQS message
   after this returns.)

Every outcome goes to the ledger (ledger.py), which feeds the index, the DLQ index and the
log. A streamed object that breaks half-way through its member (changed or deleted while
read) restarts the archive without it (it becomes a DLQ row). Any manifest-level failure (or
cancellation) aborts the multipart upload and propagates.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from s3bundler import events
from s3bundler.archive_writer import ArchiveWriter, StreamBroken, row_id
from s3bundler.boto_reads import BotoFetcher, read_tags
from s3bundler.catalog import CatalogFile
from s3bundler.codecs import codec_named
from s3bundler.copier import BigObjectCopies, CopySettings
from s3bundler.counts import Counts
from s3bundler.failures import ObjectFailed
from s3bundler.fetched import Fetcher
from s3bundler.frames import Compression
from s3bundler.layout import (
    ARCHIVE_TAG,
    MANIFEST_METADATA,
    ManifestOutputs,
    dlq_uri,
    manifest_outputs,
    manifest_tag,
)
from s3bundler.ledger import DlqFile, EventLog, IndexFile, Ledger
from s3bundler.manifest import LoadedManifest, load_manifest
from s3bundler.members import member_names
from s3bundler.multipart import MultipartWriter, initial_part_size
from s3bundler.outputs import Commit, OutputStore
from s3bundler.ranged_stream import RangedStream
from s3bundler.report import ManifestReport, report_key
from s3bundler.scheduler import FetchLimits, FetchScheduler
from s3bundler.tag_reads import TagReads
from s3common.errors import InputDataError
from s3common.metrics import Metrics
from s3common.s3uri import S3Uri
from s3common.sizes import GiB, MiB
from s3common.submanifest import LEGACY_FIELDS, ManifestEntry, manifest_name

log = logging.getLogger(__name__)

TAR_OVERHEAD = 2048  # header, pax records and padding per member, for the part-size estimate
MAX_RESTARTS = 3  # archives started again after a streamed object broke half-way
RANGE_THREADS = 8  # ranged GETs of large objects in flight (two streams of WINDOW parts, +)


@dataclass(frozen=True)
class BundlerConfig:
    archive_bucket: str
    archive_prefix: str = "archives"
    maxsize: int = 2 * GiB
    compress: str = ""  # "", "gzip" (.tar.gz) or "zstd" (.tar.zst): codecs.CODECS
    compress_level: int = 1  # gzip/zstd level: 1 is the fastest (docs/bundler.md)
    compress_threads: int = 0  # threads compressing frames; 0: the CPUs, at most 4
    concurrency: int = 32
    buffer_bytes: int = 64 * MiB  # budget for downloaded-but-not-yet-written objects
    stream_threshold: int = 8 * MiB  # larger objects are streamed, not buffered
    get_stall_seconds: float = 300.0  # waiting longer for the next buffered object fails
    upload_concurrency: int = 3
    copy_concurrency: int = 4
    copy_multipart_threshold: int = 5 * GiB
    copy_part_size: int = 512 * MiB
    legacy_fields: tuple[str, ...] = LEGACY_FIELDS
    storage_class: str = ""  # of archives and big-object copies; "" = the bucket's default
    # --tags: when tags are read (tag_reads.py); one per worker process, shared by its fetcher
    tag_reads: TagReads = field(default_factory=TagReads, compare=False)

    def compression(self) -> Compression | None:
        """The archive's compression layer; None for a plain .tar."""
        codec = codec_named(self.compress)
        if codec is None:
            return None
        return Compression(codec, self.compress_level, self.compress_threads)

    def copy_settings(self) -> CopySettings:
        return CopySettings(
            archive_bucket=self.archive_bucket,
            archive_prefix=self.archive_prefix,
            multipart_threshold=self.copy_multipart_threshold,
            part_size=self.copy_part_size,
            storage_class=self.storage_class,
        )

    def fetch_limits(self) -> FetchLimits:
        return FetchLimits(
            buffer_bytes=self.buffer_bytes,
            stream_threshold=self.stream_threshold,
            window=self.concurrency * 4,
            stall_seconds=self.get_stall_seconds,
        )


@dataclass
class ManifestResult:
    manifest: S3Uri
    outputs: ManifestOutputs | None  # None: no row named a source bucket
    counts: Counts
    seconds: float
    requests: dict[str, int] = field(default_factory=dict)  # as in the completion report
    storage_class: str = ""

    def log_fields(self) -> dict[str, object]:
        """The ``manifest_done`` line (docs/formats.md, "Log lines"); ``requests`` as
        ``Operation:n,...`` (``-`` when not counted)."""
        archived = self.outputs is not None and self.counts.archived
        archive = self.outputs.archive_uri if archived and self.outputs else "-"
        return {
            "manifest": self.manifest,
            **self.counts.log_fields(),
            "seconds": f"{self.seconds:.2f}",
            "archive": archive,
            "requests": ",".join(f"{op}:{n}" for op, n in sorted(self.requests.items())) or "-",
        }


@contextlib.contextmanager
def _shut_down_after(pool: ThreadPoolExecutor) -> Iterator[ThreadPoolExecutor]:
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def split_by_size(
    entries: Sequence[ManifestEntry], maxsize: int
) -> tuple[list[ManifestEntry], list[ManifestEntry]]:
    """(archive members, big objects to copy): big when the listed size is above maxsize."""
    small: list[ManifestEntry] = []
    big: list[ManifestEntry] = []
    for e in entries:
        (big if e.size is not None and e.size > maxsize else small).append(e)
    return small, big


class ManifestJob:
    def __init__(
        self,
        s3: Any,
        config: BundlerConfig,
        manifest: S3Uri,
        cancel: threading.Event | None = None,
        metrics: Metrics | None = None,
        fetcher: Fetcher | None = None,
        requests: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self.s3 = s3
        self.fetcher = fetcher  # None: boto3 GETs on a thread pool of this job's own
        # The S3 requests made for this manifest so far (s3common.requests.RequestCounter
        # .window), recorded in the completion report; None: not counted.
        self.requests = requests
        self.requests_made: dict[str, int] = {}
        self.metrics = metrics or Metrics(None)
        self.config = config
        self.manifest = manifest
        self.cancel = cancel or threading.Event()
        self.store = OutputStore(s3)

    # -- the story ----------------------------------------------------------------------------
    def run(self) -> ManifestResult:
        started = time.monotonic()
        cfg = self.config
        loaded = load_manifest(self.s3, self.manifest, cfg.legacy_fields)
        outputs = None
        if loaded.entries:
            outputs = manifest_outputs(
                self.manifest, loaded.source_bucket, cfg.archive_bucket, cfg.archive_prefix,
                cfg.compress,
            )  # fmt: skip
            self.store.check_ownership(outputs, self.manifest)
            self.store.abort_stale_uploads(outputs.archive_uri)
        events.manifest_start(self.manifest, outputs, loaded.rows, loaded.entries)
        broken: list[tuple[ManifestEntry, ObjectFailed]] = []
        while True:
            try:
                counts, seconds = self._attempt(loaded, outputs, broken, started)
                break
            except StreamBroken as exc:
                if len(broken) >= MAX_RESTARTS:
                    raise InputDataError(
                        f"{self.manifest}: {len(broken) + 1} objects broke while streamed "
                        f"(last {exc}); giving up for now, the message is redelivered"
                    ) from exc
                log.warning("%s: %s; starting the archive again without it", self.manifest, exc)
                broken.append((exc.entry, exc.failure))
        self.metrics.publish(*counts.metric_data(seconds))
        return ManifestResult(
            self.manifest, outputs, counts, seconds, self.requests_made, cfg.storage_class
        )

    def _attempt(
        self,
        loaded: LoadedManifest,
        outputs: ManifestOutputs | None,
        broken: Sequence[tuple[ManifestEntry, ObjectFailed]],
        started: float,
    ) -> tuple[Counts, float]:
        """One pass over the manifest: every row to the ledger, then the commit."""
        cfg = self.config
        index, dlq = IndexFile(), DlqFile()
        catalog = CatalogFile(self.manifest, outputs.archive_uri if outputs else None)
        ledger = Ledger(loaded.rows, [index, dlq, catalog, EventLog(self.manifest)])
        for rejected in loaded.rejected:
            ledger.failed(rejected.entry, rejected.reason, rejected.detail)
        left_out = {row_id(entry) for entry, _ in broken}
        for entry, failure in broken:
            detail = f"{failure.detail} (while streamed: left out of the archive)"
            ledger.failed(entry, failure.reason, detail)
        rows = [e for e in loaded.entries if row_id(e) not in left_out]
        small, big = split_by_size(rows, cfg.maxsize)
        copies = BigObjectCopies(self.s3, cfg.copy_settings(), cfg.copy_concurrency, self.cancel)
        with copies, self._archive_upload(outputs, small) as upload:
            copies.start(big)
            if upload is not None:
                self._archive(small, upload, ledger)
            copies.collect(ledger)
            seconds = time.monotonic() - started
            self._commit(outputs, upload, index, dlq, catalog, ledger.counts, seconds)
        return ledger.counts, seconds

    # -- archiving ----------------------------------------------------------------------------
    def _archive_upload(
        self, outputs: ManifestOutputs | None, small: Sequence[ManifestEntry]
    ) -> contextlib.AbstractContextManager[MultipartWriter | None]:
        """The archive's multipart upload (aborted on leaving unless completed), if any."""
        if not small or outputs is None:
            return contextlib.nullcontext()
        cfg = self.config
        codec = codec_named(cfg.compress)
        expected = sum(e.size or 0 for e in small) + TAR_OVERHEAD * len(small)
        return MultipartWriter(
            self.s3,
            outputs.archive_uri,
            base_part_size=initial_part_size(expected),
            concurrency=cfg.upload_concurrency,
            content_type=codec.content_type if codec else "application/x-tar",
            metadata={MANIFEST_METADATA: manifest_tag(self.manifest)},
            cancel=self.cancel,
            storage_class=cfg.storage_class,
            tagging="=".join(ARCHIVE_TAG),
        )

    def _archive(
        self, entries: Sequence[ManifestEntry], upload: MultipartWriter, ledger: Ledger
    ) -> None:
        cfg = self.config
        names = member_names([(e.bucket, e.key) for e in entries])
        writer = ArchiveWriter(
            upload,
            ledger,
            functools.partial(read_tags, self.s3, reads=cfg.tag_reads),
            self.cancel,
            dict(zip(map(row_id, entries), names, strict=True)),
            compression=cfg.compression(),
        )
        ranges = ThreadPoolExecutor(RANGE_THREADS, thread_name_prefix="range")

        def open_stream(entry: ManifestEntry) -> RangedStream:
            stream = RangedStream(self.s3, entry, ranges, self.cancel, cfg.get_stall_seconds)
            return stream.start()

        with (
            _shut_down_after(ranges),
            self._fetcher() as fetcher,
            FetchScheduler(
                fetcher,
                open_stream,
                cfg.fetch_limits(),
                self.cancel,
                what=str(self.manifest),
            ) as scheduler,
        ):
            writer.write_all(scheduler.outcomes(entries))
        upload.close()

    @contextlib.contextmanager
    def _fetcher(self) -> Iterator[Fetcher]:
        """The worker's fetcher, or one of this job's own (closed at the end)."""
        if self.fetcher is not None:
            yield self.fetcher
            return
        own = BotoFetcher(self.s3, self.config.concurrency, self.config.tag_reads)
        try:
            yield own
        finally:
            own.close()

    # -- commit -------------------------------------------------------------------------------
    def _requests_made(self) -> dict[str, int]:
        """The requests made for this manifest, counting the report's own PutObject (it is
        the last request of the commit, and carries these counts)."""
        if self.requests is None:
            return {}
        made = dict(self.requests())
        made["PutObject"] = made.get("PutObject", 0) + 1
        self.requests_made = dict(sorted(made.items()))
        return self.requests_made

    def _commit(
        self,
        out: ManifestOutputs | None,
        upload: MultipartWriter | None,
        index: IndexFile,
        dlq: DlqFile,
        catalog: CatalogFile,
        counts: Counts,
        seconds: float,
    ) -> None:
        cfg = self.config
        files = catalog.files(cfg.archive_prefix, manifest_name(self.manifest.key))
        catalogs = {S3Uri(cfg.archive_bucket, key): body for key, body in files.items()}
        report = ManifestReport(
            manifest=str(self.manifest),
            counts=counts,
            seconds=round(seconds, 3),
            archive=str(out.archive_uri) if out and counts.archived else "",
            index=str(out.index_uri) if out and counts.archived else "",
            dlq=str(dlq_uri(self.manifest)) if counts.failed else "",
            finished=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            catalog=[str(uri) for uri in catalogs],
            storage_class=cfg.storage_class,
        )

        def report_body() -> bytes:  # at the end of the commit, with its requests counted
            report.requests = self._requests_made()
            return report.to_json()

        Commit(
            outputs=out,
            dlq_uri=dlq_uri(self.manifest),
            upload=upload,
            index=index.writer.getvalue() if counts.archived else None,
            dlq=dlq.writer.getvalue() if counts.failed else None,
            catalogs=catalogs,
            report=S3Uri(self.manifest.bucket, report_key(self.manifest.key)),
            report_body=report_body,
        ).run(self.store, self.cancel)
