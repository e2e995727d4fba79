"""Which inventory rows become sub-manifest entries: filter options and their vectorized
application to normalized tables (see :mod:`s3grouper.readers`)."""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from s3common.errors import UsageError
from s3grouper.inventory import csv_name
from s3grouper.readers import TIMESTAMP, column

ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
ARCHIVE_TIERS = ("ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS")

#: Reasons a row is skipped, in the order they are decided (a row counts under the first).
SKIP_REASONS = ("delete_marker", "not_latest", "folder", "glacier", "not_glacier", "filtered")


@dataclass(frozen=True)
class FilterOptions:
    """Everything that decides whether an inventory row is bundled."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    glacier: bool = False
    storage_classes: tuple[str, ...] = ()
    min_size: int | None = None
    max_size: int | None = None
    modified_since: datetime | None = None
    modified_before: datetime | None = None
    all_versions: bool = False
    keep_folders: bool = False

    def required_fields(self) -> dict[str, str]:
        """Inventory fields this filter needs -> the flag that needs it."""
        needs: dict[str, str] = {}
        if self.glacier:
            needs["storage_class"] = "-g/--glacier"
        if self.storage_classes:
            needs["storage_class"] = "--storage-class"
        if self.min_size is not None:
            needs["size"] = "--min-size"
        if self.max_size is not None:
            needs["size"] = "--max-size"
        if self.modified_since is not None:
            needs["last_modified_date"] = "--modified-since"
        if self.modified_before is not None:
            needs["last_modified_date"] = "--modified-before"
        return needs

    def check_fields(self, available: Iterable[str], source: object) -> None:
        """UsageError if a filter needs a field the inventory does not have."""
        have = set(available)
        for field, flag in self.required_fields().items():
            if field not in have:
                raise UsageError(
                    f"{source}: {flag} needs the {csv_name(field)} field, "
                    "which this inventory does not have"
                )

    def describe(self) -> dict[str, object]:
        """JSON-ready form for the job summary (and for comparing runs)."""
        return {
            "include": list(self.include),
            "exclude": list(self.exclude),
            "glacier": self.glacier,
            "storage_classes": list(self.storage_classes),
            "min_size": self.min_size,
            "max_size": self.max_size,
            "modified_since": _iso(self.modified_since),
            "modified_before": _iso(self.modified_before),
            "all_versions": self.all_versions,
            "keep_folders": self.keep_folders,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_when(text: str) -> datetime:
    """An ISO date or datetime; naive values are UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        example = "e.g. 2024-01-31 or 2024-01-31T12:00Z"
        raise ValueError(f"not an ISO date or datetime ({example}): {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- globs -----------------------------------------------------------------------------------

_RE2_SPECIAL = frozenset("\\.^$|?*+()[]{}")


def glob_regex(pattern: str) -> str | None:
    """An RE2 regex matching exactly what ``fnmatch.fnmatchcase(key, pattern)`` matches, or None
    when the pattern has a character class (those are matched in Python)."""
    if "[" in pattern:
        return None
    out = []
    for ch in pattern:
        if ch == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append("\\" + ch if ch in _RE2_SPECIAL else ch)
    return r"(?s)\A" + "".join(out) + r"\z"


def glob_mask(keys: pa.Array, pattern: str) -> pa.Array:
    """Boolean array: which keys match the fnmatch pattern (``*`` crosses ``/``)."""
    regex = glob_regex(pattern)
    if regex is not None:
        return pc.match_substring_regex(keys, regex)
    return pa.array(
        [k is not None and fnmatch.fnmatchcase(k, pattern) for k in keys.to_pylist()], pa.bool_()
    )


# --- applying --------------------------------------------------------------------------------


class RowFilter:
    """Applies :class:`FilterOptions` to normalized tables, counting skipped rows by reason."""

    def __init__(self, options: FilterOptions, available: Iterable[str]) -> None:
        self.options = options
        self.available = frozenset(available)
        self.skipped: Counter[str] = Counter(dict.fromkeys(SKIP_REASONS, 0))
        self.notes: list[str] = []  # things the user should know, reported after the run
        self._storage_classes = pa.array(list(options.storage_classes), pa.string())
        since, before = options.modified_since, options.modified_before
        self._since = None if since is None else pa.scalar(since, TIMESTAMP)
        self._before = None if before is None else pa.scalar(before, TIMESTAMP)

    def apply(self, table: pa.Table) -> pa.Table:
        """The rows to bundle, in order."""
        keep = self.mask(table)
        return table if keep is None else table.filter(keep)

    def mask(self, table: pa.Table) -> pa.Array | None:
        """Which rows to bundle (a boolean array without nulls), or None for all of them;
        counts the others under their first reason."""
        keep: pa.Array | None = None
        for reason, drop in self._drops(table):
            if drop.null_count:
                drop = pc.fill_null(drop, False)
            if keep is not None:
                drop = pc.and_(drop, keep)
            count = drop.true_count
            if count:
                self.skipped[reason] += count
                keep = pc.invert(drop) if keep is None else pc.and_not(keep, drop)
        return keep

    def _has(self, field: str) -> bool:
        return field in self.available

    def _drops(self, table: pa.Table) -> Iterator[tuple[str, pa.Array]]:
        opts = self.options
        key = column(table, "key")
        if self._has("is_delete_marker"):
            yield "delete_marker", column(table, "is_delete_marker")
        if not opts.all_versions and self._has("is_latest"):
            yield "not_latest", pc.equal(column(table, "is_latest"), False)
        if not opts.keep_folders:
            folder = pc.ends_with(key, "/")
            if self._has("size"):
                folder = pc.and_(folder, pc.equal(column(table, "size"), 0))
            yield "folder", folder
        if self._has("storage_class"):
            archived = self._archived(table)
            if opts.glacier:
                yield "not_glacier", pc.invert(archived)
            else:
                yield "glacier", archived
        wanted = self._wanted(table)
        if wanted is not None:
            yield "filtered", pc.invert(wanted)

    def _archived(self, table: pa.Table) -> pa.Array:
        storage_class = column(table, "storage_class")
        archived = pc.is_in(storage_class, value_set=pa.array(ARCHIVE_CLASSES))
        tiering = pc.fill_null(pc.equal(storage_class, "INTELLIGENT_TIERING"), False)
        if self._has("intelligent_tiering_access_tier"):
            tier = column(table, "intelligent_tiering_access_tier")
            in_archive = pc.is_in(tier, value_set=pa.array(ARCHIVE_TIERS))
            archived = pc.or_(archived, pc.and_(tiering, in_archive))
        elif not self.notes and pc.any(tiering).as_py():
            self.notes.append(
                "inventory has INTELLIGENT_TIERING objects but no IntelligentTieringAccessTier "
                "field: they were treated as not archived"
            )
        return pc.fill_null(archived, False)

    def _wanted(self, table: pa.Table) -> pa.Array | None:
        """Rows passing the user's include/exclude/class/size/date filters (None: no filter)."""
        opts = self.options
        conditions: list[pa.Array] = []
        key = column(table, "key")
        if opts.include:
            inc = pc.starts_with(key, opts.include[0])
            for prefix in opts.include[1:]:
                inc = pc.or_(inc, pc.starts_with(key, prefix))
            conditions.append(inc)
        for pattern in opts.exclude:
            conditions.append(pc.invert(glob_mask(key, pattern)))
        if opts.storage_classes:
            sc = column(table, "storage_class")
            conditions.append(pc.is_in(sc, value_set=self._storage_classes))
        size = column(table, "size")
        if opts.min_size is not None:
            conditions.append(pc.greater_equal(size, opts.min_size))
        if opts.max_size is not None:
            conditions.append(pc.less_equal(size, opts.max_size))
        modified = column(table, "last_modified_date")
        if self._since is not None:
            conditions.append(pc.greater_equal(modified, self._since))
        if self._before is not None:
            conditions.append(pc.less(modified, self._before))
        if not conditions:
            return None
        wanted = pc.fill_null(conditions[0], False)
        for cond in conditions[1:]:
            wanted = pc.and_(wanted, pc.fill_null(cond, False))
        return wanted
