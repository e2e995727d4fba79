"""The s3bundler Athena stack: a Glue database with the bundler's catalog as an external Parquet
table, optionally one S3 Inventory report as a second table, and saved (named) Athena queries
over them: where is this key, inventory objects not accounted for, failures by reason, objects
in two places.

    python cloudformation/s3bundler_athena_cfn.py > athena.cfn.json

The archive bucket and prefix are imported from the core stack (CoreStackName). Both tables use
partition projection, so Athena computes their partitions from the table properties: no
crawler, no MSCK REPAIR TABLE, nothing to add when a bucket or a report appears. A stack of its
own because the core template is close to CloudFormation's inline limit, and because nothing
here is used by the tasks: it is for people running queries, and the tasks' roles gain no
permission. Needs no AWS access. See docs/catalog.md and docs/deploy.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run as a file (python cloudformation/<stack>.py, as the docs show): import the package
    # beside this file, from the checkout this file is in, rather than any installed copy.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import pyarrow as pa
from troposphere import (
    AccountId,
    Equals,
    If,
    ImportValue,
    Join,
    Not,
    Output,
    Ref,
    Split,
    StackName,
    Sub,
    Template,
)
from troposphere.athena import NamedQuery
from troposphere.glue import (
    Column,
    Database,
    DatabaseInput,
    SerdeInfo,
    StorageDescriptor,
    Table,
    TableInput,
)

from cloudformation.athena_queries import QUERIES
from cloudformation.cfn_common import (
    Param,
    add_output_flags,
    add_param_flags,
    add_params,
    param_defaults,
    write_template,
)
from s3bundler.catalog import NULL_PARTITION, SCHEMA

CATALOG_TABLE = "catalog"
INVENTORY_TABLE = "inventory"

PARAMS: tuple[Param, ...] = (
    Param("CoreStackName", "String", "s3bundler",
          "Name of the deployed core stack (s3bundler_cfn.py); its ArchiveBucket and "
          "ArchivePrefix exports locate the catalog.", pattern=r"^[A-Za-z][-A-Za-z0-9]*$",
          constraint="a CloudFormation stack name"),
    Param("SourceBuckets", "CommaDelimitedList", None,
          "The core stack's SourceBuckets: the catalog's partitions (bucket=<name>)."),
    Param("InventoryLocation", "String", "",
          "s3:// URI of one S3 Inventory configuration's hive/ folder "
          "(.../<source-bucket>/<config-ID>/hive/), added as the table 'inventory'. Empty: no "
          "inventory table.",
          pattern=r"^$|^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(.+/)?hive/$",
          constraint="empty, or s3://<bucket>/.../hive/"),
    Param("InventoryFormat", "String", "Parquet",
          "Format of that inventory's data files (for CSV see docs/catalog.md).",
          allowed=("Parquet", "ORC")),
)  # fmt: skip

_HIVE = "org.apache.hadoop.hive.ql.io."
_PARQUET_SERDE = _HIVE + "parquet.serde.ParquetHiveSerDe"

#: Glue (Hive) type names of the Arrow types the catalog's schema uses.
GLUE_TYPES: dict[pa.DataType, str] = {
    pa.string(): "string",
    pa.int64(): "bigint",
    pa.timestamp("ms", tz="UTC"): "timestamp",
}

#: S3 Inventory's ORC and Parquet columns, with the types AWS's Athena DDL gives them ("Querying
#: Amazon S3 Inventory with Amazon Athena"). All but bucket and key are optional fields of a
#: report; read by name, a column the report lacks is null.
INVENTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("bucket", "string"), ("key", "string"), ("version_id", "string"),
    ("is_latest", "boolean"), ("is_delete_marker", "boolean"), ("size", "bigint"),
    ("last_modified_date", "timestamp"), ("e_tag", "string"), ("storage_class", "string"),
    ("is_multipart_uploaded", "boolean"), ("replication_status", "string"),
    ("encryption_status", "string"), ("object_lock_retain_until_date", "bigint"),
    ("object_lock_mode", "string"), ("object_lock_legal_hold_status", "string"),
    ("intelligent_tiering_access_tier", "string"), ("bucket_key_status", "string"),
    ("checksum_algorithm", "string"), ("object_access_control_list", "string"),
    ("object_owner", "string"), ("lifecycle_expiration_date", "timestamp"),
)  # fmt: skip


def catalog_columns() -> list[tuple[str, str]]:
    """(name, Glue type) of every column of ``s3bundler.catalog.SCHEMA``, in order (a type
    without a Glue name fails here, at generation)."""
    return [(f.name, GLUE_TYPES[f.type]) for f in SCHEMA]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Print the s3bundler Athena CloudFormation template (JSON) on stdout.",
    )
    add_output_flags(p)
    add_param_flags(p, PARAMS)
    return p


def build_template(defaults: dict[str, str | None] | None = None) -> Template:
    """The Athena stack. ``defaults`` overrides parameter defaults by parameter name."""
    t = Template()
    t.set_version("2010-09-09")
    t.set_description(
        "s3bundler Athena: Glue database with the bundler's catalog (and optionally an S3 "
        "Inventory report) as tables, and named queries over them"
    )
    add_params(t, PARAMS, defaults)
    t.add_condition("HasInventoryTable", Not(Equals(Ref("InventoryLocation"), "")))
    t.add_condition("OrcInventory", Equals(Ref("InventoryFormat"), "ORC"))

    def core(name: str) -> ImportValue:
        return ImportValue(Sub("${CoreStackName}-" + name))

    catalog_location = Join(
        "", ["s3://", core("ArchiveBucket"), "/", core("ArchivePrefix"), "/catalog/"]
    )
    database = add_athena(t, catalog_location, Ref("SourceBuckets"))
    t.add_output(
        Output("DatabaseName", Value=Ref(database), Description="the Glue database for Athena")
    )
    return t


def add_athena(t: Template, catalog_location: Any, source_buckets: Any) -> Database:
    """The database (named after the stack, '-' as '_'), its tables and the named queries.
    Needs the conditions HasInventoryTable and OrcInventory and the Inventory* parameters."""
    database = t.add_resource(
        Database(
            "GlueDatabase",
            CatalogId=AccountId,
            DatabaseInput=DatabaseInput(
                Name=Join("_", Split("-", StackName)),
                Description="s3bundler catalog and S3 Inventory tables",
            ),
        )
    )
    _catalog_table(t, database, catalog_location, source_buckets)
    _inventory_table(t, database)
    for query in QUERIES:
        t.add_resource(
            NamedQuery(
                query.logical_id,
                Database=Ref(database),
                Name=query.name,
                Description=query.description,
                QueryString=query.sql,
            )
        )
    return database


def _columns(columns: Sequence[tuple[str, str]]) -> list[Column]:
    return [Column(Name=name, Type=glue_type) for name, glue_type in columns]


def _catalog_table(t: Template, database: Database, location: Any, sources: Any) -> None:
    # Partition projection, enum type: the partitions are the source buckets, the only buckets
    # the bundler's role may read, so the only catalog partitions there can be, and Hive's null
    # partition, where the failures of manifest rows without a bucket (BadManifestRow) go.
    # Unlike the injected type, which refuses any query without `bucket = '...'`, an enum lets
    # a query span every bucket (failures by reason, duplicates, a join with an inventory), and
    # with `bucket = '...'` Athena reads that partition only. The layout is Hive's, which
    # projection assumes by default (<location>bucket=<value>/): no storage.location.template.
    t.add_resource(
        Table(
            "CatalogTable",
            CatalogId=AccountId,
            DatabaseName=Ref(database),
            TableInput=TableInput(
                Name=CATALOG_TABLE,
                TableType="EXTERNAL_TABLE",
                Parameters={
                    "classification": "parquet",
                    "projection.enabled": "true",
                    "projection.bucket.type": "enum",
                    "projection.bucket.values": Join(",", [Join(",", sources), NULL_PARTITION]),
                },
                PartitionKeys=[Column(Name="bucket", Type="string")],
                StorageDescriptor=StorageDescriptor(
                    Columns=_columns(catalog_columns()),
                    Location=location,
                    InputFormat=_HIVE + "parquet.MapredParquetInputFormat",
                    OutputFormat=_HIVE + "parquet.MapredParquetOutputFormat",
                    SerdeInfo=SerdeInfo(SerializationLibrary=_PARQUET_SERDE),
                ),
            ),
        )
    )


def _inventory_table(t: Template, database: Database) -> None:
    # As AWS documents it for Athena: each report's hive/dt=<YYYY-MM-DD-HH-MM>/symlink.txt lists
    # its data files (SymlinkTextInputFormat); dt is projected as an hourly date from the first
    # month S3 Inventory existed. ORC is read by column index unless told otherwise: by name, the
    # optional fields a report lacks are null instead of shifting the others.
    t.add_resource(
        Table(
            "InventoryTable",
            Condition="HasInventoryTable",
            CatalogId=AccountId,
            DatabaseName=Ref(database),
            TableInput=TableInput(
                Name=INVENTORY_TABLE,
                TableType="EXTERNAL_TABLE",
                Parameters={
                    "projection.enabled": "true",
                    "projection.dt.type": "date",
                    "projection.dt.format": "yyyy-MM-dd-HH-mm",
                    "projection.dt.range": "2016-11-01-00-00,NOW",
                    "projection.dt.interval": "1",
                    "projection.dt.interval.unit": "HOURS",
                },
                PartitionKeys=[Column(Name="dt", Type="string")],
                StorageDescriptor=StorageDescriptor(
                    Columns=_columns(INVENTORY_COLUMNS),
                    Location=Ref("InventoryLocation"),
                    InputFormat=_HIVE + "SymlinkTextInputFormat",
                    OutputFormat=_HIVE + "IgnoreKeyTextOutputFormat",
                    SerdeInfo=If(
                        "OrcInventory",
                        SerdeInfo(
                            SerializationLibrary=_HIVE + "orc.OrcSerde",
                            Parameters={"orc.column.index.access": "false"},
                        ),
                        SerdeInfo(SerializationLibrary=_PARQUET_SERDE),
                    ),
                ),
            ),
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    write_template(build_template(param_defaults(args, PARAMS)), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
