"""The ledger: the one place every sub-manifest row's outcome goes -- archived, copied or
failed -- counted once, and passed on to subscribers (the index, the DLQ index, the log), in
the manner of s3transfer's subscribers. Whatever else wants to know (a catalog, a report)
subscribes; nothing pushes outcomes anywhere by hand."""

from __future__ import annotations

from collections.abc import Sequence

from s3bundler import events
from s3bundler.counts import Counts
from s3bundler.dlq import DlqRow, DlqWriter
from s3bundler.index import IndexRow, IndexWriter
from s3bundler.records import dlq_row
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry


class Subscriber:
    """Told of each outcome as the ledger records it; override what you need."""

    def on_archived(self, row: IndexRow) -> None:
        """An object is in the archive (``row.member``, offsets) and its index row is final."""

    def on_copied(self, row: IndexRow, target: S3Uri) -> None:
        """A big object was copied server-side to ``target``."""

    def on_failed(self, row: DlqRow) -> None:
        """An object could not be archived or copied; ``row.reason`` says why."""


class Ledger:
    def __init__(self, objects: int, subscribers: Sequence[Subscriber] = ()) -> None:
        self.counts = Counts(objects=objects)
        self._subscribers = tuple(subscribers)

    def archived(self, row: IndexRow) -> None:
        self.counts.archived += 1
        self.counts.archived_bytes += row.size
        for s in self._subscribers:
            s.on_archived(row)

    def copied(self, row: IndexRow, target: S3Uri) -> None:
        self.counts.copied += 1
        self.counts.copied_bytes += row.size
        for s in self._subscribers:
            s.on_copied(row, target)

    def failed(self, entry: ManifestEntry, reason: str, detail: str) -> None:
        row = dlq_row(entry, reason, detail)
        self.counts.errors[reason] += 1
        for s in self._subscribers:
            s.on_failed(row)


class IndexFile(Subscriber):
    """The archive's index, row by row in archive order."""

    def __init__(self) -> None:
        self.writer = IndexWriter()

    def on_archived(self, row: IndexRow) -> None:
        self.writer.add(row)


class DlqFile(Subscriber):
    """The manifest's DLQ index."""

    def __init__(self) -> None:
        self.writer = DlqWriter()

    def on_failed(self, row: DlqRow) -> None:
        self.writer.add(row)


class EventLog(Subscriber):
    """One log line per failed object (``object_failed``, counted by the metric filters) and
    per copied one."""

    def __init__(self, manifest: S3Uri) -> None:
        self.manifest = manifest

    def on_failed(self, row: DlqRow) -> None:
        events.object_failed(self.manifest, row)

    def on_copied(self, row: IndexRow, target: S3Uri) -> None:
        events.object_copied(row, target)
