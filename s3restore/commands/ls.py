"""``s3bundler ls``: an archive's members, from its index alone (docs/restore.md, "ls")."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import BinaryIO

from s3bundler.index import IndexRow
from s3restore.archives import archive_ref_arg, load_index
from s3restore.commands import clients, parser
from s3restore.text import quote_key

EXAMPLES = """\
  s3bundler ls s3://arch/archives/1a2b3c/photos/inv-manifest.0.tar
  s3bundler ls s3://arch/archives/1a2b3c/photos/inv-manifest.0.index --prefix 2024/ -l
  s3bundler ls s3://arch/.../inv-manifest.0.tar.gz -0 | xargs -0 -n1 echo

output: one key per line, as it is -- except a key holding a control character (newline,
tab, ...) or beginning with a double quote, which is printed as a JSON string ("a\\nb");
-0 prints every key as it is, each followed by a NUL byte instead.
-l: size, last_modified, version_id (- if none), member, offset, key; tab-separated."""


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "ls",
        "List the objects in an archive, in archive order, from its index (the archive itself\n"
        "is not read).",
        EXAMPLES,
    )
    p.add_argument(
        "archive",
        metavar="ARCHIVE_URI",
        type=archive_ref_arg,
        help="s3://BUCKET/KEY of the archive (.tar, .tar.gz, .tar.zst) or of its .index",
    )
    p.add_argument("--prefix", default="", metavar="P", help="only keys that start with P")
    p.add_argument(
        "-l",
        "--long",
        action="store_true",
        help="size, last_modified, version_id, member, offset, key (tab-separated)",
    )
    p.add_argument(
        "-0",
        "--null",
        action="store_true",
        help="end each entry with a NUL byte instead of a newline; keys as they are",
    )
    return p


def run(args: argparse.Namespace) -> int:
    _, s3 = clients(args, concurrency=1)
    rows = (r for r in load_index(s3, args.archive.index) if r.key.startswith(args.prefix))
    write_listing(sys.stdout.buffer, rows, long=args.long, null=args.null)
    return 0


def write_listing(
    out: BinaryIO, rows: Iterable[IndexRow], *, long: bool = False, null: bool = False
) -> None:
    """One entry per row (see EXAMPLES), UTF-8."""
    end = b"\0" if null else b"\n"
    for row in rows:
        key = row.key if null else quote_key(row.key)
        if long:
            fields = (row.size, row.last_modified, row.version_id or "-", row.member, row.offset)
            line = "\t".join(map(str, (*fields, key)))
        else:
            line = key
        out.write(line.encode("utf-8") + end)
    out.flush()
