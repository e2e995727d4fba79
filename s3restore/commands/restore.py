"""``s3bundler restore``: get objects back into S3 or to local files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from s3common.cli import positive_int
from s3common.errors import NotFound, UsageError
from s3common.request_options import RequestOptions, read_sse_c_key
from s3common.requests import RequestCounter
from s3common.s3uri import S3Uri, parse_s3_uri, s3_uri_arg
from s3restore.catalog_search import Catalog
from s3restore.commands import clients, parser
from s3restore.locate import Found, Wanted, locate, locate_under, read_list
from s3restore.restore import RestoreOptions, restore
from s3restore.targets import FileDestination, S3Destination

EXAMPLES = """\
  s3bundler restore s3://photos/2024/a.jpg --catalog s3://arch/archives --to s3://scratch/back/
  s3bundler restore s3://photos/2024/a.jpg --catalog s3://arch/archives -o a.jpg
  s3bundler restore s3://photos/2024/a.jpg --catalog s3://arch/archives -o - | file -
  s3bundler restore s3://photos/2024/a.jpg --catalog s3://arch/archives --in-place
  s3bundler restore --from-list wanted.csv --catalog s3://arch/archives -o ./restored
  s3bundler restore --prefix s3://photos/2024/ --catalog s3://arch/archives --to s3://scratch/
  s3bundler restore --from-list wanted.csv --catalog s3://arch/archives --to s3://b/p/ \\
      --tier Bulk --days 3 --wait          # archives in GLACIER/DEEP_ARCHIVE"""


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "restore",
        "Get archived objects back -- into S3 with their metadata, content type, headers and "
        "tags, or to local files -- reading only the bytes needed and verifying every object "
        "(MD5, CRC32C) before it is written. From a .tar into S3 the copy is server-side.",
        EXAMPLES,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("object", nargs="?", type=s3_uri_arg, metavar="s3://SRC_BUCKET/KEY")
    what.add_argument("--from-list", metavar="FILE", help="CSV of bucket,key[,version_id] rows")
    what.add_argument(
        "--prefix", type=_prefix_arg, metavar="s3://SRC_BUCKET/PREFIX",
        help="every key under PREFIX the catalog knows (its latest archived copy)",
    )  # fmt: skip
    p.add_argument("--version-id", help="with one object: this version")
    p.add_argument("--catalog", required=True, metavar="s3://ARCHIVE_BUCKET/PREFIX")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", metavar="s3://DEST/PREFIX/", help="restore to PREFIX + key")
    where.add_argument("--in-place", action="store_true", help="restore to the original key")
    where.add_argument("-o", "--output", metavar="FILE|DIR|-", help="local file (or DIR, or -)")
    p.add_argument("--overwrite", action="store_true", help="replace what exists")
    p.add_argument(
        "--client-side",
        action="store_true",
        help="from a .tar into S3: read and PUT instead of a server-side copy",
    )
    p.add_argument(
        "--tier",
        default="Standard",
        choices=["Expedited", "Standard", "Bulk"],
        help="S3 restore tier for archives in GLACIER/DEEP_ARCHIVE (default: Standard)",
    )
    p.add_argument("--days", type=positive_int, default=7,
                   help="days a restored archive stays readable")  # fmt: skip
    p.add_argument("--wait", action="store_true", help="wait for cold archives, then restore")
    p.add_argument("--poll", type=float, default=60.0, metavar="SECONDS", help="with --wait")
    p.add_argument("--concurrency", type=positive_int, default=16, metavar="N")
    p.add_argument(
        "--expected-bucket-owner",
        metavar="ACCOUNT",
        help="every request (archive and target buckets) carries this owner",
    )
    p.add_argument("--sse-kms-key-id", metavar="KEY", help="encrypt restored objects with KMS")
    p.add_argument(
        "--sse-c-key-file",
        metavar="FILE",
        help="encrypt restored objects with this SSE-C key (the key they had); never logged",
    )
    return p


