"""``s3bundler reconcile``: account for every object a job selected (docs/reconcile.md).

1. The job summary names the inventory, the filters and the sub-manifests; each sub-manifest's
   completion report is read, and its catalog file looked for (one listing).
2. The inventory is read again with the grouper's own code and the job's filters
   (s3grouper/selection.py) and the selected rows are spilled to local disk in hash parts
   (s3restore/partitions.py), with the sub-manifest number the grouping gives each.
3. The job's catalog files are read (a few at a time, only the columns needed) and spilled
   into as many parts; rows of other sub-manifests are counted, the archives they point at
   counted, copies collected.
4. Every archive is checked once (HEAD), every copy too.
5. Part by part, the two sides are compared (s3restore/reconcile_match.py); problems stream
   into the CSV.

Memory holds one part of each side (``rows_per_part``) and a buffer, never the job.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from s3bundler.catalog import catalog_key, partition_prefix
from s3common.arrow_s3 import arrow_s3
from s3common.errors import UsageError
from s3common.s3uri import S3Uri, parse_s3_uri
from s3common.submanifest import JobSummary, manifest_name
from s3grouper.grouper import return_freed_memory
from s3grouper.grouping import Grouper
from s3grouper.selection import (
    Selection,
    filters_from_job,
    group_numbers,
    thresholds_from_job,
)
from s3grouper.shards import assign
from s3restore import job_outputs
from s3restore.job_outputs import ReportState
from s3restore.partitions import Partitions, parts_for
from s3restore.reconcile_catalog import CatalogScan
from s3restore.reconcile_match import CATALOG, INVENTORY, compare
from s3restore.reconcile_report import (
    NO_ARCHIVE,
    NO_CATALOG_FILE,
    NO_COPY,
    NO_REPORT,
    SELECTION_DIFFERS,
    ProblemCsv,
    Progress,
    Tally,
)

#: Rows per hash part: a part of each side is what memory holds while comparing (100,000:
#: ~110 MiB above the ~140 MiB the process starts with; bench/reconcile_bench.py).
ROWS_PER_PART = 100_000


class ShardGrouping:
    """The job's grouping replayed, to name the sub-manifest a missing object belongs in: one
    grouper for an unsharded job; one per shard for a sharded one, each fed its own data files
    (s3grouper.shards), its numbers offset to index the job's sub-manifests (manifest_keys())."""

    def __init__(self, job: JobSummary, files: Sequence[Any]) -> None:
        thresholds = thresholds_from_job(job.options)
        count = job.shard_count
        self._groupers = [Grouper(thresholds) for _ in range(count)] if thresholds else []
        self._shard_of = {j: i for i, js in enumerate(assign(files, count)) for j in js}
        self._offsets = [sum((job.shards or [0])[:i]) for i in range(count)]

    def groups(self, file_index: int, table: pa.Table) -> pa.Array:
        if not self._groupers:
            return pa.nulls(table.num_rows, pa.int32())
        shard = self._shard_of.get(file_index, 0) if len(self._groupers) > 1 else 0
        numbers = group_numbers(self._groupers[shard], table)
        return pc.add(numbers, pa.scalar(self._offsets[shard], pa.int32())) if shard else numbers


@dataclass(frozen=True)
class ReconcileOptions:
    job: S3Uri
    catalog: S3Uri | None = None  # s3://<archive-bucket>/<archive-prefix>; else from reports
    work_dir: str | None = None  # where the parts go (default: $TMPDIR)
    concurrency: int = 16
    rows_per_part: int = ROWS_PER_PART


@dataclass
class Outputs:
    """What was found of the sub-manifests' outputs, for the summary line."""

    manifests: int = 0
    reports: int = 0
    catalog_files: int = 0
    archives: int = 0
    archives_missing: int = 0
    copies: int = 0
    copies_missing: int = 0

    def line(self) -> str:
        return (
            f"{self.manifests}: {self.reports} completion reports, {self.catalog_files} "
            f"catalog files, {self.archives} archives ({self.archives_missing} missing), "
            f"{self.copies} copies ({self.copies_missing} missing)"
        )


