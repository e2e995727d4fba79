"""``s3bundler extract``: a whole archive, or the objects under a key prefix, into S3 or a
directory (docs/restore.md, "extract")."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any

from s3common.aws import AWS_ERRORS, write_failed
from s3common.errors import NotFound, UsageError
from s3common.s3uri import S3Uri, parse_s3_uri
from s3restore.archives import archive_ref_arg, head_archive, load_index
from s3restore.commands import clients, parser
from s3restore.extract_run import Extraction, Outcome
from s3restore.extract_targets import DirTarget, Refused, S3Target, UnsafeName
from s3restore.member_reader import Member
from s3restore.progress import Progress

MAX_LINES = 100
EXAMPLES = """\
  s3bundler extract s3://arch/archives/1a2b3c/photos/inv-manifest.0.tar -o ./restored
  s3bundler extract s3://arch/.../inv-manifest.0.tar.zst --to s3://restore-bucket/back/ \\
      --prefix 2024/01/
  s3bundler extract s3://arch/.../inv-manifest.0.index --to s3://photos/ --overwrite

-o DIR: each object at DIR/<member name> (s3bundler ls -l shows it: <source-bucket>/<key>,
each key segment %-encoded), mtime = LastModified. --to s3://DEST/PREFIX: each object at
PREFIX + its exact key (PREFIX is used as given: end it with / for a folder), with the content
type, metadata, tags and headers it had. Every object is verified (size, MD5, CRC32C) before
it is written; a file appears under its name only once complete. Existing files/objects are
not replaced without --overwrite (with -o, nothing is extracted if any exists).
exit codes of extract: 0 all extracted; 2 an existing file/object not overwritten; 3 an
object whose archived bytes do not verify (not written), or an unsafe member name; 4 writing
failed; 5 the archive or index cannot be read; 6 no key starts with --prefix. When several
happen: the first of 5, 4, 3, 2."""


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "extract",
        "Extract a whole archive, or the objects whose key starts with a prefix, into S3 or\n"
        "a local directory, in parallel, every object verified before it is written.",
        EXAMPLES,
    )
    p.add_argument(
        "archive",
        metavar="ARCHIVE_URI",
        type=archive_ref_arg,
        help="s3://BUCKET/KEY of the archive (.tar, .tar.gz, .tar.zst) or of its .index",
    )
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--to", metavar="s3://DEST/PREFIX", type=_dest_arg, help="into S3")
    dest.add_argument("-o", "--output", metavar="DIR", help="into this directory")
    p.add_argument("--prefix", default="", metavar="P", help="only keys that start with P")
    p.add_argument(
        "--concurrency", type=int, default=16, metavar="N", help="parallel writes (default: 16)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing files or objects")
    return p


def _dest_arg(text: str) -> S3Uri:
    try:
        return parse_s3_uri(text, require_key=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    _, s3 = clients(args, args.concurrency)
    rows = load_index(s3, args.archive.index)
    selected = [r for r in rows if r.key.startswith(args.prefix)]
    if not selected:
        where = f" whose key starts with {args.prefix!r}" if args.prefix else ""
        raise NotFound(f"{args.archive.index}: no object{where}")
    head = head_archive(s3, args.archive, rows)
    members = [Member.from_index(r, head.uri) for r in selected]
    lines = _Lines(MAX_LINES)
    unsafe = 0
    if args.output is not None:
        target: DirTarget | S3Target = DirTarget(args.output, args.overwrite)
        members, unsafe = _check_dir(target, members, lines)
        target.create()
    else:
        target = S3Target(s3, args.to, args.overwrite)
        _check_bucket(s3, args.to)
    started = time.monotonic()
    total = sum(m.size for m in members)
    with Progress(not args.no_progress, total, "B", "extract") as bar:
        lines.bar = bar
        extraction = Extraction(s3, target, members, head.size, args.concurrency, bar.update, lines)
        outcome = extraction.run() if members else Outcome()
    if unsafe:
        outcome.failed += unsafe
        outcome.codes.add(UnsafeName.exit_code)
    lines.close()
    print(_summary(outcome, len(selected), head.uri, target, time.monotonic() - started))
    return outcome.exit_code


def _check_dir(target: DirTarget, members: list[Member], lines: _Lines) -> tuple[list[Member], int]:
    """Members whose name is safe (the others reported), after making sure none would
    replace an existing file unless --overwrite: else nothing is extracted (exit 2)."""
    safe, existing = [], []
    for m in members:
        try:
            path = target.path(target.segments(m))
        except UnsafeName as exc:
            lines(str(exc))
            continue
        safe.append(m)
        if not target.overwrite and os.path.lexists(path):
            existing.append(path)
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise Refused(f"{existing[0]} exists{more}: nothing extracted (--overwrite replaces)")
    return safe, len(members) - len(safe)


def _check_bucket(s3: Any, dest: S3Uri) -> None:
    try:
        s3.head_bucket(Bucket=dest.bucket)
    except AWS_ERRORS as exc:
        raise write_failed(f"s3://{dest.bucket}/", exc) from exc


def _summary(outcome: Outcome, wanted: int, archive: S3Uri, target: object, secs: float) -> str:
    text = (
        f"extracted {outcome.objects} of {wanted} objects ({outcome.bytes} bytes) from "
        f"{archive} to {target} in {secs:.1f} s"
    )
    if outcome.failed:
        text += f"; {outcome.failed} failed"
    if outcome.refused:
        text += f"; {outcome.refused} not overwritten (exist)"
    return text


class _Lines:
    """Error lines on stderr, at most ``limit``, then how many more."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._count = 0
        self._lock = threading.Lock()
        self.bar: Progress | None = None

    def __call__(self, line: str) -> None:
        with self._lock:
            self._count += 1
            if self._count > self._limit:
                return
            text = f"s3bundler extract: {line}"
            if self.bar is not None:
                self.bar.write(text, err=True)
            else:
                print(text, file=sys.stderr)

    def close(self) -> None:
        if self._count > self._limit:
            more = self._count - self._limit
            print(f"s3bundler extract: ... and {more} more like these", file=sys.stderr)
