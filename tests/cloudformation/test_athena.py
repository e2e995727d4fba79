"""The Athena stack: its Glue tables say what the bundler writes (s3bundler.catalog) and what S3
Inventory writes (the grouper's field names), where it writes it, and the Glue and Athena APIs
accept its resources as CloudFormation would send them (moto, which validates the shapes;
moto's CloudFormation itself skips Glue and Athena types). The SQL is proven in tests/sql."""

from __future__ import annotations

import re
from typing import Any

import boto3
import pyarrow as pa
import pytest

from cloudformation import athena_queries
from s3bundler.catalog import SCHEMA, catalog_key
from s3grouper.inventory import FIELDS
from s3grouper.readers import NORMALIZED
from tests.cloudformation.cfn_eval import Evaluator

PARAMS = {"SourceBuckets": "src-a,src-b"}
IMPORTS = {"s3bundler-ArchiveBucket": "arch", "s3bundler-ArchivePrefix": "arc/hives"}
INVENTORY = "s3://inv/reports/src-a/daily/hive/"

#: What each Arrow type the bundler and the grouper use is called in Glue (Hive DDL names).
GLUE_NAMES = {
    pa.string(): "string",
    pa.int64(): "bigint",
    pa.bool_(): "boolean",
    pa.timestamp("ms", tz="UTC"): "timestamp",
}


def athena_eval(template: dict[str, Any], **params: str) -> Evaluator:
    return Evaluator(template, {**PARAMS, **params}, imports=IMPORTS)


def table_input(template: dict[str, Any], lid: str, **params: str) -> dict[str, Any]:
    return athena_eval(template, **params).value(template["Resources"][lid]["Properties"])[
        "TableInput"
    ]


def test_catalog_table_has_every_column_of_the_catalog_schema(athena_template):
    """Column for column, in order, with the Glue name of its Arrow type (the generator derives
    the list from SCHEMA, so a new catalog column reaches the table; a new Arrow type without a
    Glue name fails the generator)."""
    table = table_input(athena_template, "CatalogTable")
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [(f.name, GLUE_NAMES[f.type]) for f in SCHEMA]
    assert {"key", "status", "archive", "offset", "copy", "reason"} <= {c for c, _ in columns}
    assert table["PartitionKeys"] == [{"Name": "bucket", "Type": "string"}]
    assert "bucket" not in SCHEMA.names  # the partition comes from the path only


def test_catalog_table_reads_where_the_bundler_writes(athena_template):
    table = table_input(athena_template, "CatalogTable")
    assert table["TableType"] == "EXTERNAL_TABLE" and table["Name"] == "catalog"
    sd = table["StorageDescriptor"]
    assert sd["Location"] == "s3://arch/arc/hives/catalog/"
    # Hive layout under it, as partition projection assumes without a location template.
    key = catalog_key("arc/hives", "src-b", "job.0")
    assert f"s3://arch/{key}" == sd["Location"] + "bucket=src-b/job.0.parquet"
    assert sd["SerdeInfo"] == {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }
    assert sd["InputFormat"].endswith("MapredParquetInputFormat")
    assert table["Parameters"] == {
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.bucket.type": "enum",
        "projection.bucket.values": "src-a,src-b,__HIVE_DEFAULT_PARTITION__",
    }


def test_inventory_table_only_with_a_location(athena_template):
    assert not athena_eval(athena_template).resource_exists("InventoryTable")
    assert athena_eval(athena_template, InventoryLocation=INVENTORY).resource_exists(
        "InventoryTable"
    )
    pattern = re.compile(athena_template["Parameters"]["InventoryLocation"]["AllowedPattern"])
    for good in ("", INVENTORY, "s3://inv/src-a/daily/hive/"):
        assert pattern.fullmatch(good), good
    for bad in ("s3://inv/src-a/daily/", "inv/src-a/daily/hive/", "s3://inv/hive"):
        assert not pattern.fullmatch(bad), bad


@pytest.mark.parametrize("fmt", ["Parquet", "ORC"])
def test_inventory_table_is_the_one_aws_documents(athena_template, fmt):
    table = table_input(
        athena_template, "InventoryTable", InventoryLocation=INVENTORY, InventoryFormat=fmt
    )
    sd = table["StorageDescriptor"]
    assert table["Name"] == "inventory" and sd["Location"] == INVENTORY
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert sd["InputFormat"] == "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"
    assert sd["OutputFormat"] == "org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat"
    if fmt == "ORC":  # by name, like Parquet: absent optional fields are null, not shifted
        assert sd["SerdeInfo"] == {
            "SerializationLibrary": "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
            "Parameters": {"orc.column.index.access": "false"},
        }
    else:
        assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert table["Parameters"]["projection.dt.type"] == "date"
    assert table["Parameters"]["projection.dt.format"] == "yyyy-MM-dd-HH-mm"
    assert table["Parameters"]["projection.dt.range"].endswith(",NOW")
    # Every field the grouper knows is a column, with the type its readers give it.
    columns = {c["Name"]: c["Type"] for c in sd["Columns"]}
    assert {snake for _, snake in FIELDS} <= set(columns)
    for field in NORMALIZED:
        assert columns[field.name] == GLUE_NAMES[field.type], field.name


def test_named_queries_and_no_iam(athena_template):
    res = athena_template["Resources"]
    queries = {lid: r["Properties"] for lid, r in res.items() if "Athena" in r["Type"]}
    assert set(queries) == {q.logical_id for q in athena_queries.QUERIES}
    assert len({p["Name"] for p in queries.values()}) == len(queries)
    # Queries are for people; the stack grants nothing to anyone.
    assert not [lid for lid, r in res.items() if r["Type"].startswith("AWS::IAM::")]
    database = athena_eval(athena_template).value(res["GlueDatabase"]["Properties"])
    assert database["DatabaseInput"]["Name"] == "s3b"  # the stack name, '-' as '_'
    named = Evaluator(athena_template, PARAMS, pseudo={"AWS::StackName": "my-s3-bundler"})
    assert named.value(res["GlueDatabase"]["Properties"])["DatabaseInput"]["Name"] == (
        "my_s3_bundler"
    )


def test_glue_and_athena_accept_the_resources(aws, athena_template):
    """The resolved properties, sent as CloudFormation sends them: botocore checks them against
    the Glue and Athena API models, moto stores them."""
    res = athena_template["Resources"]
    ev = athena_eval(athena_template, InventoryLocation=INVENTORY, InventoryFormat="ORC")
    glue, athena = boto3.client("glue"), boto3.client("athena")
    database = ev.value(res["GlueDatabase"]["Properties"])["DatabaseInput"]
    glue.create_database(DatabaseInput=database)
    for lid in ("CatalogTable", "InventoryTable"):
        props = ev.value(res[lid]["Properties"])
        assert props["DatabaseName"] == "<Ref GlueDatabase>"
        glue.create_table(DatabaseName=database["Name"], TableInput=props["TableInput"])
    stored = glue.get_table(DatabaseName=database["Name"], Name="catalog")["Table"]
    assert [c["Name"] for c in stored["StorageDescriptor"]["Columns"]] == SCHEMA.names
    for query in athena_queries.QUERIES:
        props = ev.value(res[query.logical_id]["Properties"])
        props["Database"] = database["Name"]
        query_id = athena.create_named_query(**props)["NamedQueryId"]
        saved = athena.get_named_query(NamedQueryId=query_id)["NamedQuery"]
        assert saved["QueryString"] == query.sql
