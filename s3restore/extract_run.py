"""An extraction: the wanted members read with as few GETs as the plan allows (the whole
archive once when most of it is wanted; member_reader.plan_reads), each verified before a
writer pool puts it in place (extract_targets.py).

- A reader thread per planned read (at most READERS at once) takes each member's chunks:
  objects up to SPOOL_ABOVE are held in memory, bigger ones are spooled to a file (the
  target's); either way nothing is handed to a writer before its bytes are verified. Bytes
  waiting for a writer are bounded by BUDGET.
- A member whose bytes are not the bytes archived (CorruptMember) is not written; the read
  goes on with the next member when it can (a .tar: yes; a corrupt gzip stream: no, and the
  rest of that read fails with the same reason).
- S3 destination: versions of one key are written after the reads, oldest first, so the
  newest ends current (and a versioned bucket gets them in order); they are spooled to
  temporary files meanwhile.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from s3common.errors import DownloadError, ExitCode, S3BundlerError
from s3common.sizes import MiB
from s3restore.extract_targets import DirTarget, Refused, S3Target, Spool
from s3restore.member_reader import Member, Read, fetch_streams, plan_reads
from s3restore.text import object_uri

SPOOL_ABOVE = 8 * MiB
BUDGET = 256 * MiB
READERS = 4
#: When several kinds of failure happen, the exit code is the first of these that did.
EXIT_ORDER = (ExitCode.DOWNLOAD, ExitCode.UPLOAD, ExitCode.INPUT_DATA, ExitCode.USAGE)

Target = DirTarget | S3Target
Payload = bytes | Spool


@dataclass
class Outcome:
    objects: int = 0
    bytes: int = 0
    failed: int = 0
    refused: int = 0
    codes: set[int] = field(default_factory=set)

    @property
    def exit_code(self) -> int:
        return next((int(c) for c in EXIT_ORDER if c in self.codes), 0)


class Budget:
    """Bytes held for writers; one object bigger than all of it still passes alone."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._cond = threading.Condition()

    def take(self, n: int) -> None:
        with self._cond:
            while self._used and self._used + n > self._limit:
                self._cond.wait()
            self._used += n

    def give(self, n: int) -> None:
        with self._cond:
            self._used -= n
            self._cond.notify_all()


def _mid(m: Member) -> tuple[str, str, int]:
    return m.key, m.version_id, m.offset


class Extraction:
    def __init__(
        self,
        s3: Any,
        target: Target,
        members: Sequence[Member],
        archive_size: int,
        concurrency: int,
        on_done: Callable[[int], object],
        report: Callable[[str], object],
    ) -> None:
        self._s3 = s3
        self._target = target
        self._members = list(members)
        self._size = archive_size
        self._concurrency = concurrency
        self._on_done = on_done
        self._report = report
        self._budget = Budget(BUDGET)
        self._lock = threading.Lock()
        self.outcome = Outcome()
        self._futures: list[Future[None]] = []
        self._writers: ThreadPoolExecutor | None = None
        self._chains: dict[str, list[Member]] = {}
        self._held: dict[tuple[str, str, int], Spool] = {}
        if isinstance(target, S3Target):
            by_key: dict[str, list[Member]] = defaultdict(list)
            for m in self._members:
                by_key[m.key].append(m)
            self._chains = {k: ms for k, ms in by_key.items() if len(ms) > 1}

    def run(self) -> Outcome:
        wanted = [m for m in self._members if m.size]
        reads = plan_reads(wanted, {self._members[0].archive: self._size}) if wanted else []
        with ThreadPoolExecutor(self._concurrency, "extract-write") as writers:
            self._writers = writers
            for m in self._members:
                if not m.size:
                    try:
                        self._ready(m, b"")
                    except S3BundlerError as exc:
                        self._failed(m, exc)
            with ThreadPoolExecutor(max(1, min(READERS, len(reads))), "extract-read") as readers:
                list(readers.map(self._consume, reads))
            for chain in self._chains.values():
                self._futures.append(writers.submit(self._write_chain, chain))
            for future in wait(self._futures).done:
                future.result()  # a bug in a writer is not swallowed
        return self.outcome

    def _consume(self, read: Read) -> None:
        """One planned read: each member verified and handed to a writer."""
        taken = 0
        try:
            for m, chunks in fetch_streams(self._s3, read):
                taken += 1
                try:
                    self._ready(m, self._payload(m, chunks))
                except DownloadError:
                    taken -= 1  # the read broke: this member and the rest are lost
                    raise
                except S3BundlerError as exc:  # this member's bytes, or its spool file
                    self._failed(m, exc)
        except S3BundlerError as exc:  # the read itself: the rest of its members are lost
            for m in read.members[taken:]:
                self._failed(m, exc)

    def _payload(self, m: Member, chunks: Any) -> Payload:
        held = m.key in self._chains
        if m.size <= SPOOL_ABOVE and not held:
            self._budget.take(m.size)
            try:
                return b"".join(chunks)  # verified when the chunks end
            except BaseException:
                self._budget.give(m.size)
                raise
        if not held:
            self._budget.take(m.size)
        spool = self._target.spool(m)
        try:
            for chunk in chunks:
                spool.write(chunk)
            spool.finish()
        except BaseException:
            spool.discard()
            if not held:
                self._budget.give(m.size)
            raise
        return spool

    def _ready(self, m: Member, payload: Payload) -> None:
        if m.key in self._chains:
            spool = payload if isinstance(payload, Spool) else self._spooled(m, payload)
            with self._lock:
                self._held[_mid(m)] = spool
            return
        assert self._writers is not None
        self._futures.append(self._writers.submit(self._write, m, payload, False, True))

    def _spooled(self, m: Member, data: bytes) -> Spool:
        spool = self._target.spool(m)
        spool.write(data)
        spool.finish()
        return spool

    def _write_chain(self, chain: list[Member]) -> None:
        """Versions of one key, oldest first: by LastModified (whole seconds, as a GET gives
        it), then, within a second, later in the archive first (S3 lists versions newest
        first). The first is written as any object (refused if the key exists, without
        overwrite); the later ones replace it."""
        written = refused = False
        for m in sorted(chain, key=lambda m: (m.last_modified, -m.offset)):
            spool = self._held.pop(_mid(m), None)
            if spool is None:  # not read: counted as failed already
                continue
            if refused:
                spool.discard()
                self._failed(m, Refused(f"{self._target.uri(m)} exists (not overwritten)"))
                continue
            error = self._write(m, spool, written, False)
            written = written or error is None
            refused = isinstance(error, Refused)

    def _write(
        self, m: Member, payload: Payload, replace: bool, budgeted: bool
    ) -> S3BundlerError | None:
        """Write one member; the error if it was not written."""
        try:
            if isinstance(payload, bytes):
                self._target.write(m, payload, replace)
            else:
                self._target.commit(m, payload, replace)
        except S3BundlerError as exc:
            self._failed(m, exc)
            return exc
        finally:
            if isinstance(payload, Spool):
                payload.discard()
            if budgeted:
                self._budget.give(m.size)
        with self._lock:
            self.outcome.objects += 1
            self.outcome.bytes += m.size
        self._on_done(m.size)
        return None

    def _failed(self, m: Member, exc: S3BundlerError) -> None:
        with self._lock:
            self.outcome.codes.add(exc.exit_code)
            if isinstance(exc, Refused):
                self.outcome.refused += 1
            else:
                self.outcome.failed += 1
        text = str(exc)
        subject = object_uri(m.bucket, m.key, m.version_id)
        self._report(text if f"s3://{m.bucket}/" in text else f"{subject}: {text}")
