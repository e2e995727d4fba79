"""Requests made, priced: the tables ``s3bundler --report`` prints per manifest and
``s3bundler reconcile --costs`` per job (docs/costs.md)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from s3common.prices import STANDARD, Prices, load_prices

log = logging.getLogger(__name__)


def money(value: float) -> str:
    """``$1,234.56``; amounts under a cent with enough digits to tell them apart."""
    if value and abs(value) < 0.01:
        return f"${value:.6f}"
    return f"${value:,.2f}"


def prices_for(region: str | None, path: str | None) -> Prices:
    """The prices of ``region`` (None: the table's default) with ``--prices`` merged over
    them; warnings (a region the table lacks) are logged."""
    prices = load_prices(region, path)
    for warning in prices.warnings:
        log.warning("%s", warning)
    return prices


def cost_lines(
    prices: Prices, counts: Mapping[str, int], write_class: str = STANDARD, indent: str = "  "
) -> list[str]:
    """One line per operation (count and cost) and a total line."""
    if not counts:
        return [f"{indent}(no requests recorded)"]
    costs = prices.requests(counts, write_class or STANDARD)
    width = max(len("total"), *(len(op) for op in counts))
    lines = [
        f"{indent}{op:<{width}}  {n:>13,}  {money(costs[op]):>12}"
        for op, n in sorted(counts.items())
    ]
    total = f"{indent}{'total':<{width}}  {sum(counts.values()):>13,}  "
    lines.append(total + f"{money(sum(costs.values())):>12}")
    return lines


def manifest_cost_lines(
    prices: Prices, manifest: object, requests: Mapping[str, int], storage_class: str
) -> list[str]:
    """``s3bundler --report``: one manifest's requests and their cost."""
    cls = storage_class or STANDARD
    head = f"{manifest}: S3 requests at {prices.region} list prices (archive class {cls})"
    return [head, *cost_lines(prices, requests, cls)]


def total_requests(
    reports: Iterable[tuple[Mapping[str, int], str]],
) -> dict[str, Counter[str]]:
    """Request counts summed by the storage class they were written in (``""`` counts as
    STANDARD): ``{class: Counter(operation -> n)}``."""
    totals: dict[str, Counter[str]] = {}
    for requests, storage_class in reports:
        totals.setdefault(storage_class or STANDARD, Counter()).update(requests)
    return totals


def job_cost_lines(
    prices: Prices,
    by_class: Mapping[str, Mapping[str, int]],
    reports: int,
    counted: int,
    grouper: Mapping[str, int] | None = None,
    grouper_source: str = "job summary",
) -> list[str]:
    """``reconcile --costs``: the job's requests (the bundlers', by archive class, and the
    grouper's) and their cost."""
    lines = [
        f"costs ({prices.line()})",
        f"  bundler requests, from {counted} of {reports} completion reports"
        + ("" if counted == reports else " (the others recorded none)"),
    ]
    total = 0.0
    for cls, counts in sorted(by_class.items()):
        lines.append(f"  written in {cls}:")
        lines += cost_lines(prices, counts, cls, indent="    ")
        total += sum(prices.requests(counts, cls).values())
    if grouper:
        lines.append(f"  grouper requests ({grouper_source}):")
        lines += cost_lines(prices, grouper, STANDARD, indent="    ")
        total += sum(prices.requests(grouper, STANDARD).values())
    lines.append(f"  total request cost  {money(total)}")
    return lines
