"""Normalized tables (as the readers yield them) for unit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from s3grouper.readers import NORMALIZED

DEFAULTS: dict[str, Any] = {
    "bucket": "src",
    "version_id": None,
    "is_latest": None,
    "is_delete_marker": None,
    "size": 1,
    "last_modified_date": datetime(2024, 1, 31, 12, 0, tzinfo=UTC),
    "e_tag": "d41d8cd98f00b204e9800998ecf8427e",
    "storage_class": "STANDARD",
    "is_multipart_uploaded": False,
    "intelligent_tiering_access_tier": None,
}


def normalized(*rows: dict[str, Any]) -> pa.Table:
    """Rows keyed by snake names (``key`` required); the rest from DEFAULTS."""
    full = [{**DEFAULTS, **row} for row in rows]
    return pa.Table.from_pylist(full, schema=NORMALIZED)


def keys(table: pa.Table) -> list[str]:
    return table.column("key").to_pylist()
