"""The pieces under reconcile: hash parts on disk, and one part's comparison."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from s3restore.partitions import Partitions, part_numbers, parts_for
from s3restore.reconcile_match import CATALOG, INVENTORY, compare


def test_parts_hold_every_row_once_and_every_row_of_a_key_together(tmp_path):
    schema = pa.schema([("key", pa.string()), ("n", pa.int64())])
    keys = [f"k/{i % 700}" for i in range(3000)]
    parts = Partitions(str(tmp_path), "x", schema, parts=7)
    for start in range(0, 3000, 250):
        chunk = keys[start : start + 250]
        parts.add(pa.table({"key": chunk, "n": range(start, start + len(chunk)), "extra": chunk}))
    parts.close()
    tables = list(parts)
    assert sum(t.num_rows for t in tables) == parts.rows == 3000
    assert sorted(n for t in tables for n in t.column("n").to_pylist()) == list(range(3000))
    homes = [set(t.column("key").to_pylist()) for t in tables]
    assert all(a.isdisjoint(b) for i, a in enumerate(homes) for b in homes[i + 1 :])
    assert all(t.schema == schema for t in tables)
    assert all(abs(t.num_rows - 3000 / 7) < 3000 / 7 for t in tables)  # roughly even
    parts.remove()
    assert list(tmp_path.iterdir()) == []


def test_part_numbers_are_stable_and_sizing_rounds_up():
    keys = pa.array(["a", "b", "ü/x"])
    assert part_numbers(keys, 5).to_pylist() == part_numbers(keys, 5).to_pylist()
    assert part_numbers(keys, 1).to_pylist() == [0, 0, 0]
    assert (parts_for(0, 10), parts_for(10, 10), parts_for(11, 10)) == (1, 1, 2)


def inventory(*rows):
    keys, versions, sizes = zip(*rows, strict=True) if rows else ((), (), ())
    groups = [0] * len(keys)
    return pa.table(
        {"key": keys, "version_id": versions, "size": sizes, "group": groups}, schema=INVENTORY
    )


def catalog(*rows):
    cols = {name: [] for name in CATALOG.names}
    for key, version, status, reason in rows:
        values = dict(key=key, version_id=version, status=status, size=1, archive=0, copy=None,
                      reason=reason, detail=None, manifest=0)  # fmt: skip
        for name in CATALOG.names:
            cols[name].append(values[name])
    return pa.table(cols, schema=CATALOG)


def test_each_object_once_is_complete_and_counted_by_status():
    out = compare(
        inventory(("a", None, 1), ("b", "v1", 2), ("b", "v2", 2), ("c", "", 3)),
        catalog(("a", "", "archived", None), ("b", "v1", "copied", None),
                ("b", "v2", "failed", "NoSuchKey"), ("c", "", "archived", None)),
    )  # fmt: skip
    assert (out.missing, out.duplicated, out.unexpected, out.problems.num_rows) == (0, 0, 0, 0)
    assert out.accounted == Counter(
        {("archived", ""): 2, ("copied", ""): 1, ("failed", "NoSuchKey"): 1}
    )


def test_a_versionless_selection_matches_the_version_the_bundler_recorded():
    out = compare(inventory(("a", None, 1)), catalog(("a", "3HL4kqtJ", "archived", None)))
    assert out.problems.num_rows == 0 and out.accounted[("archived", "")] == 1


def test_a_versioned_selection_needs_that_version():
    out = compare(inventory(("a", "v1", 1)), catalog(("a", "v2", "archived", None)))
    assert (out.missing, out.unexpected) == (1, 1)
    assert sorted(out.problems.column("problem").to_pylist()) == ["missing", "unexpected"]


def test_missing_duplicated_and_unexpected_rows():
    out = compare(
        inventory(("gone", "", 5), ("twice", "", 1), ("ok", "", 1)),
        catalog(("twice", "", "archived", None), ("twice", "", "copied", None),
                ("ok", "", "archived", None), ("stray", "", "archived", None)),
    )  # fmt: skip
    assert (out.missing, out.duplicated, out.unexpected) == (1, 1, 1)
    rows = out.problems.to_pylist()
    assert [(r["problem"], r["key"], r["selected"], r["catalog_rows"]) for r in rows] == [
        ("missing", "gone", 1, 0),
        ("unexpected", "stray", 0, 1),
        ("duplicated", "twice", 1, 2),
        ("duplicated", "twice", 1, 2),
    ]
    assert rows[0]["size"] == 5 and rows[0]["group"] == 0 and rows[0]["status"] is None
    assert {r["status"] for r in rows[2:]} == {"archived", "copied"}


def test_an_empty_side_is_all_missing_or_all_unexpected():
    assert compare(inventory(("a", "", 1)), catalog()).missing == 1
    assert compare(inventory(), catalog(("a", "", "archived", None))).unexpected == 1
    assert compare(inventory(), catalog()).problems.num_rows == 0
