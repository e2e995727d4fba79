"""``s3bundler reconcile JOB_SUMMARY_URI``: prove a job complete (docs/reconcile.md)."""

from __future__ import annotations

import argparse
import os
import sys

from s3common.cli import positive_int
from s3common.costs import job_cost_lines, total_requests
from s3common.errors import ExitCode, UsageError
from s3common.prices import load_prices
from s3common.s3uri import s3_uri_arg
from s3grouper.plan_costs import grouper_requests
from s3restore.commands import clients, parser
from s3restore.job_outputs import catalog_root_arg
from s3restore.reconcile import ROWS_PER_PART, Reconcile, ReconcileOptions
from s3restore.reconcile_report import Progress, summary_lines

DESCRIPTION = """\
Account for every object a job selected. The job's inventory is read again with the filters
its job summary records (the grouper's own code), and every selected object must be in the
catalog exactly once: archived, copied, or in a DLQ index with a reason. Also checked: every
sub-manifest has a completion report and a catalog file, and every archive and copy the
catalog points at exists. Prints the counts; writes every problem to a CSV (--report).
Memory stays bounded: both sides are spilled to local disk in hash parts (--work-dir)."""

EXAMPLES = """\
  s3bundler reconcile s3://work/s3grouper-output/inv-src-daily-2024-01-31T00-00Z-manifest.job.json
  s3bundler reconcile s3://work/s3grouper-output/x-manifest.job.json \\
      --catalog s3://my-archive-bucket/archives --report /tmp/x.csv --work-dir /mnt/scratch

  s3bundler reconcile s3://work/s3grouper-output/x-manifest.job.json --costs

  exit 0: complete (every selected object accounted for, once); exit 1: problems (see the CSV)"""


def build_parser() -> argparse.ArgumentParser:
    p = parser("reconcile", DESCRIPTION, EXAMPLES)
    p.add_argument("job", type=s3_uri_arg, metavar="JOB_SUMMARY_URI",
                   help="the job summary s3grouper wrote (s3://.../<name>.job.json)")  # fmt: skip
    p.add_argument(
        "--catalog", type=catalog_root_arg, metavar="s3://ARCHIVE_BUCKET/PREFIX",
        help="where the archives and their catalog are (default: as the completion reports "
        "say)",
    )  # fmt: skip
    p.add_argument(
        "--report", metavar="FILE.csv",
        help="write the problems here (default: ./<job name>.reconcile.csv); '-' for stdout "
        "(the counts then go to stderr)",
    )  # fmt: skip
    p.add_argument(
        "--costs", action="store_true",
        help="also print the job's S3 requests (summed from the completion reports; the "
        "grouper's estimated) and their cost at list prices (docs/costs.md)",
    )  # fmt: skip
    p.add_argument("--prices", metavar="FILE",
                   help="price table overrides for --costs (docs/costs.md)")  # fmt: skip
    p.add_argument("--work-dir", metavar="DIR",
                   help="local scratch for the spilled parts (default: $TMPDIR)")  # fmt: skip
    p.add_argument("--concurrency", type=positive_int, default=16,
                   help="parallel S3 requests (default: 16)")  # fmt: skip
    p.add_argument("--rows-per-part", type=positive_int, default=ROWS_PER_PART,
                   help=argparse.SUPPRESS)  # fmt: skip
    return p


def run(args: argparse.Namespace) -> int:
    session, s3 = clients(args, args.concurrency)
    options = ReconcileOptions(
        job=args.job,
        catalog=args.catalog,
        work_dir=args.work_dir,
        concurrency=args.concurrency,
        rows_per_part=args.rows_per_part,
    )
    if args.work_dir and not os.path.isdir(args.work_dir):
        raise UsageError(f"--work-dir {args.work_dir}: not a directory")
    progress = Progress(enabled=not args.no_progress)
    job = Reconcile(session, s3, options, progress)
    summary = job.load_job()
    path = args.report or f"{summary.base_name}.reconcile.csv"
    if path == "-":
        tally = job.run(sys.stdout)
        counts_to = sys.stderr
    else:
        try:
            out = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"--report {path}: cannot write: {exc.strerror}") from None
        with out:
            tally = job.run(out)
        counts_to = sys.stdout
    lines = summary_lines(
        tally, str(args.job), summary.inventory, summary.objects, path, job.outputs.line()
    )
    if args.costs:  # before the verdict, which stays the last line
        lines[-1:-1] = _cost_lines(job, args.region or session.region_name, args.prices)
    print("\n".join(lines), file=counts_to, flush=True)
    return int(ExitCode.OK if tally.complete else ExitCode.CHECK_FAILED)


def _cost_lines(job: Reconcile, region: str | None, prices_file: str | None) -> list[str]:
    """``--costs``: the requests the completion reports recorded, by the class their archives
    were written in, and the grouper's as ``s3grouper --plan`` estimates them."""
    prices = load_prices(region, prices_file)  # its warnings are printed with the costs
    recorded = [s.report for s in job.reports if s.report is not None and s.report.requests]
    by_class = total_requests((r.requests, r.storage_class) for r in recorded)
    manifests = len(job.reports)
    grouper = grouper_requests(job.data_files, manifests)
    source = f"estimated: a first run over {job.data_files} data files, {manifests} sub-manifests"
    lines = job_cost_lines(prices, by_class, manifests, len(recorded), grouper, source)
    return lines + [f"  note: {w}" for w in prices.warnings]
