"""``s3bundler catalog rebuild``: write the catalog of archives bundled before the bundler
wrote one (docs/reconcile.md)."""

from __future__ import annotations

import argparse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from s3common.cli import positive_int
from s3common.errors import ExitCode
from s3common.s3uri import S3Uri, parse_s3_uri
from s3restore.commands import clients, parser
from s3restore.rebuild import (
    DIFFERS,
    FAILED,
    RebuildOptions,
    finished_manifests,
    rebuild_one,
)
from s3restore.reconcile_report import Progress

DESCRIPTION = """\
Catalog maintenance. 'rebuild' writes the catalog files of sub-manifests that were bundled
before the bundler wrote a catalog: for every finished sub-manifest (one with a completion
report) under the prefix, or of the job, each row is found in the archive's index, the DLQ
index or a big object's .metadata, and the file is written exactly as the bundler writes it
(<archive-prefix>/catalog/bucket=<bucket>/<manifest-name>.parquet). A file that already holds
the same rows is left alone; one with other rows is reported and replaced only with --force."""

EXAMPLES = """\
  s3bundler catalog rebuild s3://work/s3grouper-output/ --archive-bucket my-archive-bucket
  s3bundler catalog rebuild s3://work/s3grouper-output/x-manifest.job.json \\
      --archive-bucket my-archive-bucket --archive-prefix archives --dry-run

  exit 0: every catalog file written or already up to date; exit 1: a sub-manifest whose
  outputs do not say where every row went, or an existing file with other rows"""


def _source(text: str) -> S3Uri:
    try:
        return parse_s3_uri(text, require_key=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    p = parser("catalog", DESCRIPTION, EXAMPLES)
    p.add_argument("action", choices=("rebuild",), help="what to do (rebuild)")
    p.add_argument(
        "source", type=_source, metavar="s3://MANIFEST_BUCKET/PREFIX/ | JOB_SUMMARY_URI",
        help="the sub-manifests: every one with a completion report under this prefix, or "
        "those of one job summary (…/<name>.job.json)",
    )  # fmt: skip
    p.add_argument("--archive-bucket", required=True, help="the bucket the archives are in")
    p.add_argument("--archive-prefix", default="archives",
                   help="the archives' key prefix, as given to the bundler (-p; default: "
                   "archives)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="say what would be written, write "
                   "nothing")  # fmt: skip
    p.add_argument("--force", action="store_true",
                   help="replace catalog files that exist with other rows")  # fmt: skip
    p.add_argument("--concurrency", type=positive_int, default=4,
                   help="sub-manifests rebuilt at a time (default: 4)")  # fmt: skip
    return p


def run(args: argparse.Namespace) -> int:
    _session, s3 = clients(args, args.concurrency * 2)
    options = RebuildOptions(
        archive_bucket=args.archive_bucket,
        archive_prefix=args.archive_prefix.strip("/"),
        dry_run=args.dry_run,
        force=args.force,
    )
    manifests = finished_manifests(s3, args.source)
    progress = Progress(enabled=not args.no_progress)
    actions: Counter[str] = Counter()
    with ThreadPoolExecutor(args.concurrency, thread_name_prefix="rebuild") as pool:
        results = pool.map(lambda m: rebuild_one(s3, m, options), manifests)
        for n, result in enumerate(results, 1):
            for line in result.lines():
                print(line, flush=True)
            actions.update(result.files.values() if not result.problem else [FAILED])
            progress.update(f"catalog rebuild: {n}/{len(manifests)} sub-manifests")
    progress.done(f"catalog rebuild: {len(manifests)} sub-manifests")
    done = ", ".join(f"{n} {a}" for a, n in sorted(actions.items())) or "nothing to do"
    dry = " (dry run)" if args.dry_run else ""
    print(f"catalog rebuild{dry}: {len(manifests)} sub-manifests: {done}", flush=True)
    return int(ExitCode.CHECK_FAILED if actions[FAILED] or actions[DIFFERS] else ExitCode.OK)
