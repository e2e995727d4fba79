import pytest

from bench.per_million import per_million, per_million_table
from s3common.prices import load_prices

RUN = {
    "kind": "bundler",
    "scenario": "4k",
    "run": "bundler",
    "objects": 5000,
    "seconds": 5.0,
    "cpu_s_per_1k": 0.6,
    "peak_rss_mib": 150.0,
    "get_per_object": 1.0,
    "tagging_per_object": 0.0,
    "upload_parts": 4,
    "other_requests": 10,
}


def test_a_run_scaled_to_a_million_objects_matches_a_hand_computation():
    m = per_million(RUN, load_prices("us-east-1"))
    assert m["cpu_s"] == pytest.approx(600)  # 0.6 ms per object
    assert m["get_requests"] == 1_000_000
    assert m["put_requests"] == pytest.approx(14 * 200)
    assert m["requests_usd"] == pytest.approx(1e6 * 0.0004 / 1000 + 2800 * 0.005 / 1000)
    # 600 CPU-s = 1/6 vCPU-hour; 150 MiB for 1,000 s = 150/1024 GiB x 1000/3600 h
    compute = 600 / 3600 * 0.0123 + 150 / 1024 * 1000 / 3600 * 0.00135
    assert m["compute_usd"] == pytest.approx(compute)
    assert m["total_usd"] == pytest.approx(m["requests_usd"] + compute)


def test_tagged_objects_cost_a_second_get_and_the_table_skips_ceilings():
    tagged = per_million({**RUN, "tagging_per_object": 1.0}, load_prices("us-east-1"))
    assert tagged["get_requests"] == 2_000_000
    table = per_million_table([RUN, {**RUN, "kind": "ceiling", "run": "GET ceiling"}])
    assert table.count("| 4k |") == 1
    assert "| 0.414 |" in table  # $0.40 of GETs + $0.014 of PUT-class requests per million
