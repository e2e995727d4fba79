"""``s3bundler verify``: read an archive once and check every member against its index
(docs/restore.md, "verify")."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from s3bundler.dlq import DlqRow
from s3bundler.layout import dlq_uri
from s3common.errors import S3BundlerError
from s3common.s3uri import S3Uri
from s3restore.archive_stream import ArchiveBody, ByteReader, Decompressed, Unreadable
from s3restore.archives import ArchiveHead, archive_ref_arg, head_archive, load_dlq, load_index
from s3restore.commands import clients, parser
from s3restore.progress import Progress
from s3restore.tar_scan import TarScanner
from s3restore.verify_check import Verification

EXAMPLES = """\
  s3bundler verify s3://arch/archives/1a2b3c/photos/inv-manifest.0.tar
  s3bundler verify s3://arch/archives/1a2b3c/photos/inv-manifest.0.index --max-problems 0

checks every member's header and data offsets, name, size, MD5, CRC32C, pax comment (the exact
bucket, key and version), mtime and (.tar.gz, .tar.zst) gz_offset/gz_skip against its index
row; every index row has a member; the end-of-archive and that nothing follows it; every
compressed frame's check (gzip CRC, zstd checksum) and a .tar.zst's seek table. A member with no
index row that the DLQ index lists as "bytes left unindexed" is a note, not a problem.
output (stdout): one line per problem or note, then a summary line."""


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "verify",
        "Read an archive once, front to back (one GET, bounded memory), and check every\n"
        "member against its index and every index row against the archive. Exit 0 when all\n"
        "is well, 1 naming each problem.",
        EXAMPLES,
    )
    p.add_argument(
        "archive",
        metavar="ARCHIVE_URI",
        type=archive_ref_arg,
        help="s3://BUCKET/KEY of the archive (.tar, .tar.gz, .tar.zst) or of its .index",
    )
    p.add_argument(
        "--max-problems",
        type=int,
        default=100,
        metavar="N",
        help="print at most N problem lines, then their count (default: 100; 0: all)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    _, s3 = clients(args, concurrency=1)
    rows = load_index(s3, args.archive.index)
    head = head_archive(s3, args.archive, rows)
    started = time.monotonic()
    with Progress(not args.no_progress, head.size, "B", "verify") as bar:
        printer = _Printer(bar, args.max_problems)
        body = ArchiveBody(s3, head, on_bytes=bar.update)
        check = Verification(rows, head.codec is not None, lambda: _dlq(s3, head), printer)
        _scan(head, body, check)
    seconds = time.monotonic() - started
    n = check.problems
    verdict = "ok" if not n else f"{n} problem" + ("s" if n > 1 else "")
    if printer.hidden:
        verdict += f" ({printer.hidden} not shown)"
    unindexed = f", {check.unindexed} unindexed (in DLQ)" if check.unindexed else ""
    print(
        f"{head.uri}: {verdict}: {check.members} members ({check.data_bytes} bytes) and "
        f"{check.rows} index rows{unindexed}; {body.position} bytes read in {body.gets} GET(s), "
        f"{seconds:.1f} s"
    )
    return 1 if check.problems else 0


def _scan(head: ArchiveHead, body: ArchiveBody, check: Verification) -> None:
    frames = Decompressed(body, head.codec) if head.codec is not None else None
    reader = ByteReader(frames if frames is not None else body)
    scanner = TarScanner(reader)
    try:
        for m in scanner.members():
            check.member(m, frames.region_of(m.header_offset) if frames is not None else None)
        for problem in scanner.end_problems:
            check.problem(f"{head.uri}: {problem}")
    except Unreadable as exc:
        reason = str(exc)
        if frames is not None and frames.codec.frame_noun not in reason:
            reason = _frame_reason(frames, reader) or reason
        check.problem(f"{head.uri}: {reason}")
        check.finish(unread_from=scanner.member_start)
        return
    for problem in frames.problems() if frames is not None else ():
        check.problem(f"{head.uri}: {problem}")
    check.finish()


def _frame_reason(frames: Decompressed, reader: ByteReader) -> str:
    """Garbage in a tar stream read from frames is most likely corrupt compressed data that
    decompressed without an error: its frame's check (gzip CRC, zstd checksum) says so at the
    frame's end."""
    regions = len(frames.regions)
    try:
        for _ in reader.chunks(1 << 62):
            if len(frames.regions) > regions:
                return ""
    except Unreadable as exc:
        return str(exc)
    return ""


def _dlq(s3: Any, head: ArchiveHead) -> tuple[S3Uri | None, list[DlqRow] | None]:
    if head.manifest is None:
        return None, None
    try:
        return load_dlq(s3, head.manifest)
    except S3BundlerError as exc:
        print(f"s3bundler verify: warning: {exc}", file=sys.stderr)
        return dlq_uri(head.manifest), None


class _Printer:
    """Problem lines up to a limit (notes always), on stdout above the progress bar."""

    def __init__(self, bar: Progress, limit: int) -> None:
        self._bar = bar
        self._limit = limit
        self.shown = 0
        self.hidden = 0

    def __call__(self, line: str, is_problem: bool) -> None:
        if is_problem and self._limit and self.shown >= self._limit:
            self.hidden += 1
            return
        self.shown += 1
        self._bar.write(line)
