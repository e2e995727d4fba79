"""Restoring objects: from where the catalog says each went, by the cheapest verified path.

- archived in a ``.tar``, into S3: server-side (server_copy.py), no bytes through the client
  (``--client-side`` reads and PUTs instead);
- archived in a ``.tar.gz`` or ``.tar.zst``, or to local files: the members read with planned
  ranged GETs (member_reader.py: neighbours coalesced, a whole-archive read when most of it is
  wanted), each verified before it is written;
- copied (a big object): a server-side CopyObject into S3 (metadata and tags come with it), or
  a GET to a file;
- an archive or copy in GLACIER/DEEP_ARCHIVE is made readable first (cold.py).
Failures are per object: the rest is restored, and the result lists what was not.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from s3bundler.catalog import ARCHIVED, COPIED
from s3common.aws import AWS_ERRORS, read_failed
from s3common.errors import ExitCode, NotFound, S3BundlerError
from s3common.s3uri import S3Uri
from s3restore.cold import make_readable
from s3restore.locate import Found, Wanted, best
from s3restore.member_reader import CorruptMember, Member, fetch, plan_reads
from s3restore.server_copy import copy_member
from s3restore.targets import FileDestination, S3Destination

log = logging.getLogger(__name__)

ARCHIVE_SIZE_FROM = 8  # members of one archive from which its size is asked (whole reads)


@dataclass(frozen=True)
class RestoreOptions:
    dest: S3Destination | FileDestination
    client_side: bool = False
    days: int = 7
    tier: str = "Standard"
    wait: bool = False
    poll_seconds: float = 60.0
    concurrency: int = 16


@dataclass
class RestoreResult:
    restored: int = 0
    bytes: int = 0
    verified: Counter[str] = field(default_factory=Counter)  # how
    failures: list[tuple[Wanted, S3BundlerError]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def done(self, size: int, how: str) -> None:
        with self.lock:
            self.restored += 1
            self.bytes += size
            self.verified[how] += 1

    def failed(self, wanted: Wanted, exc: S3BundlerError) -> None:
        with self.lock:
            self.failures.append((wanted, exc))

    @property
    def exit_code(self) -> int:
        codes = {int(exc.exit_code) for _, exc in self.failures}
        for code in (ExitCode.NOT_YET, ExitCode.NOT_FOUND):
            if codes == {int(code)}:
                return int(code)
        return max(codes, default=int(ExitCode.OK))


def restore(
    s3: Any,
    located: dict[Wanted, list[Found]],
    options: RestoreOptions,
    tick: Callable[[int], None] = lambda n: None,
) -> RestoreResult:
    result = RestoreResult()
    archived: list[tuple[Wanted, Found]] = []
    copied: list[tuple[Wanted, Found]] = []
    for wanted, rows in located.items():
        found = best(rows)
        if found is None or found.status not in (ARCHIVED, COPIED):
            result.failed(wanted, _not_restorable(wanted, found))
            tick(1)
            continue
        (archived if found.status == ARCHIVED else copied).append((wanted, found))
    sources = {f.member().archive for _, f in archived} | {f.copy for _, f in copied}
    make_readable(
        s3, sources, days=options.days, tier=options.tier, wait=options.wait,
        poll_seconds=options.poll_seconds,
    )  # fmt: skip
    with ThreadPoolExecutor(options.concurrency, thread_name_prefix="restore") as pool:
        futures = _archived(s3, archived, options, pool, result, tick)
        futures += [pool.submit(_copied, s3, w, f, options, result) for w, f in copied]
        for fut in futures:
            fut.result()
            tick(1)
    return result


def _not_restorable(wanted: Wanted, found: Found | None) -> S3BundlerError:
    if found is None:
        return NotFound(f"{wanted}: not in the catalog")
    r = found.row
    return NotFound(f"{wanted}: was not archived: {r.get('reason')} ({r.get('detail')})")


def _archived(
    s3: Any,
    archived: Sequence[tuple[Wanted, Found]],
    options: RestoreOptions,
    pool: ThreadPoolExecutor,
    result: RestoreResult,
    tick: Callable[[int], None],
) -> list[Future[None]]:
    pairs = [(f.member(), w) for w, f in archived]
    dest, futures = options.dest, []
    if isinstance(dest, S3Destination) and not options.client_side:
        futures = [
            pool.submit(_server_side, dest, m, w, result) for m, w in pairs if not m.compressed
        ]
        pairs = [(m, w) for m, w in pairs if m.compressed]
    wanted_of = {_ident(m): w for m, w in pairs}
    members = [m for m, _ in pairs]
    by_archive = Counter(m.archive for m in members)
    sizes = {a: _size(s3, a) for a, n in by_archive.items() if n >= ARCHIVE_SIZE_FROM}
    for m in (m for m in members if m.size == 0):
        futures.append(pool.submit(_write, dest, m, wanted_of[_ident(m)], b"", result))
    for read in plan_reads([m for m in members if m.size], sizes):
        served = set()
        try:
            for m, data in fetch(s3, read):
                served.add(_ident(m))
                futures.append(pool.submit(_write, dest, m, wanted_of[_ident(m)], data, result))
        except S3BundlerError as exc:  # this read failed: its members not yet served fail
            for m in read.members:
                if _ident(m) not in served:
                    result.failed(wanted_of[_ident(m)], exc)
                    tick(1)
    return futures


def _ident(m: Member) -> tuple[str, int, str, str]:
    return str(m.archive), m.offset, m.key, m.version_id


def _server_side(dest: S3Destination, m: Member, wanted: Wanted, result: RestoreResult) -> None:
    try:
        _, how = copy_member(dest, m)
    except S3BundlerError as exc:
        result.failed(wanted, exc)
        return
    result.done(m.size, how)


def _write(dest: Any, m: Member, wanted: Wanted, data: bytes, result: RestoreResult) -> None:
    try:
        dest.put(m, data)
    except S3BundlerError as exc:
        result.failed(wanted, exc)
        return
    result.done(m.size, "md5+crc32c" if m.crc32c else "md5")


def _copied(
    s3: Any, wanted: Wanted, found: Found, options: RestoreOptions, result: RestoreResult
) -> None:
    try:
        how = _restore_copy(s3, found, options.dest)
    except S3BundlerError as exc:
        result.failed(wanted, exc)
        return
    result.done(int(found.row.get("size") or 0), how)


def _restore_copy(s3: Any, found: Found, dest: S3Destination | FileDestination) -> str:
    r, source = found.row, found.copy
    if isinstance(dest, S3Destination):
        target = dest.target(r["bucket"], r["key"])
        try:
            s3.copy_object(
                Bucket=target.bucket, Key=target.key,
                CopySource={"Bucket": source.bucket, "Key": source.key},
                MetadataDirective="COPY", TaggingDirective="COPY", **dest.condition(),
            )  # fmt: skip
        except AWS_ERRORS as exc:
            raise dest.failed(target, exc) from exc
        return "server-side copy"
    data = _get(s3, source)
    if r.get("md5") and hashlib.md5(data).hexdigest() != r["md5"]:
        raise CorruptMember(f"{source}: MD5 of the copy differs from the one recorded")
    member = Member(source, r["bucket"], r["key"], r.get("version_id") or "", len(data), 0, "")
    dest.put(member, data)
    return "md5" if r.get("md5") else "size"


def _get(s3: Any, uri: S3Uri) -> bytes:
    try:
        return s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except AWS_ERRORS as exc:
        raise read_failed(uri, exc) from exc


def _size(s3: Any, uri: S3Uri) -> int:
    try:
        return int(s3.head_object(Bucket=uri.bucket, Key=uri.key)["ContentLength"])
    except AWS_ERRORS as exc:
        raise read_failed(uri, exc) from exc
