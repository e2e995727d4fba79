"""Benchmark ``s3bundler reconcile`` on a generated job: wall seconds, CPU and peak RSS of the
reconcile process, for an inventory of ``--rows`` rows and a catalog of every selected one.

    .venv/bin/python bench/reconcile_bench.py [--rows 1000000] [--files 10] [--holes 100]
                                              [--rows-per-part 250000] [--http]

Nothing is bundled: the job's outputs are made directly, as the bundler would have left them
-- a CSV.gz inventory report (5 % GLACIER rows, skipped by the job's default filters), a job
summary, and per sub-manifest of 65,000 objects a completion report, an (empty) archive object
and a catalog file encoded by ``s3bundler.catalog.encode``. ``--holes N`` takes N rows out of
the catalog, repeats N/2 of another file's and adds N/4 that no inventory row selects; the run
must then find exactly those (exit 1), which checks the answer at scale. Not a test: numbers
depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from bench.endpoint.process import BenchServer  # noqa: E402
from bench.grouper_bench import FIELDS, generate  # noqa: E402
from bench.measure import run_measured  # noqa: E402
from s3bundler.catalog import catalog_key, encode  # noqa: E402
from s3bundler.counts import Counts  # noqa: E402
from s3bundler.report import ManifestReport, report_key  # noqa: E402
from s3common.s3uri import S3Uri, parse_s3_uri  # noqa: E402
from s3common.submanifest import JobSummary, base_name, manifest_name  # noqa: E402
from s3grouper.filters import SKIP_REASONS, FilterOptions  # noqa: E402
from s3jobs.inventory_report import put_report  # noqa: E402

INVENTORY_BUCKET, WORK_BUCKET, ARCHIVE_BUCKET = "rb-inventory", "rb-work", "rb-archive"
PREFIX, ARCHIVES = "job", "archives"
PER_MANIFEST = 65_000
MODIFIED = datetime(2024, 1, 2, tzinfo=UTC)


def _selected(body_table: pa.Table) -> pa.Table:
    """The rows the job's default filters select (GLACIER rows are skipped)."""
    return body_table.filter(pc.not_equal(body_table["storage_class"], "GLACIER"))


def _rows_table(rows: int, start: int) -> pa.Table:
    """The same rows as grouper_bench.generate (same seed), as a table (key, size, class)."""
    rng = random.Random(start)
    idx = range(start, start + rows)
    keys = [f"logs/{i % 997:03d}/2024-01-{i % 28 + 1:02d}/object-{i:09d}.json.gz" for i in idx]
    sizes = [rng.randrange(2_000_000) for _ in idx]
    [rng.randrange(30 * 86_400_000) for _ in idx]  # the same draws as generate()
    classes = ["GLACIER" if rng.random() < 0.05 else "STANDARD" for _ in idx]
    return pa.table({"key": keys, "size": pa.array(sizes, pa.int64()), "storage_class": classes})


