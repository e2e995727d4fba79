"""``s3grouper``: command line -> GrouperOptions (+ the AWS clients it needs) -> run_grouper."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from s3common.aws import make_client, make_session
from s3common.cli import Parser, configure_logging, positive_int, run
from s3common.errors import UsageError
from s3common.s3uri import s3_uri_arg
from s3common.sizes import size_arg
from s3grouper.filters import FilterOptions, parse_when
from s3grouper.grouper import (
    DEFAULT_NAME,
    DEFAULT_PREFIX,
    S3_CONNECTIONS,
    GrouperClients,
    GrouperOptions,
    run_grouper,
)
from s3grouper.grouping import DEFAULT_COUNT_THRESHOLD, DEFAULT_SIZE_THRESHOLD, Thresholds
from s3grouper.plan_cli import add_plan_args, run_plan
from s3grouper.shards import Shard

PROG = "s3grouper"

DESCRIPTION = """\
Read an S3 Inventory report (CSV, ORC or Parquet) and write sub-manifests of at most
--size-threshold bytes and --count-threshold objects for s3bundler, plus a job summary.
"""

EPILOG = """\
examples:
  s3grouper -m s3://inv/src/cfg/2024-01-31T00-00Z/manifest.json -b work-bucket
  s3grouper -m s3://inv/.../manifest.json -b work-bucket -s 1GiB -c 10000 -i logs/ --exclude '*.tmp'
  s3grouper -m s3://inv/.../manifest.json -b work-bucket -g          # archived objects only
  s3grouper -m s3://inv/.../manifest.json -b work-bucket --queue s3bundler-queue
  s3grouper -m s3://inv/.../manifest.json --plan --archive-class DEEP_ARCHIVE  # costs, no writes
  s3grouper -m s3://inv/.../manifest.json -b work-bucket --shard 0/4   # run 0/4 .. 3/4

