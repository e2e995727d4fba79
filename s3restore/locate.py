"""Where objects went, from the catalog: what ``find`` prints and ``restore`` acts on."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from s3bundler.catalog import ARCHIVED, COPIED, FAILED
from s3common.errors import UsageError
from s3common.s3uri import S3Uri, parse_s3_uri
from s3restore.catalog_search import Catalog
from s3restore.member_reader import Member


@dataclass(frozen=True)
class Wanted:
    """An object asked for: bucket, key and (optionally) one version."""

    bucket: str
    key: str
    version_id: str | None = None

    def __str__(self) -> str:
        version = f" (version {self.version_id})" if self.version_id else ""
        return f"s3://{self.bucket}/{self.key}{version}"


@dataclass(frozen=True)
class Found:
    """One catalog row of a wanted object."""

    wanted: Wanted
    row: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.row["status"])

    def member(self) -> Member:
        return Member.from_catalog(self.row)

    @property
    def copy(self) -> S3Uri:
        return parse_s3_uri(self.row["copy"])

    def describe(self) -> str:
        """One line: where it is."""
        r = self.row
        what = f"s3://{r['bucket']}/{r['key']}" + (
            f" (version {r['version_id']})" if r.get("version_id") else ""
        )
        if self.status == ARCHIVED:
            first, size = int(r["offset"]), int(r["size"])
            where = f"bytes {first}-{first + size - 1}" if size else "empty"
            gz = (
                f", compressed frame at {r['gz_offset']} +{r['gz_skip']}"
                if r.get("gz_offset") is not None
                else ""
            )
            return (
                f"{what}: archived in {r['archive']} as {r['member']}, {where} ({size} bytes"
                f"{gz}), md5 {r.get('md5') or '-'}, crc32c {r.get('crc32c') or '-'}"
            )
        if self.status == COPIED:
            return f"{what}: copied to {r['copy']} ({r.get('size')} bytes)"
        return f"{what}: not archived: {r.get('reason')} ({r.get('detail')}), {r['manifest']}.dlq"

    def json(self) -> str:
        return json.dumps(
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.row.items()},
            ensure_ascii=False,
            sort_keys=True,
        )


def locate(catalog: Catalog, wanted: Sequence[Wanted]) -> dict[Wanted, list[Found]]:
    """Every catalog row of every wanted object (an empty list: it is nowhere)."""
    by_bucket: dict[str, list[Wanted]] = defaultdict(list)
    for w in wanted:
        by_bucket[w.bucket].append(w)
    found: dict[Wanted, list[Found]] = {w: [] for w in wanted}
    for bucket, group in by_bucket.items():
        rows = (
            catalog.find(bucket, group[0].key, group[0].version_id)
            if len(group) == 1
            else catalog.find_many(bucket, [w.key for w in group])
        )
        index: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            index[row["key"]].append(row)
        for w in group:
            for row in index.get(w.key, []):
                if w.version_id is None or (row.get("version_id") or "") == w.version_id:
                    found[w].append(Found(w, row))
    return found


def locate_under(catalog: Catalog, bucket: str, prefix: str) -> dict[Wanted, list[Found]]:
    """Every key of ``bucket`` under ``prefix`` that the catalog knows, in key order, with
    its rows (each key wanted without a version, as a listed key would be)."""
    found: dict[Wanted, list[Found]] = defaultdict(list)
    for row in sorted(catalog.rows_under(bucket, prefix), key=lambda r: r["key"]):
        wanted = Wanted(bucket, row["key"])
        found[wanted].append(Found(wanted, row))
    return dict(found)


def best(found: Iterable[Found]) -> Found | None:
    """What to restore from when an object is in more than one place: an archived or copied
    row (the latest archive run wins), else the failure."""
    rows = list(found)
    usable = [f for f in rows if f.status in (ARCHIVED, COPIED)]
    if usable:
        return max(usable, key=lambda f: f.row.get("manifest") or "")
    failed = [f for f in rows if f.status == FAILED]
    return failed[-1] if failed else None


def read_list(text: str, source: str) -> list[Wanted]:
    """``--from-list``: CSV ``bucket,key[,version_id]`` (a header row of those names is
    allowed); one-line UsageError naming the file and line on a bad row."""
    wanted = []
    for number, cells in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if not cells or (number == 1 and [c.strip() for c in cells[:2]] == ["bucket", "key"]):
            continue
        if len(cells) not in (2, 3) or not cells[0] or not cells[1]:
            raise UsageError(f"{source} line {number}: expected bucket,key[,version_id]")
        version = cells[2] if len(cells) == 3 and cells[2] else None
        wanted.append(Wanted(cells[0], cells[1], version))
    if not wanted:
        raise UsageError(f"{source}: no objects listed")
    return wanted
