"""``s3bundler``: bundle the objects of a sub-manifest into a tar archive with an index."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from s3bundler.archiver import BundlerConfig
from s3bundler.codecs import CODECS
from s3bundler.fetched import GET_CLIENTS
from s3bundler.fetchers import make_fetcher
from s3bundler.outage import DEFAULT_LIMIT
from s3bundler.tag_reads import TAG_MODES, TagReads
from s3bundler.worker import QueueOptions, StopSignal, Worker, process_one
from s3common.aws import make_client, make_session
from s3common.cli import Parser, configure_logging, run
from s3common.costs import manifest_cost_lines, prices_for
from s3common.memory import configure_heap
from s3common.metrics import Metrics
from s3common.request_options import STORAGE_CLASSES, RequestOptions, read_sse_c_key
from s3common.requests import RequestCounter
from s3common.s3uri import s3_uri_arg
from s3common.sizes import parse_size, size_arg
from s3common.submanifest import LEGACY_FIELDS

DEFAULT_MAXSIZE = "2GB"


EPILOG = """\
commands (s3bundler COMMAND --help):
{commands}

examples:
  s3bundler -q s3bundler-manifests -b my-archive-bucket            # serve a queue (ECS service)
  s3bundler -m s3://work/s3grouper-output/x-manifest.0.index -b my-archive-bucket -c

