"""The grouping run: inventory -> filtered rows -> sub-manifests, uploaded unpublished ->
all published -> queue -> job summary.

Order matters for "bad input writes nothing": everything that can be checked before writing
(manifest, fields, output bucket, queue, previous run, data file checksums) is checked first,
and what can only be found while reading (malformed rows) is found before anything is
published.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import pyarrow as pa

from s3common import submanifest
from s3common.metrics import BYTES, COUNT, Metrics
from s3common.prefetch import Prefetch
from s3common.queues import resolve_queue_url
from s3common.s3uri import S3Uri
from s3common.sizes import format_size
from s3common.submanifest import JobSummary
from s3grouper import readers
from s3grouper.download import DataFiles, load_manifest
from s3grouper.enqueue import QueueSender
from s3grouper.filters import FilterOptions, RowFilter
from s3grouper.grouping import Grouper, Thresholds
from s3grouper.inventory import InventoryManifest
from s3grouper.merge import JobMerge, Merged
from s3grouper.progress import Progress
from s3grouper.rows import encode_lines, kept_line_starts
from s3grouper.selection import data_file_tables
from s3grouper.shards import Shard, ShardSummary
from s3grouper.writer import SubmanifestWriter, run_id

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "s3grouper-output"
FREED_MEMORY_DECAY_MS = 100
DEFAULT_NAME = "manifest"
#: Connections of the S3 client: the writer's uploads (8) and the data files' checks and
#: downloads (8).
S3_CONNECTIONS = 16


@dataclass(frozen=True)
class GrouperOptions:
    """One grouping run, as the CLI (or a caller) describes it."""

    manifest: S3Uri
    bucket: str
    prefix: str = DEFAULT_PREFIX
    name: str = DEFAULT_NAME
    thresholds: Thresholds = field(default_factory=Thresholds)
    filters: FilterOptions = field(default_factory=FilterOptions)
    force: bool = False
    queue: str | None = None
    region: str | None = None  # where the caller makes the clients (GrouperClients)
    profile: str | None = None
    progress: bool = False
    metrics: bool = True  # publish ObjectsGrouped/BytesGrouped/ManifestsWritten (S3Bundler)
    shard: Shard | None = None  # only this shard's data files (s3grouper.shards)

    @property
    def output_name(self) -> str:
        """Glacier runs get their own name so they never collide with normal ones."""
        return f"{self.name}-glacier" if self.filters.glacier else self.name

    def describe(self) -> dict[str, object]:
        """The options that decide the output (recorded in, and compared with, the summary)."""
        return {
            "name": self.output_name,
            "size_threshold": self.thresholds.size,
            "count_threshold": self.thresholds.count,
            **self.filters.describe(),
        }


@dataclass
class GrouperResult:
    summary: JobSummary | ShardSummary  # a shard's run: its shard summary
    summary_uri: S3Uri
    written: int
    kept: int
    deleted: int
    seconds: float
    merged: Merged | None = None  # a shard's run: the job summary, or the shards not done
    job_uri: S3Uri | None = None

    def line(self) -> str:
        s = self.summary
        shard = f"shard {s.shard}/{s.shards}: " if isinstance(s, ShardSummary) else ""
        return (
            f"s3grouper: {shard}{self.written} sub-manifests written, {self.kept} skipped "
            f"(existing), {s.objects} objects, {s.bytes} bytes ({format_size(s.bytes)}), "
            f"{self.seconds:.1f}s -> {self.summary_uri}{self._job()}"
        )

    def _job(self) -> str:
        if self.merged is None:
            return ""
        if self.merged.job is None:
            waiting = " ".join(str(i) for i in self.merged.waiting[:8])
            more = " ..." if len(self.merged.waiting) > 8 else ""
            return f"; job not complete, waiting for shard(s) {waiting}{more}"
        job = self.merged.job
        how = "merged" if self.merged.written else "complete"
        return (
            f"; job {how}: {job.shard_count} shards, {job.manifests} sub-manifests, "
            f"{job.objects} objects -> {self.job_uri}"
        )


@dataclass(frozen=True)
class GrouperClients:
    """The AWS clients of a run, made by the caller from its region/profile (boto3 at the
    edges: :func:`s3grouper.cli.make_clients`)."""

    s3: Any  # with S3_CONNECTIONS connections
    sqs: Any | None = None  # needed with GrouperOptions.queue
    cloudwatch: Any | None = None  # needed with GrouperOptions.metrics

    def check(self, options: GrouperOptions) -> None:
        """The clients the options need are there (else ValueError: a caller's mistake)."""
        if options.queue and self.sqs is None:
            raise ValueError("GrouperOptions.queue needs GrouperClients.sqs")
        if options.metrics and self.cloudwatch is None:
            raise ValueError("GrouperOptions.metrics needs GrouperClients.cloudwatch")


def run_grouper(options: GrouperOptions, clients: GrouperClients) -> GrouperResult:
    """Run the whole grouping; raises S3BundlerError subclasses on every expected failure.

    Nothing reaches a bundler before the whole run has succeeded: the sub-manifests are
    uploaded unpublished (no object, no S3 event) and published together only once every row
    was read and every one uploaded; only then are ``--queue`` messages sent, and the job
    summary written last. A run that fails before publishing aborts its uploads.

    With ``options.shard`` only that shard's data files are read, and a shard summary is
    written instead of the job summary; then the job summary is merged if every shard is done
    (:mod:`s3grouper.merge`)."""
    clients.check(options)
    started = time.monotonic()
    return_freed_memory()
    manifest = load_manifest(clients.s3, options.manifest)
    options.filters.check_fields(manifest.columns, options.manifest)

    job_base = submanifest.base_name(options.manifest.key, options.output_name)
    shard = options.shard
    if shard is not None:
        manifest = dataclasses.replace(manifest, files=shard.files(manifest.files))
    sender = None
    if options.queue:
        sender = QueueSender(clients.sqs, resolve_queue_url(clients.sqs, options.queue))
    run_identity = run_id(str(options.manifest), options.describe())
    writer, merger = _outputs(options, clients.s3, job_base, run_identity)
    with sender if sender is not None else contextlib.nullcontext(), writer:
        run, previous = _upload_submanifests(options, manifest, clients.s3, writer, merger)
        writer.publish()
        deleted = writer.delete_stale(run.grouper.groups) if options.force else []
        deleted += merger.clear_stale() if merger is not None else []
        if sender is not None:
            # Without a finished job summary it cannot be known whether the sub-manifests a
            # previous run published were sent: send them again.
            for key in writer.announced(resend_kept=previous is None):
                sender.add(options.bucket, key)
            sender.flush()
        summary = _summary(options, manifest, job_base, run, run_identity)
        writer.write_summary(summary, previous)
    merged = merger.merge() if merger is not None else None
    if options.metrics:
        _publish(Metrics(clients.cloudwatch), summary, writer)
    for note in _notes(manifest, run.filter):  # after the work, so errors stay one line
        log.warning("%s: %s", manifest.uri, note)
    return GrouperResult(
        summary=summary,
        summary_uri=S3Uri(options.bucket, writer.summary_key),
        written=len(writer.written),
        kept=len(writer.kept),
        deleted=len(deleted),
        seconds=time.monotonic() - started,
        merged=merged,
        job_uri=S3Uri(options.bucket, merger.job_key) if merger is not None else None,
    )


def _outputs(
    options: GrouperOptions, s3: Any, job_base: str, run_identity: str
) -> tuple[SubmanifestWriter, JobMerge | None]:
    """The writer of this run's sub-manifests and summary, and for a shard its JobMerge."""
    shard = options.shard
    if shard is None:
        writer = SubmanifestWriter(
            s3, options.bucket, options.prefix, job_base, run_identity, force=options.force
        )
        return writer, None
    writer = SubmanifestWriter(
        s3, options.bucket, options.prefix, shard.base(job_base), run_identity,
        force=options.force, summary_key=shard.summary_key(options.prefix, job_base),
        load_summary=ShardSummary.from_json,
    )  # fmt: skip
    merger = JobMerge(
        s3, options.bucket, options.prefix, job_base, shard, run_identity, force=options.force
    )
    return writer, merger


def _upload_submanifests(
    options: GrouperOptions,
    manifest: InventoryManifest,
    s3: Any,
    writer: SubmanifestWriter,
    merger: JobMerge | None,
) -> tuple[_Run, Any]:
    """Check what can be checked before writing (output bucket, previous run, the other
    shards, data file checksums), then upload the sub-manifests, unpublished. Returns the run
    and the previous run's (job or shard) summary, if any."""
    writer.check_bucket()
    writer.scan()
    previous = writer.check_previous(str(options.manifest), options.describe())
    if merger is not None:
        merger.check(str(options.manifest), options.describe())
    data_files = DataFiles(s3, manifest)
    data_files.verify_all()
    run = _Run(manifest, data_files, options, writer)
    run.group()
    run.check_accounting()
    writer.flush()
    return run, previous


def _summary(
    options: GrouperOptions, manifest: InventoryManifest, base: str, run: _Run, run_identity: str
) -> JobSummary | ShardSummary:
    """The job summary (a shard's run: its shard summary) of what the run grouped."""
    fields: dict[str, Any] = {
        "inventory": str(options.manifest),
        "source_bucket": manifest.source_bucket,
        "manifest_bucket": options.bucket,
        "manifest_prefix": options.prefix.strip("/"),
        "base_name": base,
        "options": options.describe(),
        "manifests": run.grouper.groups,
        "objects": run.grouper.total_objects,
        "bytes": run.grouper.total_bytes,
        "skipped": dict(run.filter.skipped),
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    shard = options.shard
    if shard is None:
        return JobSummary(**fields)
    return ShardSummary(
        **fields, shard=shard.index, shards=shard.count, run=run_identity,
        data_files=[f.key for f in manifest.files],
    )  # fmt: skip


def _publish(
    metrics: Metrics, summary: JobSummary | ShardSummary, writer: SubmanifestWriter
) -> None:
    metrics.publish(
        {
            "ObjectsGrouped": (summary.objects, COUNT),
            "BytesGrouped": (summary.bytes, BYTES),
            "ManifestsWritten": (len(writer.written), COUNT),
        }
    )


def return_freed_memory() -> None:
    """Have Arrow's allocator return freed memory to the system soon, if it is jemalloc (see
    s3grouper/__init__.py): the grouper frees each batch's buffers within milliseconds, so
    keeping them for jemalloc's default decay time (1 s) only raises peak RSS. 0 (at once)
    saved another ~25 MiB for ~0.35 CPU-s more per million rows (page faults)."""
    if pa.default_memory_pool().backend_name == "jemalloc":
        pa.jemalloc_set_decay_ms(FREED_MEMORY_DECAY_MS)


def _notes(manifest: InventoryManifest, row_filter: RowFilter) -> list[str]:
    notes = []
    if not manifest.has("size"):
        notes.append("inventory has no Size field: grouped by count only")
    if not manifest.has("storage_class"):
        notes.append(
            "inventory has no StorageClass field: archived (Glacier) objects could not be told "
            "apart and will reach the bundler"
        )
    return notes + row_filter.notes


class _Run:
    """Pass 2: stream the data files through filter and grouper into the writer.

    The data files are read (and their batches normalized) in a background thread, a few
    batches ahead, while this thread filters, groups and encodes them; Arrow releases the GIL
    for decompression, parsing and its compute functions, so the two overlap."""

    def __init__(
        self,
        manifest: InventoryManifest,
        data_files: DataFiles,
        options: GrouperOptions,
        writer: SubmanifestWriter,
    ) -> None:
        self.manifest = manifest
        self.data_files = data_files
        self.writer = writer
        self.filter = RowFilter(options.filters, manifest.columns)
        self.grouper = Grouper(options.thresholds)
        self.progress = Progress(len(manifest.files), enabled=options.progress)
        self.rows = 0  # rows read

    def check_accounting(self) -> None:
        """Every row read is in exactly one sub-manifest or counted as skipped (so the job
        summary accounts for the whole inventory). True by construction; checked before
        anything is published, so that a bug that loses rows fails loudly instead."""
        skipped = sum(self.filter.skipped.values())
        if self.rows != self.grouper.total_objects + skipped:
            raise RuntimeError(
                f"{self.manifest.uri}: {self.rows} rows read, but {self.grouper.total_objects} "
                f"grouped and {skipped} skipped"
            )

    def group(self) -> None:
        with self.progress, contextlib.closing(self._pieces()) as pieces:
            for number, parts in itertools.groupby(pieces, key=itemgetter(0)):
                if self.writer.exists(number):
                    for _ in parts:
                        pass
                    self.writer.keep(number)
                    continue
                self.writer.write(number, (chunk for _, chunk in parts))

    def _pieces(self) -> Iterator[tuple[int, pa.Buffer | None]]:
        """``(group, bytes)``: the encoded rows of each group, batch by batch, in inventory
        order (None for groups that already exist: those are not encoded)."""
        has_size = self.manifest.has("size")
        with Prefetch(self._tables()) as tables:
            for table in tables:
                self.rows += table.num_rows
                keep = self.filter.mask(table)
                kept = table.num_rows if keep is None else keep.true_count
                if not kept:
                    continue
                if has_size:
                    sizes = readers.column(table, "size")
                    sizes = sizes if keep is None else sizes.filter(keep)
                else:
                    sizes = pa.nulls(kept, pa.int64())
                segments = self.grouper.feed(sizes)
                if all(self.writer.exists(seg.group) for seg in segments):
                    for seg in segments:
                        yield seg.group, None
                else:
                    lines = encode_lines(table, keep)
                    data = lines.buffers()[2]
                    starts = kept_line_starts(lines, keep)
                    for seg in segments:
                        first = starts[seg.start]
                        yield seg.group, data.slice(first, starts[seg.stop] - first)
                self.progress.rows(self.grouper.total_objects)

    def _tables(self) -> Iterator[pa.Table]:
        return data_file_tables(self.manifest, self.data_files, self.progress.file_done)
