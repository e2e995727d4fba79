"""What ``s3bundler prune`` tells: the report CSV (one row per object it looked at, with what
became of it and why), the counts on stdout, and the savings (docs/prune.md)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import IO

from s3common.csvrows import CsvWriter
from s3common.prices import Prices
from s3common.sizes import format_size
from s3restore.prune_rules import (
    DELETE,
    DELETED,
    DONE_BEFORE,
    FAILED_DELETE,
    GONE,
    KEPT,
    Row,
    Verdict,
)

REPORT_COLUMNS = (
    "action",
    "reason",
    "bucket",
    "key",
    "version_id",
    "size",
    "storage_class",
    "evidence",
    "location",
    "member",
    "batch",
    "detail",
)


@dataclass
class Tally:
    """Objects and bytes by action; kept objects by reason; bytes freed by storage class."""

    objects: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    freed: Counter[str] = field(default_factory=Counter)  # storage class -> bytes
    batches: int = 0

    def add(self, action: str, reason: str, size: int, storage_class: str) -> None:
        self.objects[action] += 1
        self.bytes[action] += size
        if action == KEPT:
            self.reasons[reason] += 1
        if action in (DELETE, DELETED):
            self.freed[storage_class] += size

    @property
    def total(self) -> int:
        return sum(self.objects.values())


class Report:
    """The report CSV, written as objects are decided."""

    def __init__(self, out: IO[str], tally: Tally) -> None:
        self._csv = CsvWriter(out)
        self._csv.writerow(REPORT_COLUMNS)
        self.tally = tally

    def row(self, row: Row, verdict: Verdict, batch: int | None = None) -> None:
        self.tally.add(verdict.action, verdict.reason, row.size, row.storage_class)
        cells = [
            verdict.action,
            verdict.reason,
            row.bucket,
            row.key,
            row.version_id,
            str(row.size),
            row.storage_class,
            verdict.evidence,
            row.location,
            row.member,
            "" if batch is None else f"{batch:06d}",
            verdict.detail,
        ]
        self._csv.writerow(cells)

    def unknown(self, bucket: str, key: str, version_id: str, verdict: Verdict) -> None:
        """An object of the --only list with no catalog row to act on."""
        self.tally.add(verdict.action, verdict.reason, 0, "")
        self._csv.writerow(
            [
                verdict.action,
                verdict.reason,
                bucket,
                key,
                version_id,
                "",
                "",
                "",
                "",
                "",
                "",
                verdict.detail,
            ]
        )


def _count(tally: Tally, action: str) -> str:
    n, size = tally.objects[action], tally.bytes[action]
    return f"{n} objects, {size} bytes ({format_size(size)})" if n else "0"


def summary_lines(
    tally: Tally, dry_run: bool, report: str, log: str, requests: str, prices: Prices
) -> list[str]:
    """The counts, as printed on stdout (the savings at ``prices``' storage rates)."""
    deleting = DELETE if dry_run else DELETED
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(tally.reasons.items()))
    saved = prices.monthly_storage(tally.freed)
    lines = [
        f"  {'would delete' if dry_run else 'deleted':<14} {_count(tally, deleting)}",
        f"  {'kept':<14} {tally.objects[KEPT]}" + (f" ({reasons})" if reasons else ""),
        f"  {'gone':<14} {tally.objects[GONE]} (not in the source any more)",
        f"  {'done before':<14} {_count(tally, DONE_BEFORE)} (deleted by an earlier run)",
    ]
    if not dry_run:
        lines.append(f"  {'failed':<14} {tally.objects[FAILED_DELETE]}")
    lines += [
        f"  {'savings':<14} ${saved:,.2f} per month"
        + (" once deleted" if dry_run else "")
        + f" ({prices.line()}; by storage class: "
        + (", ".join(f"{c} {format_size(n)}" for c, n in sorted(tally.freed.items())) or "-")
        + ")",
        f"  {'requests':<14} {requests}",
        f"  {'report':<14} {report} ({tally.total} rows)",
        f"  {'log':<14} {log} ({tally.batches} batches this run)",
    ]
    return lines + [f"  note: {w}" for w in prices.warnings]
