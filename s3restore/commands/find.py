"""``s3bundler find s3://SRC_BUCKET/KEY --catalog s3://ARCHIVE_BUCKET/PREFIX``."""

from __future__ import annotations

import argparse
import logging
import time

from s3common.errors import NotFound
from s3common.s3uri import parse_s3_uri, s3_uri_arg
from s3restore.catalog_search import Catalog
from s3restore.commands import clients, parser
from s3restore.locate import Wanted, locate

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "find",
        "Say where an object went -- the archive and its byte range, the copy, or the DLQ "
        "reason -- from the catalog, reading only the catalog files and row groups that can "
        "hold the key.",
        "  s3bundler find s3://photos/2024/01/a.jpg --catalog s3://my-archive/archives\n"
        "  s3bundler find s3://photos/a.jpg --version-id 3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY "
        "--catalog s3://my-archive/archives --json",
    )
    p.add_argument("object", type=s3_uri_arg, metavar="s3://SRC_BUCKET/KEY")
    p.add_argument("--version-id", help="only this version (default: every version found)")
    p.add_argument(
        "--catalog",
        required=True,
        metavar="s3://ARCHIVE_BUCKET/PREFIX",
        help="where the catalog is: the archive bucket and archive prefix (-p of the workers)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per place, all columns")
    p.add_argument("--concurrency", type=int, default=16, help="catalog files read at once")
    return p


def run(args: argparse.Namespace) -> int:
    root = parse_s3_uri(args.catalog, require_key=False)
    session, s3 = clients(args, args.concurrency)
    catalog = Catalog(session, s3, root, args.concurrency)
    wanted = Wanted(args.object.bucket, args.object.key, args.version_id)
    started = time.monotonic()
    found = locate(catalog, [wanted])[wanted]
    stats = catalog.stats
    log.info(
        "read %d catalog files' footers and %d row groups (%d bytes) in %.2fs",
        stats.files,
        stats.row_groups_read,
        stats.bytes_read,
        time.monotonic() - started,
    )
    if not found:
        raise NotFound(f"{wanted}: not in the catalog under {args.catalog}")
    for place in found:
        print(place.json() if args.json else place.describe())
    return 0