def run(args: argparse.Namespace) -> int:
    session, s3 = clients(args, args.concurrency)
    counter = RequestCounter()
    counter.attach(s3)
    catalog = Catalog(session, s3, parse_s3_uri(args.catalog, require_key=False))
    listed = _listed(args)  # None: --prefix, which the catalog lists
    sources = {args.prefix.bucket} if listed is None else {w.bucket for w in listed}
    _request_options(args, sources).install(s3)
    located = _under_prefix(args.prefix, catalog) if listed is None else locate(catalog, listed)
    wanted = list(located)
    options = RestoreOptions(
        dest=_destination(args, s3, many=len(wanted) > 1 or args.object is None),
        client_side=args.client_side,
        days=args.days,
        tier=args.tier,
        wait=args.wait,
        poll_seconds=args.poll,
        concurrency=args.concurrency,
    )
    with tqdm(total=len(wanted), unit="obj", disable=args.no_progress or len(wanted) < 2,
              file=sys.stderr) as bar:  # fmt: skip
        result = restore(s3, located, options, bar.update)
    for item, exc in result.failures[:50]:
        print(f"s3bundler restore: {item}: {exc}", file=sys.stderr)
    if len(result.failures) > 50:
        print(f"s3bundler restore: ... and {len(result.failures) - 50} more", file=sys.stderr)
    how = ", ".join(f"{n} by {k}" for k, n in sorted(result.verified.items())) or "-"
    print(
        f"restored {result.restored} of {len(wanted)} objects ({result.bytes} bytes; verified "
        f"{how}); requests: {counter.line()}",
        file=sys.stderr,
    )
    return result.exit_code


def _prefix_arg(text: str) -> S3Uri:
    try:
        return parse_s3_uri(text, require_key=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _under_prefix(where: S3Uri, catalog: Catalog) -> dict[Wanted, list[Found]]:
    located = locate_under(catalog, where.bucket, where.key)
    if not located:
        raise NotFound(f"{where}: no key under this prefix in the catalog {catalog.root}")
    return located


def _listed(args: argparse.Namespace) -> list[Wanted] | None:
    """The objects named on the command line or in --from-list; None for --prefix."""
    if args.prefix is not None:
        if args.version_id:
            raise UsageError("--version-id goes with one object, not --prefix")
        return None
    if args.from_list:
        if args.version_id:
            raise UsageError("--version-id goes with one object, not --from-list")
        try:
            text = Path(args.from_list).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{args.from_list}: {exc.strerror or exc}") from None
        return read_list(text, args.from_list)
    return [Wanted(args.object.bucket, args.object.key, args.version_id)]


def _destination(
    args: argparse.Namespace, s3: object, many: bool
) -> S3Destination | FileDestination:
    if args.output:
        into_directory = many or Path(args.output).is_dir()
        return FileDestination(args.output, into_directory, args.overwrite)
    if args.in_place:
        return S3Destination(s3, None, args.overwrite)
    prefix = parse_s3_uri(args.to, require_key=False)
    return S3Destination(s3, prefix, args.overwrite)


def _request_options(args: argparse.Namespace, sources: set[str]) -> RequestOptions:
    """Owner and encryption for every request: the catalog's and the targets' buckets are
    the user's; restored objects are written with the SSE-C key or KMS key given."""
    archive = parse_s3_uri(args.catalog, require_key=False).bucket
    if args.to:
        targets = {parse_s3_uri(args.to, require_key=False).bucket}
    elif args.in_place:
        targets = set(sources)
    else:
        targets = set()
    key = read_sse_c_key(args.sse_c_key_file) if args.sse_c_key_file else None
    if key is not None and archive in targets:
        raise UsageError(
            f"--sse-c-key-file: the target bucket {archive} holds the archives, which are not "
            "SSE-C encrypted; restore into another bucket"
        )
    owner = args.expected_bucket_owner or ""
    return RequestOptions(
        owned={archive, *targets},
        owner=owner,
        source_owner=owner,
        kms_key_id=args.sse_kms_key_id or "",
        sse_c_key=key,
        sse_c_buckets=targets,
    )
