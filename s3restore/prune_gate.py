"""The gate before ``s3bundler prune`` deletes anything: the job is reconciled
(s3restore/reconcile.py, unchanged) and pruned only when reconcile calls it complete -- or,
told a subset with ``--only``, with every object, archive, copy and sub-manifest reconcile has
a problem with kept (docs/prune.md)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Any

from s3common.errors import UsageError
from s3restore.reconcile import Reconcile, ReconcileOptions
from s3restore.reconcile_match import DUPLICATED, MISSING, UNEXPECTED
from s3restore.reconcile_report import (
    BAD_CATALOG_FILE,
    NO_ARCHIVE,
    NO_CATALOG_FILE,
    NO_COPY,
    NO_REPORT,
    Progress,
    Tally,
    summary_lines,
)

_OBJECT_PROBLEMS = (MISSING, DUPLICATED, UNEXPECTED)


@dataclass
class Gate:
    """What reconcile found: ``complete``, and what to keep when it is not."""

    complete: bool
    lines: list[str]  # reconcile's own summary
    objects: dict[tuple[str, str], str] = field(default_factory=dict)  # (bucket, key) -> problem
    locations: dict[str, str] = field(default_factory=dict)  # archive/copy URI -> problem
    manifests: dict[str, str] = field(default_factory=dict)  # sub-manifest URI -> problem
    unreadable: set[str] = field(default_factory=set)  # catalog files missing or unreadable

    def problem(self, bucket: str, key: str, location: str, manifest: str) -> str:
        """Reconcile's problem with this catalog row ("" when none)."""
        return (
            self.objects.get((bucket, key))
            or self.locations.get(location)
            or self.manifests.get(manifest, "")
        )


def reconcile(
    session: Any, s3: Any, options: ReconcileOptions, progress: Progress, path: str
) -> Gate:
    """Reconcile the job, its problem CSV written to ``path``."""
    job = Reconcile(session, s3, options, progress)
    summary = job.load_job()
    try:
        out = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"--reconcile-report {path}: cannot write: {exc.strerror}") from None
    with out:
        tally = job.run(out)
    lines = summary_lines(
        tally, str(options.job), summary.inventory, summary.objects, path, job.outputs.line()
    )
    return read_problems(path, tally, lines)


def read_problems(path: str, tally: Tally, lines: list[str]) -> Gate:
    """The Gate from reconcile's problem CSV (an object's problem keeps every version of its
    key: reconcile matches an unversioned inventory row to any version)."""
    gate = Gate(tally.complete, lines)
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            problem = row["problem"]
            if problem in _OBJECT_PROBLEMS:
                gate.objects[(row["bucket"], row["key"])] = problem
            elif problem in (NO_ARCHIVE, NO_COPY):
                gate.locations[row["location"]] = problem
            elif problem == NO_REPORT:
                gate.manifests[row["manifest"]] = f"{problem}: the sub-manifest is not finished"
            elif problem in (NO_CATALOG_FILE, BAD_CATALOG_FILE):
                gate.unreadable.add(row["location"])
    return gate
