"""``s3grouper --plan``: the job's shape and costs from the inventory alone, checked against a
hand computation from the price table (docs/costs.md gives the same formulas)."""

from __future__ import annotations

import json

import boto3
import pytest

from s3bundler.multipart import initial_part_size, part_size
from s3common.prices import load_prices
from s3common.requests import RequestCounter
from s3common.s3uri import parse_s3_uri
from s3common.sizes import GiB, KiB, MiB
from s3grouper.grouper import GrouperClients, GrouperOptions, run_grouper
from s3grouper.grouping import Thresholds
from s3grouper.plan_costs import grouper_requests, upload_parts
from s3jobs import inventory_report as fx
from tests.s3grouper.support import grouper, objects

GB = 2**30
ROWS = [  # in inventory order; -c 3 groups them [0, 1, 2] [3, 4, 5]
    {"Key": "a/small-1", "Size": 1000},
    {"Key": "a/small-2", "Size": 100 * KiB},
    {"Key": "a/mid", "Size": MiB},
    {"Key": "ia/tiny", "Size": 10 * KiB, "StorageClass": "STANDARD_IA"},
    {"Key": "ia/big", "Size": 200 * KiB, "StorageClass": "STANDARD_IA"},
    {"Key": "big/huge", "Size": 3 * GiB},  # above the bundler's 2 GiB: copied
    {"Key": "dir/", "Size": 0},  # skipped: folder
    {"Key": "cold", "Size": 5, "StorageClass": "GLACIER"},  # skipped: glacier
]


@pytest.fixture()
def inventory(s3, bucket) -> str:
    return fx.put_inventory(s3, bucket, ROWS, source_bucket="src", files=2)


