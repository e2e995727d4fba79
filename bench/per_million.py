"""What a million objects cost at the rates a bundler run measured: CPU-seconds, S3 requests
and dollars (requests at S3 list prices plus the CPU and memory at Fargate Spot rates, both
from s3common/prices.json)."""

from __future__ import annotations

from typing import Any

from s3common.prices import Prices, load_prices

MILLION = 1_000_000
GIB = 1 << 30


def per_million(row: dict[str, Any], prices: Prices) -> dict[str, float]:
    """One bundler run, scaled to a million objects. Per-archive requests (multipart parts and
    the rest: create/complete, HEADs, index, DLQ, catalog, report) are priced as PUT-class, an
    upper bound; memory is the run's peak RSS held for its wall time."""
    objects = row["objects"]
    scale = MILLION / objects
    cpu_s = row["cpu_s_per_1k"] * MILLION / 1000
    gets = (row["get_per_object"] + row["tagging_per_object"]) * MILLION
    puts = (row["upload_parts"] + row["other_requests"]) * scale
    wall_h = row["seconds"] * scale / 3600
    requests = gets * prices.operation("GetObject") + puts * prices.operation("UploadPart")
    compute = prices.compute(cpu_s / 3600, row["peak_rss_mib"] * (1 << 20) / GIB * wall_h)
    return {
        "cpu_s": cpu_s,
        "get_requests": gets,
        "put_requests": puts,
        "requests_usd": requests,
        "compute_usd": compute,
        "total_usd": requests + compute,
    }


def per_million_table(rows: list[dict[str, Any]], prices: Prices | None = None) -> str:
    """Markdown: every bundler run of the benchmark per million objects."""
    prices = prices or load_prices()
    head = (
        "| scenario | run | CPU-s / M obj | GETs / M | PUT-class / M "
        "| $ requests / M | $ CPU + memory / M | $ / M obj |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        if r["kind"] != "bundler" or not r["objects"]:
            continue
        m = per_million(r, prices)
        lines.append(
            f"| {r['scenario']} | {r['run']} | {m['cpu_s']:,.0f} | {m['get_requests']:,.0f} "
            f"| {m['put_requests']:,.0f} | {m['requests_usd']:.3f} | {m['compute_usd']:.4f} "
            f"| {m['total_usd']:.3f} |"
        )
    lines.append(f"\nPrices: {prices.line()}; CPU and memory at Fargate Spot rates.")
    return "\n".join(lines)