def use_jemalloc() -> None:
    """Arrow's jemalloc pool, told to return freed pages soon, as the grouper has it
    (s3grouper/__init__.py; ``s3bundler`` imports pyarrow before a command can set
    ``ARROW_DEFAULT_MEMORY_POOL``): ~70 MiB less peak RSS. An explicit
    ``ARROW_DEFAULT_MEMORY_POOL`` wins."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL", "jemalloc") != "jemalloc":
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow built without it
        return
    return_freed_memory()


class Reconcile:
    """One reconcile run; :meth:`run` writes the CSV to ``out`` and returns the tally."""

    def __init__(
        self, session: Any, s3: Any, options: ReconcileOptions, progress: Progress
    ) -> None:
        self.session = session
        self.s3 = s3
        self.options = options
        self.progress = progress
        self.outputs = Outputs()
        self.tally = Tally()
        self.job: JobSummary | None = None
        self.reports: list[ReportState] = []  # the sub-manifests' completion reports
        self.data_files = 0  # of the inventory

    def load_job(self) -> JobSummary:
        self.job = job_outputs.load_job(self.s3, self.options.job)
        return self.job

    def run(self, out: IO[str]) -> Tally:
        job = self.job or self.load_job()
        use_jemalloc()
        csv = ProblemCsv(out, job.source_bucket, self.tally)
        manifests = job_outputs.job_manifests(job)
        self.outputs.manifests = len(manifests)
        reports = job_outputs.read_reports(self.s3, manifests, self.options.concurrency)
        self.reports = reports
        for state in reports:
            if state.report is None:
                csv.finding(NO_REPORT, state.manifest, state.uri, detail=state.problem)
        self.outputs.reports = sum(1 for s in reports if s.report is not None)
        root = self.options.catalog or job_outputs.archive_root(reports)
        if root is None:
            raise UsageError(
                f"{self.options.job}: no completion report names a catalog file or an archive; "
                "give --catalog s3://ARCHIVE_BUCKET/PREFIX"
            )
        files = self._catalog_files(job, root, reports, csv)
        parts = parts_for(job.objects, self.options.rows_per_part)
        with tempfile.TemporaryDirectory(
            prefix="s3bundler-reconcile-", dir=self.options.work_dir
        ) as work:
            inventory = Partitions(work, "inventory", INVENTORY, parts)
            with contextlib.closing(inventory):  # one side's files open at a time
                self._read_inventory(job, inventory, csv)
            catalog = Partitions(work, "catalog", CATALOG, parts)
            with contextlib.closing(catalog):
                scan = CatalogScan([str(m) for m in manifests], catalog, csv)
                fs = arrow_s3(self.session, self.s3, root.bucket)
                scan.read(fs, files, max(1, min(4, self.options.concurrency)), self.progress)
            self._check_locations(scan, csv)
            self._compare(inventory, catalog, scan.archives, csv)
        return self.tally

    # -- 1. sub-manifests' outputs --------------------------------------------------------------
    def _catalog_files(
        self, job: JobSummary, root: S3Uri, reports: list[ReportState], csv: ProblemCsv
    ) -> list[tuple[S3Uri, int]]:
        """The job's catalog files (those named after its sub-manifests); a finding for each
        sub-manifest without one."""
        prefix = partition_prefix(root.key, job.source_bucket) + job.base_name + "."
        listed = dict(job_outputs.list_keys(self.s3, root.bucket, prefix))
        for state in reports:
            key = catalog_key(root.key, job.source_bucket, manifest_name(state.manifest.key))
            if key in listed:
                continue
            listed_by_report = state.report.catalog if state.report else []
            detail = "not in the catalog" + (
                f"; the completion report lists {' '.join(listed_by_report)}"
                if listed_by_report
                else ""
            )
            csv.finding(NO_CATALOG_FILE, state.manifest, S3Uri(root.bucket, key), detail=detail)
        # <base>.<n>.parquet, or <base>.s<i>-of-<S>.<n>.parquet for a sharded job
        pattern = re.compile(re.escape(job.base_name) + r"(\.s\d+-of-\d+)?\.\d+\.parquet")
        files = [
            (S3Uri(root.bucket, k), n)
            for k, n in listed.items()
            if pattern.fullmatch(job_outputs.leaf(k))
        ]
        self.outputs.catalog_files = len(files)
        return files

    # -- 2. the inventory -----------------------------------------------------------------------
    def _read_inventory(self, job: JobSummary, parts: Partitions, csv: ProblemCsv) -> None:
        filters = filters_from_job(job.options, self.options.job)
        selection = Selection(self.s3, parse_s3_uri(job.inventory), filters)
        manifest = selection.open()
        self.data_files = len(manifest.files)
        grouping = ShardGrouping(job, manifest.files)
        files = [0]

        def file_done() -> None:
            files[0] += 1
            self.progress.update(self._inventory_text(selection, files[0], len(manifest.files)))

        for index, table in selection.indexed_tables(on_file_done=file_done):
            parts.add(table.append_column("group", grouping.groups(index, table)))
        parts.close()
        self.progress.done(self._inventory_text(selection, files[0], len(manifest.files)))
        self.tally.selected = selection.selected
        skipped = {k: v for k, v in selection.row_filter.skipped.items() if v}
        expected = {k: v for k, v in job.skipped.items() if v}
        if selection.selected != job.objects or skipped != expected:
            csv.finding(
                SELECTION_DIFFERS,
                location=job.inventory,
                detail=f"the inventory now selects {selection.selected} objects (skipped "
                f"{skipped or 'none'}); the job summary says {job.objects} (skipped "
                f"{expected or 'none'})",
            )

    @staticmethod
    def _inventory_text(selection: Selection, done: int, total: int) -> str:
        return (
            f"reconcile: inventory: {done}/{total} data files, {selection.rows} rows, "
            f"{selection.selected} selected"
        )

    # -- 4. archives and copies (3. is reconcile_catalog.py) ------------------------------------
    def _check_locations(self, scan: CatalogScan, csv: ProblemCsv) -> None:
        archives = [n for n in range(len(scan.archives)) if scan.archive_rows[n]]
        copies = [c for c in scan.copies if c[2]]
        self.outputs.archives, self.outputs.copies = len(archives), len(copies)
        uris = [parse_s3_uri(scan.archives[n]) for n in archives]
        uris += [parse_s3_uri(c[2]) for c in copies]
        self.progress.update(
            f"reconcile: checking {len(archives)} archives, {len(copies)} copies", force=True
        )
        with ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="head") as pool:
            found = list(pool.map(lambda u: job_outputs.exists(self.s3, u), uris))
        for n, present in zip(archives, found[: len(archives)], strict=True):
            if not present:
                self.outputs.archives_missing += 1
                csv.finding(NO_ARCHIVE, location=scan.archives[n],
                            detail=f"{scan.archive_rows[n]} catalog rows point at it")  # fmt: skip
        manifests = job_outputs.job_manifests(self.job) if self.job else []
        for (key, version, uri, manifest), present in zip(
            copies, found[len(archives) :], strict=True
        ):
            if not present:
                self.outputs.copies_missing += 1
                csv.finding(NO_COPY, manifests[manifest], uri, key=key, version_id=version,
                            status="copied", detail="the copy does not exist")  # fmt: skip

    # -- 5. compare -----------------------------------------------------------------------------
    def _compare(
        self, inventory: Partitions, catalog: Partitions, archives: list[str], csv: ProblemCsv
    ) -> None:
        manifests = [str(m) for m in job_outputs.job_manifests(self.job)] if self.job else []
        for part in range(inventory.parts):
            outcome = compare(inventory.read(part), catalog.read(part))
            self.tally.add(outcome)
            csv.objects(outcome.problems, manifests, archives)
            self.progress.update(f"reconcile: compared {part + 1}/{inventory.parts} parts")
        self.progress.done(f"reconcile: compared {inventory.parts} parts")