exit codes: 0 ok, 2 usage/bad input, 3 unreadable inventory, 4 upload failed,
5 download failed, 7 other AWS error. See docs/s3grouper.md.
"""


def _positive_size(text: str) -> int:
    value = size_arg(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte: {text!r}")
    return value


def _when(text: str) -> object:
    try:
        return parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shard(text: str) -> Shard | None:
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _name(text: str) -> str:
    if not text or "/" in text:
        raise argparse.ArgumentTypeError(f"must be non-empty and without '/': {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_io_args(p.add_argument_group("input and output"))
    _add_grouping_args(p.add_argument_group("grouping"))
    _add_filter_args(p.add_argument_group("filters (all optional, combined with AND)"))
    _add_env_args(p.add_argument_group("AWS and logging"))
    add_plan_args(p)
    return p


def _add_io_args(io: argparse._ArgumentGroup) -> None:
    io.add_argument(
        "-m", "--manifest", required=True, type=s3_uri_arg, metavar="S3URI",
        help="the inventory report's manifest.json (s3://bucket/.../manifest.json)",
    )  # fmt: skip
    io.add_argument("-b", "--bucket", help="bucket to write sub-manifests to (required)")
    io.add_argument(
        "-p", "--prefix", default=DEFAULT_PREFIX,
        help=f"key prefix of the sub-manifests (default: {DEFAULT_PREFIX})",
    )  # fmt: skip
    io.add_argument(
        "-k", "--key", default=DEFAULT_NAME, type=_name, metavar="NAME",
        help=f"name part of the sub-manifest keys (default: {DEFAULT_NAME}; "
        "'-glacier' is appended with -g)",
    )  # fmt: skip
    io.add_argument("--force", action="store_true", help="rewrite existing sub-manifests")
    io.add_argument(
        "--shard", type=_shard, metavar="I/S",
        help="group only shard I (from 0) of S: a fixed share of the data files; the last of "
        "the S runs to finish writes the job summary (default: 0/1, the whole inventory)",
    )  # fmt: skip
    io.add_argument(
        "--queue", metavar="NAME_OR_URL",
        help="also send each new sub-manifest's location to this SQS queue (default: rely on "
        "the bucket's S3 event notification)",
    )  # fmt: skip


def _add_grouping_args(grp: argparse._ArgumentGroup) -> None:
    grp.add_argument(
        "-s", "--size-threshold", type=_positive_size, default=DEFAULT_SIZE_THRESHOLD,
        metavar="SIZE", help="max bytes per sub-manifest, e.g. 512MB, 4GiB (default: 4GiB)",
    )  # fmt: skip
    grp.add_argument(
        "-c", "--count-threshold", type=positive_int, default=DEFAULT_COUNT_THRESHOLD,
        metavar="N", help=f"max objects per sub-manifest (default: {DEFAULT_COUNT_THRESHOLD})",
    )  # fmt: skip


def _add_filter_args(flt: argparse._ArgumentGroup) -> None:
    flt.add_argument(
        "-i", "--include", action="append", default=[], metavar="PREFIX",
        help="only keys starting with PREFIX (repeatable: any of them)",
    )  # fmt: skip
    flt.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB",
        help="leave out keys matching GLOB (fnmatch, '*' crosses '/'; repeatable)",
    )  # fmt: skip
    flt.add_argument(
        "--exclude-from", action="append", default=[], metavar="FILE",
        help="read --exclude patterns from FILE, one per line ('#' comments, blank lines ignored)",
    )  # fmt: skip
    flt.add_argument(
        "-g", "--glacier", action="store_true",
        help="only archived objects (GLACIER, DEEP_ARCHIVE, INTELLIGENT_TIERING in an archive "
        "tier); without -g those are left out",
    )  # fmt: skip
    flt.add_argument(
        "--storage-class", action="append", default=[], metavar="A,B",
        help="only these storage classes (comma-separated, repeatable)",
    )  # fmt: skip
    flt.add_argument("--min-size", type=size_arg, metavar="SIZE", help="only objects >= SIZE")
    flt.add_argument("--max-size", type=size_arg, metavar="SIZE", help="only objects <= SIZE")
    flt.add_argument(
        "--modified-since", type=_when, metavar="WHEN",
        help="only objects last modified at or after WHEN (ISO date/datetime, UTC by default)",
    )  # fmt: skip
    flt.add_argument(
        "--modified-before", type=_when, metavar="WHEN",
        help="only objects last modified before WHEN",
    )  # fmt: skip
    flt.add_argument(
        "--all-versions", action="store_true",
        help="versioned inventories: every version, not only the latest (delete markers are "
        "always skipped)",
    )  # fmt: skip
    flt.add_argument(
        "--keep-folders", action="store_true",
        help="keep zero-byte keys ending in '/' (skipped by default)",
    )  # fmt: skip


def _add_env_args(env: argparse._ArgumentGroup) -> None:
    env.add_argument(
        "--no-metrics", action="store_true",
        help="do not publish CloudWatch metrics (namespace S3Bundler)",
    )  # fmt: skip
    env.add_argument("-r", "--region", help="AWS region (default: the boto3 chain)")
    env.add_argument("--profile", help="AWS profile (default: the boto3 chain)")
    env.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    env.add_argument("-d", "--debug", action="store_true", help="log everything (DEBUG)")


def read_patterns(path: str) -> list[str]:
    """Exclude patterns from a file: one per line, blank lines and '#' comments ignored."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read exclude patterns: {exc}") from None
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def options_from_args(args: argparse.Namespace) -> GrouperOptions:
    exclude = list(args.exclude)
    for path in args.exclude_from:
        exclude.extend(read_patterns(path))
    classes = [c.strip().upper() for arg in args.storage_class for c in arg.split(",")]
    if args.storage_class and not any(classes):
        raise UsageError("--storage-class: no storage class given")
    if args.min_size is not None and args.max_size is not None and args.min_size > args.max_size:
        raise UsageError("--min-size is larger than --max-size")
    since, before = args.modified_since, args.modified_before
    if since is not None and before is not None and since >= before:
        raise UsageError("--modified-since is not before --modified-before")
    filters = FilterOptions(
        include=tuple(args.include),
        exclude=tuple(exclude),
        glacier=args.glacier,
        storage_classes=tuple(c for c in classes if c),
        min_size=args.min_size,
        max_size=args.max_size,
        modified_since=since,
        modified_before=before,
        all_versions=args.all_versions,
        keep_folders=args.keep_folders,
    )
    if not args.bucket and not args.plan:
        raise UsageError("the following arguments are required: -b/--bucket (see --help)")
    return GrouperOptions(
        manifest=args.manifest,
        bucket=args.bucket or "",
        prefix=args.prefix,
        name=args.key,
        thresholds=Thresholds(size=args.size_threshold, count=args.count_threshold),
        filters=filters,
        force=args.force,
        queue=args.queue,
        region=args.region,
        profile=args.profile,
        progress=sys.stderr.isatty(),
        metrics=not args.no_metrics,
        shard=args.shard,
    )


def make_clients(options: GrouperOptions) -> GrouperClients:
    """The clients a run with these options needs, from its --region/--profile."""
    session = make_session(options.region, options.profile)
    return GrouperClients(
        s3=make_client(session, "s3", max_pool_connections=S3_CONNECTIONS),
        sqs=make_client(session, "sqs") if options.queue else None,
        cloudwatch=make_client(session, "cloudwatch") if options.metrics else None,
    )


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose, debug=args.debug)
    options = options_from_args(args)
    if args.plan:
        return run_plan(args, options)
    result = run_grouper(options, make_clients(options))
    print(result.line(), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point."""
    return run(PROG, lambda: _main(argv))


if __name__ == "__main__":
    sys.exit(main())
