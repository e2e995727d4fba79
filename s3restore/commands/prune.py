"""``s3bundler prune JOB_SUMMARY_URI``: delete the source objects a job archived, where the
catalog proves it safe (docs/prune.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from s3common.cli import positive_int
from s3common.errors import ExitCode, UsageError
from s3common.prices import load_prices
from s3common.request_options import RequestOptions
from s3common.requests import RequestCounter
from s3common.s3uri import S3Uri, s3_uri_arg
from s3common.submanifest import JobSummary
from s3restore import job_outputs, prune_gate
from s3restore.commands import clients, parser
from s3restore.locate import read_list
from s3restore.prune import MAX_BATCH, Only, Prune, PruneSettings
from s3restore.prune_gate import Gate
from s3restore.prune_report import Report, Tally, summary_lines
from s3restore.reconcile import ReconcileOptions
from s3restore.reconcile_report import Progress

DESCRIPTION = """\
Delete source objects a job archived -- only those the catalog proves archived (or copied)
with a verified MD5, and only while the source is still the very object archived: the
recorded version (versioned buckets: that version only, never a newer one), else the same
size and ETag, re-checked by a HEAD just before a DeleteObjects that carries the ETag as its
condition. Objects in a DLQ, flagged changed, or not in the catalog are never deleted. The
job must be one reconcile calls complete (it is reconciled first), unless --only names the
objects. A dry run unless --yes: it prints what would go and the monthly savings. With --yes
every batch is logged in the archive bucket (<prefix>/prune/<job>/) before it is sent, so a
rerun after a crash deletes nothing twice. Every object looked at is a row of --report."""

EXAMPLES = """\
  s3bundler prune s3://work/s3grouper-output/x-manifest.job.json            # dry run
  s3bundler prune s3://work/s3grouper-output/x-manifest.job.json --yes      # delete
  s3bundler prune s3://work/s3grouper-output/x-manifest.job.json --yes \\
      --catalog s3://my-archive-bucket/archives --only keys.csv --report pruned.csv
  # keys.csv: bucket,key[,version_id] rows; the only way to prune an incomplete job

  exit 0: done (kept objects are in the report, with why); exit 1: refused, the job is not
  complete (see the reconcile CSV) and no --only was given; nothing deleted"""


def _batch_size(text: str) -> int:
    value = positive_int(text)
    if value > MAX_BATCH:
        raise argparse.ArgumentTypeError(f"DeleteObjects takes at most {MAX_BATCH} objects")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = parser("prune", DESCRIPTION, EXAMPLES)
    p.add_argument(
        "job",
        type=s3_uri_arg,
        metavar="JOB_SUMMARY_URI",
        help="the job summary s3grouper wrote (s3://.../<name>.job.json)",
    )
    p.add_argument(
        "--catalog",
        type=job_outputs.catalog_root_arg,
        metavar="s3://ARCHIVE_BUCKET/PREFIX",
        help="where the archives, the catalog and the prune logs are (default: as "
        "the completion reports say)",
    )
    p.add_argument(
        "--yes", action="store_true", help="delete (without it: a dry run that deletes nothing)"
    )
    p.add_argument(
        "--only",
        metavar="FILE.csv",
        help="prune only these objects (bucket,key[,version_id] rows); needed when "
        "reconcile does not call the job complete",
    )
    p.add_argument(
        "--report",
        metavar="FILE.csv",
        help="every object looked at, what became of it and why (default: "
        "./<job name>.prune.csv; '-' for stdout, the counts then go to stderr)",
    )
    p.add_argument(
        "--reconcile-report",
        metavar="FILE.csv",
        help="reconcile's problem CSV (default: ./<job name>.reconcile.csv)",
    )
    _add_tuning(p)
    return p


def _add_tuning(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--batch-size",
        type=_batch_size,
        default=MAX_BATCH,
        metavar="N",
        help=f"objects per DeleteObjects and per log (default: {MAX_BATCH})",
    )
    p.add_argument(
        "--no-etag-condition",
        action="store_true",
        help="do not send the ETag condition with versionless deletes (for S3 "
        "implementations that refuse it; see docs/prune.md, 'The race')",
    )
    p.add_argument(
        "--concurrency",
        type=positive_int,
        default=16,
        metavar="N",
        help="parallel HEADs and reconcile reads (default: 16)",
    )
    p.add_argument(
        "--work-dir", metavar="DIR", help="local scratch for reconcile (default: $TMPDIR)"
    )
    p.add_argument(
        "--prices",
        metavar="FILE",
        help="prices merged over the shipped table, for the savings line (docs/costs.md)",
    )
    p.add_argument(
        "--expected-bucket-owner",
        metavar="ACCOUNT",
        help="every request carries this owner: S3 refuses it when another account owns the bucket",
    )
    p.add_argument(
        "--expected-source-owner",
        metavar="ACCOUNT",
        help="the owner of the source bucket, when not --expected-bucket-owner",
    )


def _only(path: str | None) -> Only | None:
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--only {path}: {exc.strerror or exc}") from None
    return Only(read_list(text, path))


@contextlib.contextmanager
def _report_file(path: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdout
        return
    try:
        out = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"--report {path}: cannot write: {exc.strerror}") from None
    with out:
        yield out


def run(args: argparse.Namespace) -> int:
    only = _only(args.only)
    if args.work_dir and not os.path.isdir(args.work_dir):
        raise UsageError(f"--work-dir {args.work_dir}: not a directory")
    session, s3 = clients(args, args.concurrency)
    prices = load_prices(args.region or session.region_name, args.prices)  # before any work
    owner = args.expected_bucket_owner or ""
    requests = RequestOptions(
        owned={args.job.bucket}, owner=owner, source_owner=args.expected_source_owner or owner
    )
    requests.install(s3)
    counter = RequestCounter()
    counter.attach(s3)
    job = job_outputs.load_job(s3, args.job)
    requests.owned.add(job.manifest_bucket)
    root = args.catalog or _root_from_reports(s3, job, args)
    requests.owned.add(root.bucket)
    counts_to = sys.stderr if args.report == "-" else sys.stdout
    gate = _reconcile(session, s3, args, job, root, counts_to)
    if not gate.complete and only is None:
        return int(ExitCode.CHECK_FAILED)
    settings = PruneSettings(
        root=root,
        delete=args.yes,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        conditional=not args.no_etag_condition,
    )
    path = args.report or f"{job.base_name}.prune.csv"
    tally = Tally()
    progress = Progress(enabled=not args.no_progress)
    with _report_file(path) as out:
        Prune(s3, settings, Report(out, tally), progress).run(job, gate, only)
    log = f"s3://{root.bucket}/{'/'.join(p for p in (root.key, 'prune', job.base_name) if p)}/"
    lines = summary_lines(tally, not args.yes, path, log, counter.line(), prices)
    print("\n".join(lines), file=counts_to, flush=True)
    return int(ExitCode.OK)


def _reconcile(
    session: object,
    s3: object,
    args: argparse.Namespace,
    job: JobSummary,
    root: S3Uri,
    counts_to: IO[str],
) -> Gate:
    """Reconcile the job; say whether prune may go on (and for which objects)."""
    options = ReconcileOptions(
        job=args.job, catalog=root, work_dir=args.work_dir, concurrency=args.concurrency
    )
    path = args.reconcile_report or f"{job.base_name}.reconcile.csv"
    gate = prune_gate.reconcile(session, s3, options, Progress(not args.no_progress), path)
    mode = "deleting (--yes)" if args.yes else "dry run: nothing is deleted (--yes deletes)"
    print(
        f"prune {args.job}: {mode}\n  {'reconcile':<14} {gate.lines[-1]}",
        file=counts_to,
        flush=True,
    )
    if gate.complete:
        return gate
    if args.only is None:
        print(
            "s3bundler prune: refused: reconcile does not call the job complete (see "
            f"{path}); nothing deleted; fix the job, or name the objects to prune with "
            "--only FILE.csv",
            file=sys.stderr,
        )
    else:
        print(
            f"s3bundler prune: warning: the job is incomplete (see {path}); acting only on "
            "the objects of --only, keeping every object, archive, copy and sub-manifest "
            "reconcile has a problem with",
            file=sys.stderr,
        )
    return gate


def _root_from_reports(s3: object, job: JobSummary, args: argparse.Namespace) -> S3Uri:
    manifests = job_outputs.job_manifests(job)
    root = job_outputs.archive_root(job_outputs.read_reports(s3, manifests, args.concurrency))
    if root is None:
        raise UsageError(
            f"{args.job}: no completion report names a catalog file or an "
            "archive; give --catalog s3://ARCHIVE_BUCKET/PREFIX"
        )
    return root
