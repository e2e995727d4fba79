"""The Athena stack's Glue tables, as DuckDB views over local files laid out like S3.

This is the one place where running on DuckDB differs from running on Athena, and only in how
the tables are defined: the named queries' SQL runs verbatim (DuckDB takes Athena's ``?``
parameters, ``starts_with``, ``coalesce`` and ``array_agg(... ORDER BY ...)`` as they are).

- ``catalog``: the Parquet files under the CatalogTable's Location, read with Hive partitioning
  (``bucket=<name>/``), as partition projection reads them.
- ``inventory``: the data files each ``<InventoryLocation>dt=<dt>/symlink.txt`` lists, with
  ``dt`` from the folder name, as SymlinkTextInputFormat reads them.

Each view has exactly the Glue table's columns (a column the files lack is null, as Athena
reads Parquet by name) plus its partition column, so a query naming a column the Glue table
does not declare fails here too. ``s3://<bucket>/<key>`` is ``<root>/<bucket>/<key>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "boolean": "BOOLEAN",
                "timestamp": "TIMESTAMP"}  # fmt: skip


def local(root: Path, uri: str) -> Path:
    assert uri.startswith("s3://"), uri
    return root / uri.removeprefix("s3://")


def _select_list(table: dict[str, Any], have: set[str]) -> str:
    """The Glue table's columns, in order: the file's column, or a typed null."""
    cells = []
    for col in table["StorageDescriptor"]["Columns"]:
        name = f'"{col["Name"]}"'
        null = f"NULL::{DUCKDB_TYPES[col['Type']]} AS {name}"
        cells.append(name if col["Name"] in have else null)
    return ", ".join(cells)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_views(con: duckdb.DuckDBPyConnection, root: Path, tables: dict[str, Any]) -> None:
    """``tables``: TableInput by table name, resolved (``cfn_eval``) for concrete parameters."""
    catalog = tables["catalog"]
    (partition,) = catalog["PartitionKeys"]
    location = local(root, catalog["StorageDescriptor"]["Location"])
    pattern = f"{partition['Name']}=*/*.parquet"
    have = set(pq.read_schema(min(location.glob(pattern))).names)
    glob = str(location / pattern)
    con.execute(
        f"CREATE VIEW catalog AS SELECT {_select_list(catalog, have)}, {partition['Name']} "
        f"FROM read_parquet({_literal(glob)}, hive_partitioning = true, "
        f"hive_types = {{'{partition['Name']}': 'VARCHAR'}})"
    )
    inventory = tables.get("inventory")
    if inventory is None:
        return
    selects = []
    hive = local(root, inventory["StorageDescriptor"]["Location"])
    for symlink in sorted(hive.glob("dt=*/symlink.txt")):
        data = [str(local(root, line)) for line in symlink.read_text().split()]
        have = set(pq.read_schema(data[0]).names)
        dt = symlink.parent.name.removeprefix("dt=")
        selects.append(
            f"SELECT {_select_list(inventory, have)}, {_literal(dt)} AS dt "
            f"FROM read_parquet([{', '.join(map(_literal, data))}])"
        )
    con.execute("CREATE VIEW inventory AS " + " UNION ALL ".join(selects))
