"""One part of a reconcile: a job's selected inventory rows against its catalog rows, for the
keys that hash to this part (s3restore/partitions.py), all in Arrow (hash joins and group-bys;
only problem rows ever become Python objects).

An object is its key and version. An inventory row without a version (an unversioned
inventory, or an object written while versioning was off) is matched by key alone: the
bundler records the version S3 answered with (s3bundler/records.py), which the inventory
did not know. Per object, ``selected`` (inventory rows) against ``catalog_rows``:

- equal: accounted for (normally 1 and 1); its catalog rows are counted by status and reason;
- fewer catalog rows: **missing**; more, with selected >= 1: **duplicated** (two archives,
  archived and in a DLQ, copied twice); a catalog row of an object not selected at all:
  **unexpected**.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

MISSING, DUPLICATED, UNEXPECTED = "missing", "duplicated", "unexpected"

#: The selected inventory rows, as reconcile keeps them (``group``: the sub-manifest number the
#: grouping gives the row, null when the job records no thresholds).
INVENTORY = pa.schema(
    [("key", pa.string()), ("version_id", pa.string()), ("size", pa.int64()), ("group", pa.int32())]
)
#: The catalog rows of the job, as reconcile keeps them: ``manifest`` and ``archive`` are
#: numbers (the job's sub-manifests in order; the archives as reconcile met them), so a row
#: takes some 70 bytes rather than 250.
CATALOG = pa.schema(
    [
        ("key", pa.string()),
        ("version_id", pa.string()),
        ("status", pa.string()),
        ("size", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("manifest", pa.int32()),
        ("archive", pa.int32()),
        ("copy", pa.string()),
    ]
)
#: Problem rows: the catalog columns plus the problem and the two counts.
PROBLEMS = pa.schema(
    [
        ("problem", pa.string()),
        *CATALOG,
        ("group", pa.int32()),
        ("selected", pa.int64()),
        ("catalog_rows", pa.int64()),
    ]
)
_SEP = "\x00"  # between key and version in the object id (S3 keys never hold NUL)


@dataclass
class PartOutcome:
    """What one part contributes: accounted catalog rows by (status, reason), the problem
    counts, and the problem rows (:data:`PROBLEMS`, sorted by key)."""

    accounted: Counter[tuple[str, str]] = field(default_factory=Counter)
    missing: int = 0  # objects (x times selected but not in the catalog)
    duplicated: int = 0  # objects with more catalog rows than selections
    unexpected: int = 0  # catalog rows of objects not selected
    problems: pa.Table = field(default_factory=PROBLEMS.empty_table)


def _ids(keys: pa.Array, versions: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(keys, pc.fill_null(versions, ""), _SEP)


def object_ids(inventory: pa.Table, catalog: pa.Table) -> tuple[pa.Array, pa.Array]:
    """(inventory ids, catalog ids): ``key NUL version``; a catalog row whose exact id is not
    selected but whose key is selected without a version gets that versionless id."""
    inv_keys, inv_versions = inventory.column("key"), inventory.column("version_id")
    inv_ids = _ids(inv_keys, inv_versions)
    cat_ids = _ids(catalog.column("key"), catalog.column("version_id"))
    versionless = pc.filter(inv_keys, pc.equal(pc.fill_null(inv_versions, ""), ""))
    if len(versionless) and len(cat_ids):
        loose = pc.and_(
            pc.invert(pc.is_in(cat_ids, value_set=inv_ids)),
            pc.is_in(catalog.column("key"), value_set=versionless),
        )
        if pc.any(loose).as_py():
            bare = pc.binary_join_element_wise(catalog.column("key"), "", _SEP)
            cat_ids = pc.if_else(loose, bare, cat_ids)
    return inv_ids, cat_ids


def _counts(ids: pa.Array | pa.ChunkedArray, name: str) -> pa.Table:
    return (
        pa.table({"id": ids})
        .group_by("id")
        .aggregate([("id", "count")])
        .rename_columns(["id", name])
    )


def compare(inventory: pa.Table, catalog: pa.Table) -> PartOutcome:
    """Compare one part (:data:`INVENTORY` rows against :data:`CATALOG` rows)."""
    inv_ids, cat_ids = object_ids(inventory, catalog)
    counts = _counts(inv_ids, "selected").join(
        _counts(cat_ids, "catalog_rows"), "id", join_type="full outer"
    )
    selected = pc.fill_null(counts.column("selected"), 0)
    rows = pc.fill_null(counts.column("catalog_rows"), 0)
    counts = pa.table({"id": counts.column("id"), "selected": selected, "catalog_rows": rows})
    short = counts.filter(pc.less(rows, selected))
    extra = counts.filter(pc.and_(pc.greater(rows, selected), pc.greater(selected, 0)))
    unselected = counts.filter(pc.equal(selected, 0))
    inv = inventory.append_column("id", inv_ids)
    cat = catalog.append_column("id", cat_ids)
    out = PartOutcome(missing=short.num_rows, duplicated=extra.num_rows)
    out.unexpected = pc.sum(unselected.column("catalog_rows")).as_py() or 0
    out.accounted = _by_status(cat.filter(pc.is_in(cat_ids, value_set=inv_ids)))
    problems = [
        _problem_rows(MISSING, inv.join(short, "id", join_type="inner")),
        _problem_rows(DUPLICATED, cat.join(extra, "id", join_type="inner")),
        _problem_rows(UNEXPECTED, cat.join(unselected, "id", join_type="inner")),
    ]
    out.problems = pa.concat_tables(problems).sort_by(
        [("key", "ascending"), ("version_id", "ascending"), ("problem", "ascending")]
    )
    return out


def _problem_rows(problem: str, rows: pa.Table) -> pa.Table:
    n = rows.num_rows
    columns = {}
    for name in PROBLEMS.names:
        if name == "problem":
            columns[name] = pa.repeat(pa.scalar(problem), n)
        elif name in rows.column_names:
            columns[name] = rows.column(name)
        else:
            columns[name] = pa.nulls(n, PROBLEMS.field(name).type)
    return pa.table(columns, schema=PROBLEMS)


def _by_status(rows: pa.Table) -> Counter[tuple[str, str]]:
    if not rows.num_rows:
        return Counter()
    table = pa.table(
        {"status": rows.column("status"), "reason": pc.fill_null(rows.column("reason"), "")}
    )
    grouped = table.group_by(["status", "reason"]).aggregate([("status", "count")])
    return Counter(
        {
            (s, r): n
            for s, r, n in zip(
                grouped.column("status").to_pylist(),
                grouped.column("reason").to_pylist(),
                grouped.column("status_count").to_pylist(),
                strict=True,
            )
        }
    )
