"""One manifest in, one archive + index + DLQ index (+ big-object copies) out.

The story of :meth:`ManifestJob.run`:

1. read the sub-manifest; split its rows into archive members and big objects (> maxsize);
2. copy the big objects server-side in the background (copier.py);
3. read the small ones ahead, in order, within a byte budget (scheduler.py) and write them as
   pax tar members into a multipart upload (archive_writer.py -> multipart.py);
4. commit in order (outputs.py), then publish metrics. (The worker deletes the SQS message
   after this returns.)

Every outcome goes to the ledger (ledger.py), which feeds the index, the DLQ index and the
log. Any manifest-level failure (or cancellation) aborts the multipart upload and propagates.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from s3bundler import events
from s3bundler.archive_writer import ArchiveWriter
from s3bundler.boto_reads import BotoFetcher, ObjectStream, read_tags
from s3bundler.copier import BigObjectCopies, CopySettings
from s3bundler.counts import Counts
from s3bundler.errors import ManifestUnreadable
from s3bundler.fetched import Fetcher
from s3bundler.layout import MANIFEST_METADATA, ManifestOutputs, manifest_outputs, manifest_tag
from s3bundler.ledger import DlqFile, EventLog, IndexFile, Ledger
from s3bundler.multipart import MultipartWriter, initial_part_size
from s3bundler.outputs import Commit, OutputStore
from s3bundler.report import ManifestReport, report_key
from s3bundler.scheduler import FetchLimits, FetchScheduler
from s3common.aws import AWS_ERRORS, read_failed
from s3common.errors import ExitCode, InputDataError
from s3common.metrics import Metrics
from s3common.s3uri import S3Uri
from s3common.sizes import GiB, MiB
from s3common.submanifest import LEGACY_FIELDS, ManifestEntry, read_manifest

TAR_OVERHEAD = 1536  # header and padding per member, at most, for the part-size estimate


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
    outputs: ManifestOutputs
    counts: Counts
    seconds: float

    def log_fields(self) -> dict[str, object]:
        """The ``manifest_done`` line (docs/formats.md, "Log lines")."""
        archive = self.outputs.archive_uri if self.counts.archived else "-"
        return {
            "manifest": self.manifest,
            **self.counts.log_fields(),
            "seconds": f"{self.seconds:.2f}",
            "archive": archive,
        }


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
    ) -> None:
        self.s3 = s3
        self.fetcher = fetcher  # None: boto3 GETs on a thread pool of this job's own
        self.metrics = metrics or Metrics(None)
        self.config = config
        self.manifest = manifest
        self.cancel = cancel or threading.Event()
        self.store = OutputStore(s3)

    # -- the story ----------------------------------------------------------------------------
    def run(self) -> ManifestResult:
        started = time.monotonic()
        cfg = self.config
        entries = load_manifest(self.s3, self.manifest, cfg.legacy_fields)
        outputs = manifest_outputs(
            self.manifest, entries[0].bucket, cfg.archive_bucket, cfg.archive_prefix, cfg.compress
        )
        self.store.check_ownership(outputs, self.manifest)
        small, big = split_by_size(entries, cfg.maxsize)
        events.manifest_start(self.manifest, outputs, entries)
        index, dlq = IndexFile(), DlqFile()
        ledger = Ledger(len(entries), [index, dlq, EventLog(self.manifest)])
        copies = BigObjectCopies(self.s3, cfg.copy_settings(), cfg.copy_concurrency, self.cancel)
        with copies, self._archive_upload(outputs, small) as upload:
            copies.start(big)
            if upload is not None:
                self._archive(small, upload, ledger)
            copies.collect(ledger)
            seconds = time.monotonic() - started
            self._commit(outputs, upload, index, dlq, ledger.counts, seconds)
        self.metrics.publish(*ledger.counts.metric_data(seconds))
        return ManifestResult(self.manifest, outputs, ledger.counts, seconds)

    # -- archiving ----------------------------------------------------------------------------
    def _archive_upload(
        self, outputs: ManifestOutputs, small: Sequence[ManifestEntry]
    ) -> contextlib.AbstractContextManager[MultipartWriter | None]:
        """The archive's multipart upload (aborted on leaving unless completed), if any."""
        if not small:
            return contextlib.nullcontext()
        cfg = self.config
        expected = sum(e.size or 0 for e in small) + TAR_OVERHEAD * len(small)
        return MultipartWriter(
            self.s3,
            outputs.archive_uri,
            base_part_size=initial_part_size(expected),
            concurrency=cfg.upload_concurrency,
            content_type="application/gzip" if cfg.compress else "application/x-tar",
            metadata={MANIFEST_METADATA: manifest_tag(self.manifest)},
            cancel=self.cancel,
        )

    def _archive(
        self, entries: Sequence[ManifestEntry], upload: MultipartWriter, ledger: Ledger
    ) -> None:
        cfg = self.config
        writer = ArchiveWriter(
            upload,
            ledger,
            functools.partial(read_tags, self.s3),
            self.cancel,
            compress_level=cfg.compress_level if cfg.compress else None,
        )
        with (
            self._fetcher() as fetcher,
            FetchScheduler(
                fetcher,
                functools.partial(ObjectStream, self.s3),
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
        own = BotoFetcher(self.s3, self.config.concurrency)
        try:
            yield own
        finally:
            own.close()

    # -- commit -------------------------------------------------------------------------------
    def _commit(
        self,
        out: ManifestOutputs,
        upload: MultipartWriter | None,
        index: IndexFile,
        dlq: DlqFile,
        counts: Counts,
        seconds: float,
    ) -> None:
        report = ManifestReport(
            manifest=str(self.manifest),
            counts=counts,
            seconds=round(seconds, 3),
            archive=str(out.archive_uri) if counts.archived else "",
            index=str(out.index_uri) if counts.archived else "",
            dlq=str(out.dlq) if counts.failed else "",
            finished=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        Commit(
            outputs=out,
            upload=upload,
            index=index.writer.getvalue() if counts.archived else None,
            dlq=dlq.writer.getvalue() if counts.failed else None,
            report=S3Uri(self.manifest.bucket, report_key(self.manifest.key)),
            report_body=report.to_json(),
        ).run(self.store, self.cancel)