def plan(inventory: str, *args: str) -> dict:
    result = grouper("-m", inventory, "--plan", "--json", "-c", "3", "--no-metrics", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_plan_is_a_hand_computation_from_the_price_table(s3, bucket, inventory):
    before = objects(s3, bucket)
    doc = plan(inventory, "--archive-class", "GLACIER")
    assert objects(s3, bucket) == before  # nothing written

    p = load_prices("us-east-1")
    std, ia, gl = p.storage("STANDARD"), p.storage("STANDARD_IA"), p.storage("GLACIER")
    get, ia_get = p.request("STANDARD", "get"), p.request("STANDARD_IA", "get")
    put, gl_put = p.request("STANDARD", "put"), p.request("GLACIER", "put")

    def glacier(n: int, nbytes: int) -> float:  # 40 KB per object: 32 at GLACIER, 8 at STANDARD
        return nbytes / GB * gl + n * (32 * KiB / GB * gl + 8 * KiB / GB * std)

    # today: STANDARD by bytes; STANDARD_IA at least 128 KiB per object
    today = (1000 + 100 * KiB + MiB + 3 * GiB) / GB * std + (128 * KiB + 200 * KiB) / GB * ia
    # after: two archives (2048 bytes of tar per member), the copy and its .metadata, the
    # index rows (220 bytes and the key twice), the catalog (60 bytes per object)
    archives = glacier(2, (1000 + 100 * KiB + MiB + 3 * 2048) + (10 * KiB + 200 * KiB + 2 * 2048))
    copies = glacier(1, 3 * GiB) + 1024 / GB * std
    keys = len("a/small-1a/small-2a/midia/tinyia/big")
    indexes = (5 * 220 + 2 * keys) / GB * std
    catalog = 6 * 60 / GB * std
    after = archives + copies + indexes + catalog
    # one-time: GETs (+ STANDARD_IA's retrieval fee), 2 archives of one part each, 2
    # sub-manifests' own requests, the copy, the grouper, SQS
    reads = 3 * get + 2 * ia_get + (10 + 200) * KiB / GB * p.retrieval("STANDARD_IA")
    writes = (2 + 2 + 2) * gl_put
    per_manifest = (2 + 4) * get + (2 + 6) * put
    copy = gl_put + put + 2 * get
    grouper_made = (4 + 3 + 1) * get + (1 + 2 + 2 + 2 + 1) * put
    sqs = 6 * 0.4 / 1e6
    one_time = reads + writes + per_manifest + copy + grouper_made + sqs
    # a lifecycle rule instead: objects of 128 KiB and more move, the others stay
    lifecycle = glacier(2, MiB + 3 * GiB) + glacier(1, 200 * KiB)
    lifecycle += (1000 + 100 * KiB) / GB * std + 128 * KiB / GB * ia

    assert doc["monthly"]["today"] == pytest.approx(today)
    assert doc["monthly"]["after"] == pytest.approx(after)
    assert doc["monthly"]["after_by_output"] == pytest.approx(
        {"archives": archives, "copies": copies, "indexes": indexes, "catalog": catalog}
    )
    assert doc["one_time"] == pytest.approx(one_time)
    assert doc["break_even_months"] == pytest.approx(one_time / (today - after))
    assert doc["monthly"]["lifecycle"] == pytest.approx(lifecycle)
    assert doc["lifecycle_transitions"] == pytest.approx(
        {"requests": 3, "dollars": 3 * p.transition("GLACIER")}
    )

    # the shape
    assert (doc["rows"], doc["objects"]) == (8, 6)
    assert doc["skipped"] == {"folder": 1, "glacier": 1}
    assert (doc["sub_manifests"], doc["archives"]) == (2, 2)
    assert doc["archived"] == {"objects": 5, "bytes": 1000 + 100 * KiB + MiB + 210 * KiB}
    assert doc["copied"] == {"objects": 1, "bytes": 3 * GiB, "maxsize": 2 * GiB}
    filled = {h["label"]: h["objects"] for h in doc["histogram"] if h["objects"]}
    assert filled == {"< 1 KiB": 1, "4-16 KiB": 1, "64-128 KiB": 1, "128-256 KiB": 1,
                      "1-4 MiB": 1, "1-4 GiB": 1}  # fmt: skip
    assert doc["storage_classes"]["STANDARD_IA"] == {"objects": 2, "bytes": 210 * KiB,
                                                     "under_128k": 1}  # fmt: skip


def test_the_text_plan_ends_with_the_break_even_and_the_class_table(inventory):
    result = grouper("-m", inventory, "--plan", "-c", "3", "--archive-class", "DEEP_ARCHIVE")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "(nothing written)" in text and "us-east-1 list prices" in text
    assert "after bundling in DEEP_ARCHIVE" in text
    assert "break-even: " in text and " (saves $" in text
    for cls in ("STANDARD", "STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"):
        assert f"\n  {cls} " in text
    # bundling into STANDARD saves no storage: it never breaks even
    standard = plan(inventory, "--archive-class", "STANDARD")
    assert standard["break_even_months"] is None


def test_prices_of_another_region_or_a_file(tmp_path, inventory):
    eu = plan(inventory, "--price-region", "eu-central-1")
    assert eu["prices"]["region"] == "eu-central-1" and eu["prices"]["unconfirmed"]
    other = plan(inventory, "--price-region", "xx-nowhere-1")
    assert other["prices"]["region"] == "us-east-1"
    assert any("xx-nowhere-1" in n for n in other["notes"])
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"regions": {"us-east-1": {"storage_gb_month": {"GLACIER": 0}}}}))
    free = plan(inventory, "--prices", str(path))
    base = plan(inventory)
    assert free["monthly"]["after"] < base["monthly"]["after"]


def test_without_plan_the_bucket_is_still_required(inventory):
    result = grouper("-m", inventory)
    assert result.returncode == 2 and "-b/--bucket" in result.stderr


def test_the_grouper_request_estimate_is_what_a_first_run_makes(s3, bucket, out_bucket):
    manifest = fx.put_inventory(
        s3, bucket, [{"Key": f"k/{i}", "Size": i} for i in range(40)], files=4
    )
    counter = RequestCounter()
    client = counter.attach(boto3.client("s3"))
    options = GrouperOptions(
        manifest=parse_s3_uri(manifest), bucket=out_bucket, thresholds=Thresholds(count=7),
        metrics=False,
    )  # fmt: skip
    result = run_grouper(options, GrouperClients(s3=client))
    assert dict(counter.counts) == grouper_requests(4, result.summary.manifests)


@pytest.mark.parametrize("size", [0, 1, 8 * MiB, 8 * MiB + 1, 4 * GiB, 100 * GiB, 900 * GiB])
def test_upload_parts_are_the_bundlers(size):
    base = initial_part_size(size)
    parts = upload_parts(size)
    covered = sum(part_size(base, n) for n in range(1, parts + 1))
    assert covered >= max(size, 1) > covered - part_size(base, parts)
    assert parts <= 10_000
