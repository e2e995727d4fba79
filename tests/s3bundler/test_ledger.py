"""The ledger and the counters, without an endpoint."""

from __future__ import annotations

from collections import Counter

from s3bundler.counts import FIELDS, Counts
from s3bundler.dlq import read_dlq
from s3bundler.index import IndexRow, read_index
from s3bundler.ledger import DlqFile, IndexFile, Ledger, Subscriber
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry


def row(key: str, size: int) -> IndexRow:
    return IndexRow("b", key, "", size, "2024-01-01T00:00:00.000Z", "e", "m", member=f"b/{key}")


class Recorder(Subscriber):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def on_archived(self, row: IndexRow) -> None:
        self.seen.append(("archived", row.key))

    def on_copied(self, row: IndexRow, target: S3Uri) -> None:
        self.seen.append(("copied", f"{row.key}->{target}"))

    def on_failed(self, row) -> None:
        self.seen.append(("failed", f"{row.key}:{row.reason}"))


def test_every_outcome_is_counted_once_and_reaches_every_subscriber_in_order():
    index, dlq, rec = IndexFile(), DlqFile(), Recorder()
    ledger = Ledger(5, [index, dlq, rec])
    ledger.archived(row("a", 10))
    ledger.failed(ManifestEntry("b", "gone", 3), "NoSuchKey", "deleted")
    ledger.copied(row("big", 1000), S3Uri("arch", "p/big"))
    ledger.failed(ManifestEntry("b", "gone2", None, "v1"), "NoSuchKey", "deleted")
    ledger.failed(ManifestEntry("b", "denied", 1), "AccessDenied", "no")
    c = ledger.counts
    assert (c.objects, c.archived, c.archived_bytes, c.copied, c.copied_bytes) == (
        5,
        1,
        10,
        1,
        1000,
    )
    assert c.errors == {"NoSuchKey": 2, "AccessDenied": 1} and c.failed == 3
    assert c.accounted == 5
    assert rec.seen == [
        ("archived", "a"),
        ("failed", "gone:NoSuchKey"),
        ("copied", "big->s3://arch/p/big"),
        ("failed", "gone2:NoSuchKey"),
        ("failed", "denied:AccessDenied"),
    ]
    assert [r.key for r in read_index(index.writer.getvalue())] == ["a"]
    dlq_rows = list(read_dlq(dlq.writer.getvalue()))
    assert [(r.key, r.version_id, r.size) for r in dlq_rows] == [
        ("gone", "", 3),
        ("gone2", "v1", None),
        ("denied", "", 1),
    ]


def test_counts_add_up_and_survive_their_dict_form():
    a = Counts(3, 2, 20, 0, 0, Counter({"NoSuchKey": 1}))
    b = Counts(5, 1, 5, 2, 200, Counter({"NoSuchKey": 1, "Glacier": 1}))
    a.add(b)
    assert a == Counts(8, 3, 25, 2, 200, Counter({"NoSuchKey": 2, "Glacier": 1}))
    assert a.bytes_done == 225 and a.accounted == a.objects == 8
    assert Counts.from_dict(a.as_dict()) == a
    assert a.as_dict()["failed"] == 3


def test_the_log_line_fields_keep_their_order_and_spell_errors_compactly():
    c = Counts(2, 1, 10, 0, 0, Counter({"Throttled": 1, "Changed": 2}))
    fields = c.log_fields()
    assert tuple(fields) == FIELDS
    assert fields["errors"] == "Changed:2,Throttled:1"
    assert Counts().log_fields()["errors"] == "-"


def test_metrics_derive_from_the_counts():
    values, by_reason = Counts(3, 2, 20, 1, 7, Counter({"Glacier": 1})).metric_data(1.5)
    assert values["ObjectsArchived"][0] == 2 and values["BytesCopied"][0] == 7
    assert values["ObjectErrors"][0] == 1 and values["ManifestSeconds"] == (1.5, "Seconds")
    assert by_reason == {("ObjectErrors", "Reason", "Glacier"): (1, "Count")}