class JobWriter:
    """Writes the catalog, reports and archives of the job's sub-manifests as rows come."""

    def __init__(self, s3: Any, base: str, holes: int) -> None:
        self.s3, self.base, self.holes = s3, base, holes
        self.pending: list[dict[str, Any]] = []
        self.manifests = 0
        self.objects = 0

    def add(self, selected: pa.Table) -> None:
        for key, size in zip(selected["key"].to_pylist(), selected["size"].to_pylist(),
                             strict=True):  # fmt: skip
            self.pending.append({"key": key, "size": size})
            if len(self.pending) == PER_MANIFEST:
                self._write()

    def finish(self) -> None:
        if self.pending:
            self._write()

    def _write(self) -> None:
        n, rows, self.pending = self.manifests, self.pending, []
        self.manifests += 1
        self.objects += len(rows)
        manifest = S3Uri(WORK_BUCKET, f"{PREFIX}/{self.base}.{n}.index")
        name = manifest_name(manifest.key)
        archive = S3Uri(ARCHIVE_BUCKET, f"{ARCHIVES}/{n:06x}/source-bucket/{name}.tar")
        catalog = S3Uri(ARCHIVE_BUCKET, catalog_key(ARCHIVES, "source-bucket", name))
        if n == 0 and self.holes:  # holes: missing here, duplicated and unexpected in file 1
            rows = rows[self.holes :]
        if n == 1 and self.holes:
            rows += rows[: self.holes // 2]
            rows += [{"key": f"stray/{i}", "size": 1} for i in range(self.holes // 4)]
        full = [self._row(r, archive, manifest, offset) for offset, r in enumerate(rows)]
        self.s3.put_object(Bucket=catalog.bucket, Key=catalog.key, Body=encode(full))
        self.s3.put_object(Bucket=archive.bucket, Key=archive.key, Body=b"")
        report = ManifestReport(manifest=str(manifest), counts=Counts(objects=len(rows),
                                archived=len(rows)), archive=str(archive),
                                catalog=[str(catalog)])  # fmt: skip
        self.s3.put_object(Bucket=WORK_BUCKET, Key=report_key(manifest.key),
                           Body=report.to_json())  # fmt: skip

    @staticmethod
    def _row(row: dict[str, Any], archive: S3Uri, manifest: S3Uri, n: int) -> dict[str, Any]:
        return {**row, "version_id": "", "status": "archived", "etag": "e", "md5": "m",
                "last_modified": MODIFIED, "storage_class": "STANDARD", "archive": str(archive),
                "member": f"source-bucket/{row['key']}", "offset": 512 * (2 * n + 1),
                "header_offset": 1024 * n, "manifest": str(manifest)}  # fmt: skip


def make_job(s3: Any, rows: int, files: int, holes: int, log: Any) -> tuple[str, int]:
    """Put the inventory, the job's outputs and its summary; return (summary URI, selected)."""
    for bucket in (INVENTORY_BUCKET, WORK_BUCKET, ARCHIVE_BUCKET):
        s3.create_bucket(Bucket=bucket)
    t0 = time.monotonic()
    per_file = -(-rows // files)
    bodies = []
    glacier = 0
    writer: JobWriter | None = None
    manifest_key = f"inventory/source-bucket/bench-{rows}/2024-01-31T00-00Z/manifest.json"
    writer = JobWriter(s3, base_name(manifest_key), holes)
    for start in range(0, rows, per_file):
        count = min(per_file, rows - start)
        bodies.append(generate(count, start, "CSV"))
        table = _rows_table(count, start)
        selected = _selected(table)
        glacier += table.num_rows - selected.num_rows
        writer.add(selected)
        log(f"  generated rows {start + count:,}/{rows:,} ({time.monotonic() - t0:.0f}s)")
    writer.finish()
    uri = put_report(s3, INVENTORY_BUCKET, bodies, fmt="CSV", fields=FIELDS,
                     config_id=f"bench-{rows}")  # fmt: skip
    assert parse_s3_uri(uri).key == manifest_key, uri
    options = {"name": "manifest", "size_threshold": 2**50, "count_threshold": PER_MANIFEST,
               **FilterOptions().describe()}  # fmt: skip
    skipped = dict.fromkeys(SKIP_REASONS, 0) | {"glacier": glacier}
    summary = JobSummary(
        inventory=uri, source_bucket="source-bucket", manifest_bucket=WORK_BUCKET,
        manifest_prefix=PREFIX, base_name=writer.base, options=options,
        manifests=writer.manifests, objects=writer.objects, bytes=0, skipped=skipped,
    )  # fmt: skip
    key = f"{PREFIX}/{writer.base}.job.json"
    s3.put_object(Bucket=WORK_BUCKET, Key=key, Body=summary.to_json())
    log(f"job: {rows:,} inventory rows, {writer.objects:,} selected, {writer.manifests} "
        f"sub-manifests (made in {time.monotonic() - t0:.0f}s)")  # fmt: skip
    return f"s3://{WORK_BUCKET}/{key}", writer.objects


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--holes", type=int, default=100)
    ap.add_argument("--rows-per-part", type=int, default=None)
    ap.add_argument("--http", action="store_true", help="plain-HTTP endpoint (default HTTPS)")
    args = ap.parse_args()
    with BenchServer(tls=not args.http) as server:
        s3 = server.client()
        job, selected = make_job(s3, args.rows, args.files, args.holes, print)
        env = {**os.environ, **server.env()}
        cmd = [sys.executable, "-m", "s3bundler", "reconcile", job, "--report",
               "/tmp/reconcile-bench.csv"]  # fmt: skip
        if args.rows_per_part:
            cmd += ["--rows-per-part", str(args.rows_per_part)]
        m = run_measured(cmd, env, check=False)
        print(m.stdout.rstrip())
        expected = 1 if args.holes else 0
        if m.returncode != expected:
            raise SystemExit(f"reconcile exited {m.returncode}, expected {expected}: "
                             f"{m.stderr[-2000:]}")  # fmt: skip
        if args.holes:
            want = (
                f"missing        {args.holes}",
                f"duplicated     {args.holes // 2}",
                f"unexpected     {args.holes // 4}",
            )
            missing = [w for w in want if w not in m.stdout]
            if missing:
                raise SystemExit(f"reconcile did not find the holes: {missing}")
        print(f"reconcile: {selected:,} selected objects: {m.wall:.1f}s wall, {m.cpu:.1f}s CPU, "
              f"peak RSS {m.peak_rss_mib:.0f} MiB; holes found exactly")  # fmt: skip


if __name__ == "__main__":
    main()