outputs: <prefix>/<hash6>/<bucket>/<manifest>.tar[.gz|.zst] and .index in the archive bucket; big
objects under <prefix>/<hash6>/<bucket>/bigobjects/; failures in s3://<manifest>.dlq.
exit codes: 0 ok, 2 usage, 3 unreadable manifest, 4 upload failed, 5 download failed,
7 other AWS error, 143 stopped by signal.
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="s3bundler",
        usage=(
            "s3bundler (-q QUEUE | -m s3://BUCKET/KEY) -b BUCKET [options]\n"
            "       s3bundler COMMAND [options]   (ls, find, restore, extract, verify, catalog, "
            "reconcile, prune)"
        ),
        description=(
            "The worker: bundle the objects listed in a sub-manifest into one tar archive\n"
            "(streamed into a multipart upload) plus an index and a catalog file, copy objects\n"
            "above --maxsize server-side, and list every object that could not be archived in a\n"
            "DLQ index. Takes manifests from an SQS queue (-q) or one manifest (-m)."
        ),
        epilog=EPILOG.format(commands=_command_lines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_source_and_output(p)
    _add_storage(p)
    _add_tuning(p)
    _add_queue(p)
    p.add_argument(
        "--no-metrics", action="store_true", help="do not publish CloudWatch metrics (S3Bundler)"
    )
    _add_costs(p)
    p.add_argument("-r", "--region", help="AWS region (default: from the environment)")
    p.add_argument("--profile", help="AWS profile (default: from the environment)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.add_argument("-d", "--debug", action="store_true", help="log everything, incl. botocore")
    return p


#: The commands of ``s3bundler COMMAND`` (package s3restore) and one line of help each.
COMMANDS = {
    "ls": "list an archive's members from its index, without reading the archive",
    "find": "say where an object went: archive and offsets, copy, or DLQ reason",
    "restore": "get objects back into S3 or to local files, reading only the bytes needed",
    "extract": "extract a whole archive (or a prefix of it) into S3 or a local directory",
    "verify": "read an archive once and check every member against its index",
    "catalog": "catalog maintenance: rebuild the catalog of archives written before it",
    "reconcile": "account for every object a job selected: archived, copied, or in a DLQ",
    "prune": "delete source objects the catalog proves archived (dry run unless --yes)",
}


def _command_lines() -> str:
    width = max(len(n) for n in COMMANDS)
    return "\n".join(f"  s3bundler {n:<{width}}  {h}" for n, h in COMMANDS.items())


def _add_source_and_output(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-q", "--queue", metavar="QUEUE", help="SQS queue name or URL to serve")
    src.add_argument(
        "-m",
        "--manifest",
        metavar="s3://BUCKET/KEY",
        type=s3_uri_arg,
        help="process this one sub-manifest and exit",
    )
    p.add_argument("-b", "--bucket", required=True, help="S3 bucket to write archives to")
    p.add_argument(
        "-p", "--prefix", default="archives", help="key prefix for archives (default: archives)"
    )
    p.add_argument(
        "-f",
        "--fieldnames",
        metavar="F",
        nargs="+",
        default=list(LEGACY_FIELDS),
        help="column names of headerless original-format manifests (default: Bucket Key Size)",
    )
    p.add_argument(
        "-s",
        "--maxsize",
        metavar="SIZE",
        type=size_arg,
        default=parse_size(DEFAULT_MAXSIZE),
        help="objects larger than this are copied server-side, not archived (default: 2GB)",
    )
    p.add_argument(
        "-c",
        "--compress",
        nargs="?",
        const="gzip",
        default="",
        choices=sorted(CODECS),
        metavar="CODEC",
        help="compress the archive: gzip (.tar.gz; what -c alone means) or zstd (.tar.zst, "
        "seekable); either way one ranged GET restores one object",
    )
    p.add_argument(
        "--compress-level",
        type=int,
        default=1,
        choices=range(1, 20),
        metavar="LEVEL",
        help="gzip 1-9, zstd 1-19 (default: 1; gzip 6 costs ~3x the CPU of 1 for ~1%% smaller "
        "archives, zstd 3 1.5-5x for ~10%% smaller archives of text)",
    )
    p.add_argument(
        "--compress-threads",
        type=int,
        default=0,
        metavar="N",
        help="threads compressing the archive's frames (default: the CPUs, at most 4)",
    )


def _add_storage(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--storage-class",
        choices=STORAGE_CLASSES,
        help="storage class of archives and big-object copies (index, DLQ index, catalog and "
        "reports stay STANDARD; default: the bucket's, STANDARD)",
    )
    p.add_argument(
        "--sse-kms-key-id",
        metavar="KEY",
        help="encrypt everything written with this KMS key (SSE-KMS, bucket key on)",
    )
    p.add_argument(
        "--expected-bucket-owner",
        metavar="ACCOUNT",
        help="every request to the archive and manifest buckets carries this owner: S3 refuses "
        "it when another account owns the bucket",
    )
    p.add_argument(
        "--expected-source-owner", metavar="ACCOUNT", help="the same, for the source buckets"
    )
    p.add_argument(
        "--sse-c-key-file",
        metavar="FILE",
        help="read source objects written with SSE-C with this 256-bit key (32 bytes, raw "
        "or base64); never logged",
    )


def _add_tuning(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--concurrency",
        type=int,
        default=32,
        metavar="N",
        help="concurrent downloads (default: 32)",
    )
    p.add_argument(
        "--get-client",
        choices=GET_CLIENTS,
        default="crt",
        help="client for GETs of objects under 1 MiB: crt = awscrt's native S3 client (~1/4 "
        "of the CPU per object), boto3 = botocore on a thread pool; larger objects are always "
        "read with boto3 (default: crt)",
    )
    p.add_argument(
        "--tags",
        choices=TAG_MODES,
        default="auto",
        help="when archived objects' tags are read: auto = when the GET announces some "
        "(x-amz-tagging-count), checked on each bucket's first objects; always = one tagging "
        "GET per object; never = not at all, flagged tags-not-read (default: auto)",
    )
    p.add_argument(
        "--buffer",
        type=size_arg,
        default=parse_size("64MiB"),
        metavar="SIZE",
        help="memory for downloaded objects waiting to be written (default: 64MiB)",
    )


def _add_costs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--report",
        action="store_true",
        help="print each finished manifest's S3 requests by operation and their cost at list "
        "prices on stdout (they are in its completion report either way)",
    )
    p.add_argument(
        "--prices",
        metavar="FILE",
        help="price table overrides (docs/costs.md; default: the shipped table, the client's "
        "region)",
    )


def _add_queue(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--outage-limit",
        type=float,
        default=DEFAULT_LIMIT,
        metavar="SECONDS",
        help="while S3 does not answer, keep the manifest (and its message) and retry for this "
        f"long before giving up with exit 5 (default: {DEFAULT_LIMIT:.0f})",
    )
    p.add_argument(
        "--max-messages",
        type=int,
        default=0,
        metavar="N",
        help="with -q: exit after handling N messages (default: no limit)",
    )
    p.add_argument(
        "--idle-exit",
        type=float,
        default=0,
        metavar="SECONDS",
        help="with -q: exit when the queue stays empty this long (default: never)",
    )
    p.add_argument(
        "--visibility-timeout",
        type=int,
        default=0,
        metavar="SECONDS",
        help="with -q: visibility the heartbeat keeps extending (default: the queue's)",
    )


def config_from_args(args: argparse.Namespace) -> BundlerConfig:
    return BundlerConfig(
        archive_bucket=args.bucket,
        archive_prefix=args.prefix.strip("/"),
        maxsize=args.maxsize,
        compress=args.compress,
        compress_level=args.compress_level,
        compress_threads=args.compress_threads,
        concurrency=args.concurrency,
        buffer_bytes=args.buffer,
        stream_threshold=min(8 << 20, max(1 << 20, args.buffer // 4)),
        legacy_fields=tuple(args.fieldnames),
        storage_class=args.storage_class or "",
        tag_reads=TagReads(args.tags),
    )


def request_options_from_args(args: argparse.Namespace) -> RequestOptions:
    """Owner, encryption and SSE-C settings every request carries (s3common/request_options)."""
    owned = {args.bucket} | ({args.manifest.bucket} if args.manifest is not None else set())
    return RequestOptions(
        owned=owned,
        owner=args.expected_bucket_owner or "",
        source_owner=args.expected_source_owner or "",
        kms_key_id=args.sse_kms_key_id or "",
        sse_c_key=read_sse_c_key(args.sse_c_key_file) if args.sse_c_key_file else None,
    )


def _report_printer(args: argparse.Namespace, region: str | None) -> Callable[[Any], None]:
    """``--report``: each finished manifest's requests and their cost, on stdout."""
    prices = prices_for(region, args.prices)

    def show(result: Any) -> None:
        lines = manifest_cost_lines(prices, result.manifest, result.requests, result.storage_class)
        print("\n".join(lines), flush=True)

    return show


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        from s3restore.commands import main as command_main  # the get-back side

        return command_main(argv[0], argv[1:])
    return run("s3bundler", lambda: _serve(parse_args(argv)))


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The worker's arguments, checked (a UsageError names the bad one)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.compress and args.compress_level not in CODECS[args.compress].levels:
        levels = CODECS[args.compress].levels
        parser.error(f"--compress-level of {args.compress}: {levels[0]}-{levels[-1]}")
    if args.compress_threads < 0:
        parser.error("--compress-threads must be 0 (the default) or more")
    return args


def _serve(args: argparse.Namespace) -> int:
    """Process one manifest (-m) or serve the queue (-q) until told to stop."""
    configure_logging(args.verbose, args.debug)
    configure_heap()
    stop = StopSignal().install()
    session = make_session(args.region, args.profile)
    config = config_from_args(args)
    requests = request_options_from_args(args)
    s3 = requests.install(make_client(session, "s3", max_pool_connections=args.concurrency + 16))
    counter = RequestCounter()
    counter.attach(s3)
    on_done = _report_printer(args, s3.meta.region_name) if args.report else None
    metrics = Metrics(None if args.no_metrics else make_client(session, "cloudwatch"))
    fetcher = make_fetcher(
        args.get_client, s3, session, args.concurrency, requests, counter, config.tag_reads
    )
    try:
        if args.manifest is not None:
            return process_one(
                s3, config, args.manifest, stop.event, metrics, fetcher, args.outage_limit,
                requests, counter, on_done,
            )  # fmt: skip
        sqs = make_client(session, "sqs")
        options = QueueOptions(
            queue=args.queue,
            max_messages=args.max_messages,
            idle_exit=args.idle_exit,
            visibility_timeout=args.visibility_timeout,
            outage_limit=args.outage_limit,
        )
        worker = Worker(
            s3, sqs, config, options, stop.event, metrics, fetcher, requests, counter, on_done
        )
        return worker.run()
    finally:
        fetcher.close()


if __name__ == "__main__":
    sys.exit(main())
