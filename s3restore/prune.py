"""``s3bundler prune``: delete source objects a job archived, only where the catalog proves
each is archived or copied with a verified MD5 and the source is still the very object that
was archived (docs/prune.md).

1. The job is reconciled (s3restore/prune_gate.py); prune goes on only if reconcile calls it
   complete, or for the ``--only`` subset, keeping whatever reconcile has a problem with.
2. Sub-manifest by sub-manifest: its catalog file is read (one GET), its earlier prune logs
   too (s3restore/prune_log.py: what is done is skipped, what may not be is checked again),
   each row is checked against the catalog (s3restore/prune_rules.py), and the candidates go
   in batches to s3restore/prune_batch.py: HEAD, check, log, delete, log the answer.
3. Every object looked at is a row of the report; objects of ``--only`` that no catalog row
   names are kept as ``not-in-catalog`` (``not-in-job`` for another bucket).

Memory holds one sub-manifest's catalog rows and logs, never the job.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from s3bundler.catalog import FAILED, catalog_key
from s3common.s3uri import S3Uri
from s3common.submanifest import JobSummary, manifest_name
from s3restore import job_outputs
from s3restore.locate import Wanted
from s3restore.prune_batch import Batches, BatchSettings
from s3restore.prune_gate import Gate
from s3restore.prune_log import log_prefix, read_prior
from s3restore.prune_report import Report
from s3restore.prune_rules import (
    COLUMNS,
    DLQ,
    DONE_BEFORE,
    NOT_IN_CATALOG,
    NOT_IN_JOB,
    RECONCILE_PROBLEM,
    Row,
    Verdict,
    check_catalog,
    kept,
)
from s3restore.reconcile_report import Progress

#: DeleteObjects takes at most this many objects.
MAX_BATCH = 1000


@dataclass(frozen=True)
class PruneSettings:
    root: S3Uri  # s3://<archive-bucket>/<archive-prefix>: the catalog, and the logs
    delete: bool = False  # --yes
    batch_size: int = MAX_BATCH
    concurrency: int = 16
    conditional: bool = True  # the ETag condition on versionless deletes


class Only:
    """The ``--only`` list: which catalog rows it names, and which of its objects no row
    named."""

    def __init__(self, wanted: Sequence[Wanted]) -> None:
        self.by_key: dict[tuple[str, str], list[Wanted]] = defaultdict(list)
        for w in wanted:
            self.by_key[(w.bucket, w.key)].append(w)
        self.matched: set[Wanted] = set()

    def wants(self, row: Row) -> bool:
        hit = False
        for w in self.by_key.get((row.bucket, row.key), ()):
            if w.version_id is None or w.version_id == row.version_id:
                self.matched.add(w)
                hit = True
        return hit

    def unmatched(self) -> Iterator[Wanted]:
        for group in self.by_key.values():
            yield from (w for w in group if w not in self.matched)


def read_rows(s3: object, uri: S3Uri, bucket: str, manifest: str) -> list[Row]:
    """The catalog file's rows of ``manifest`` (none when the file does not exist)."""
    data = job_outputs.get_object(s3, uri)
    if data is None:
        return []
    try:
        table = pq.read_table(io.BytesIO(data), columns=list(COLUMNS))
    except (OSError, pa.ArrowInvalid, KeyError) as exc:
        raise job_outputs.not_a_catalog(uri, exc) from None
    return [Row.from_catalog(bucket, r) for r in table.to_pylist() if r["manifest"] == manifest]


class Prune:
    """One prune run over a job; every object it looks at goes to ``report``."""

    def __init__(
        self, s3: object, settings: PruneSettings, report: Report, progress: Progress
    ) -> None:
        self.s3 = s3
        self.settings = settings
        self.report = report
        self.progress = progress

    def run(self, job: JobSummary, gate: Gate, only: Only | None) -> None:
        manifests = job_outputs.job_manifests(job)
        with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="head") as pool:
            for n, manifest in enumerate(manifests, 1):
                self._manifest(pool, job, manifest, gate, only)
                self.progress.update(self._text(n, len(manifests)))
        self.progress.done(self._text(len(manifests), len(manifests)))
        for w in only.unmatched() if only else ():
            if w.bucket != job.source_bucket:
                verdict = kept(NOT_IN_JOB, f"the job's source bucket is {job.source_bucket}")
            else:
                verdict = kept(NOT_IN_CATALOG, "no catalog row of the job names it")
            self.report.unknown(w.bucket, w.key, w.version_id or "", verdict)

    def _text(self, done: int, total: int) -> str:
        t = self.report.tally
        counts = ", ".join(f"{a} {n}" for a, n in sorted(t.objects.items())) or "nothing yet"
        return f"prune: {done}/{total} sub-manifests: {counts}"

    def _manifest(
        self,
        pool: ThreadPoolExecutor,
        job: JobSummary,
        manifest: S3Uri,
        gate: Gate,
        only: Only | None,
    ) -> None:
        root, name = self.settings.root, manifest_name(manifest.key)
        uri = S3Uri(root.bucket, catalog_key(root.key, job.source_bucket, name))
        if str(uri) in gate.unreadable:
            return
        rows = read_rows(self.s3, uri, job.source_bucket, str(manifest))
        rows = [r for r in rows if only.wants(r)] if only else rows
        if not rows:
            return
        prefix = log_prefix(root, job.base_name, name)
        prior = read_prior(self.s3, root, prefix)
        candidates = []
        in_dlq = {r.ident: r for r in rows if r.status == FAILED}
        for row in rows:
            verdict = self._catalog_verdict(row, prior.deleted.get(row.ident), gate, manifest)
            if verdict is None and row.ident in in_dlq:
                failed = in_dlq[row.ident]
                verdict = kept(DLQ, f"also in the DLQ index: {failed.reason}: {failed.detail}")
            if verdict is None:
                candidates.append(row)
            else:
                self.report.row(row, verdict, prior.deleted.get(row.ident))
        settings = BatchSettings(
            job.source_bucket, root.bucket, prefix, self.settings.delete, self.settings.conditional
        )
        batches = Batches(self.s3, pool, settings, prior, self.report)
        size = self.settings.batch_size
        for first in range(0, len(candidates), size):
            batches.process(candidates[first : first + size])

    @staticmethod
    def _catalog_verdict(
        row: Row, deleted_in: int | None, gate: Gate, manifest: S3Uri
    ) -> Verdict | None:
        if deleted_in is not None:
            return Verdict(DONE_BEFORE, detail="its log says it was deleted")
        problem = gate.problem(row.bucket, row.key, row.location, str(manifest))
        if problem:
            return kept(RECONCILE_PROBLEM, problem)
        return check_catalog(row)
