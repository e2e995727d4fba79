"""What ``s3bundler reconcile`` tells: the problem CSV (every finding, one row each), the
counts on stdout, and progress on stderr (docs/reconcile.md)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow as pa

from s3common.csvrows import CsvWriter
from s3restore.reconcile_match import DUPLICATED, MISSING, UNEXPECTED, PartOutcome

CSV_COLUMNS: tuple[str, ...] = (
    "problem",
    "bucket",
    "key",
    "version_id",
    "size",
    "selected",
    "catalog_rows",
    "status",
    "location",
    "reason",
    "manifest",
    "detail",
)

# Findings about the job's outputs rather than one object (``key`` empty unless it is one).
SELECTION_DIFFERS = "selection_differs"  # the inventory now selects other rows than the job did
NO_REPORT = "no_report"  # a sub-manifest without (a readable) completion report
NO_CATALOG_FILE = "no_catalog_file"  # a sub-manifest without its catalog file
BAD_CATALOG_FILE = "bad_catalog_file"  # a catalog file that cannot be read as one
FOREIGN_ROWS = "foreign_rows"  # rows of another job's sub-manifest in one of the job's files
NO_ARCHIVE = "no_archive"  # catalog rows point at an archive that does not exist
NO_COPY = "no_copy"  # a copied object's copy does not exist
OBJECT_PROBLEMS = (MISSING, DUPLICATED, UNEXPECTED)


@dataclass
class Tally:
    """The counts printed at the end."""

    selected: int = 0
    accounted: Counter[tuple[str, str]] = field(default_factory=Counter)
    missing: int = 0
    duplicated: int = 0
    unexpected: int = 0
    findings: Counter[str] = field(default_factory=Counter)  # CSV rows by problem

    def add(self, part: PartOutcome) -> None:
        self.accounted.update(part.accounted)
        self.missing += part.missing
        self.duplicated += part.duplicated
        self.unexpected += part.unexpected

    def status(self, status: str) -> int:
        return sum(n for (s, _), n in self.accounted.items() if s == status)

    def failed_by_reason(self) -> list[tuple[str, int]]:
        reasons: Counter[str] = Counter()
        for (s, reason), n in self.accounted.items():
            if s == "failed":
                reasons[reason or "?"] += n
        return sorted(reasons.items(), key=lambda item: (-item[1], item[0]))

    @property
    def output_findings(self) -> int:
        """CSV rows that are not about one object."""
        return sum(n for p, n in self.findings.items() if p not in OBJECT_PROBLEMS)

    @property
    def complete(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected or self.findings)


class ProblemCsv:
    """The problem CSV, written as findings come (a header, then one row per finding)."""

    def __init__(self, out: IO[str], bucket: str, tally: Tally) -> None:
        self._csv = CsvWriter(out)
        self._csv.writerow(CSV_COLUMNS)
        self.bucket = bucket
        self.tally = tally

    def finding(
        self, problem: str, manifest: object = "", location: object = "", **cells: Any
    ) -> None:
        """One finding about the job's outputs (``cells``: more columns, e.g. ``detail``)."""
        row = {"problem": problem, "bucket": self.bucket, "manifest": manifest, **cells}
        row["location"] = location
        self._write(row)

    def objects(
        self, problems: pa.Table, manifests: Sequence[str], archives: Sequence[str]
    ) -> None:
        """Problem rows of one part (reconcile_match.PROBLEMS), their numbers named: the
        sub-manifest (for a missing object, the one the grouping put it in) and the archive."""
        for row in problems.to_pylist():
            number = row["group"] if row["problem"] == MISSING else row["manifest"]
            known = number is not None and 0 <= number < len(manifests)
            row["manifest"] = manifests[number] if known else ""
            archive = row["archive"]
            row["location"] = archives[archive] if archive is not None else row["copy"]
            self._write({**row, "bucket": self.bucket})

    def _write(self, row: dict[str, Any]) -> None:
        self.tally.findings[row["problem"]] += 1
        self._csv.writerow(["" if row.get(c) is None else str(row.get(c)) for c in CSV_COLUMNS])


class Progress:
    """Progress lines on stderr: rewritten in place on a terminal (at most 5 a second), else
    one line every ``interval`` seconds and at the end of each phase."""

    def __init__(
        self, enabled: bool, stream: IO[str] | None = None, interval: float = 10.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.interval = 0.2 if self.tty else interval
        self._last = 0.0
        self._text = ""

    def update(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            self._text = text
            return
        self._last, self._text = now, ""
        if self.tty:
            self.stream.write(f"\r\x1b[K{text}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, text: str) -> None:
        """The phase's last line."""
        if not self.enabled:
            return
        self.update(text, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def summary_lines(
    tally: Tally, job: str, inventory: str, expected: int, csv_path: str, outputs: str
) -> list[str]:
    """The counts, as printed on stdout."""
    failed = tally.status("failed")
    reasons = ", ".join(f"{r} {n}" for r, n in tally.failed_by_reason())
    lines = [
        f"reconcile {job}",
        f"  inventory      {inventory}",
        f"  selected       {tally.selected} objects (job summary: {expected})",
        f"  archived       {tally.status('archived')}",
        f"  copied         {tally.status('copied')}",
        f"  in DLQ         {failed}" + (f" ({reasons})" if reasons else ""),
        f"  missing        {tally.missing}",
        f"  duplicated     {tally.duplicated}",
        f"  unexpected     {tally.unexpected}",
        f"  sub-manifests  {outputs}",
        f"  report         {csv_path} ({sum(tally.findings.values())} rows)",
    ]
    if tally.complete:
        lines.append(f"complete: all {tally.selected} selected objects accounted for, once each")
    else:
        problems = ", ".join(f"{p} {n}" for p, n in sorted(tally.findings.items()))
        lines.append(f"INCOMPLETE: {problems} (see {csv_path})")
    return lines
