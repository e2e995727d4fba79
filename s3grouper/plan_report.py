"""``s3grouper --plan``'s output: a short text for people, ``--json`` for programs
(format ``s3bundler-plan/1``, docs/costs.md)."""

from __future__ import annotations

from typing import Any

from s3common.costs import money
from s3common.prices import Prices
from s3common.sizes import format_size
from s3grouper.plan_costs import ARCHIVE_CLASSES, Estimate, estimate
from s3grouper.plan_shape import EDGES, LABELS, JobShape

PLAN_FORMAT = "s3bundler-plan/1"


def plan_document(inventory: str, shape: JobShape, prices: Prices, target: str) -> dict[str, Any]:
    """Everything the plan found and computed, JSON-ready (dollars unrounded)."""
    chosen = estimate(shape, prices, target)
    doc: dict[str, Any] = {
        "format": PLAN_FORMAT,
        "inventory": inventory,
        "prices": prices.describe(),
        "rows": shape.rows,
        "objects": shape.objects,
        "bytes": shape.bytes,
        "skipped": shape.skipped,
        "histogram": _histogram(shape),
        "storage_classes": {
            c: {"objects": t.objects, "bytes": t.bytes, "under_128k": t.small_objects}
            for c, t in sorted(shape.classes.items())
        },
        "archived": {"objects": shape.archived, "bytes": shape.archived_bytes},
        "copied": {"objects": shape.copied, "bytes": shape.copied_bytes, "maxsize": shape.maxsize},
        "sub_manifests": shape.manifests,
        "archives": len(shape.archives),
        "thresholds": {"size": shape.thresholds.size, "count": shape.thresholds.count},
        "archive_class": target,
        **_estimate_doc(chosen),
        "by_archive_class": {
            cls: _estimate_doc(estimate(shape, prices, cls), brief=True) for cls in ARCHIVE_CLASSES
        },
        "notes": [*shape.notes, *prices.warnings],
    }
    return doc


def _histogram(shape: JobShape) -> list[dict[str, Any]]:
    lows = (0, *EDGES)
    return [
        {"label": label, "min": low, "max": high - 1 if high else None, "objects": n, "bytes": b}
        for label, low, high, (n, b) in zip(
            LABELS, lows, (*EDGES, None), shape.histogram, strict=True
        )
    ]


def _estimate_doc(e: Estimate, brief: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "monthly": {
            "today": e.today_total,
            "after": e.after_total,
            "saving": e.saving,
            "lifecycle": e.lifecycle,
        },
        "one_time": e.one_time_total,
        "lifecycle_transitions": {"requests": e.transitions, "dollars": e.transition_cost},
        "break_even_months": e.break_even,
    }
    if not brief:
        doc["monthly"]["today_by_class"] = e.today
        doc["monthly"]["after_by_output"] = e.after
        doc["one_time_items"] = [
            {"what": i.what, "requests": i.requests, "dollars": i.dollars} for i in e.one_time
        ]
    return doc


def plan_text(doc: dict[str, Any]) -> str:
    """The plan for people: the job's shape, then its costs."""
    return "\n".join([*_shape_lines(doc), "", *_cost_lines(doc)]) + "\n"


def _shape_lines(doc: dict[str, Any]) -> list[str]:
    p = doc["prices"]
    skipped = ", ".join(f"{k} {v:,}" for k, v in doc["skipped"].items()) or "none"
    lines = [
        f"plan for {doc['inventory']} (nothing written)",
        f"prices: {p['region']} list prices, {p['currency']}, as of {p['as_of']} ({p['table']})",
        "",
        f"selected     {doc['objects']:,} objects, {format_size(doc['bytes'])} "
        f"(of {doc['rows']:,} rows; skipped: {skipped})",
        f"  {'size':<16}{'objects':>14}{'bytes':>14}",
    ]
    lines += [
        f"  {h['label']:<16}{h['objects']:>14,}{format_size(h['bytes']):>14}"
        for h in doc["histogram"]
        if h["objects"]
    ]
    lines.append(f"  {'storage class':<16}{'objects':>14}{'bytes':>14}{'< 128 KiB':>14}")
    lines += [
        f"  {c:<16}{t['objects']:>14,}{format_size(t['bytes']):>14}{t['under_128k']:>14,}"
        for c, t in doc["storage_classes"].items()
    ]
    copied = doc["copied"]
    lines += [
        f"bundler      {doc['archived']['objects']:,} archived "
        f"({format_size(doc['archived']['bytes'])}), {copied['objects']:,} copied "
        f"(> {format_size(copied['maxsize'])}: {format_size(copied['bytes'])})",
        f"grouping     {doc['sub_manifests']:,} sub-manifests "
        f"(-s {format_size(doc['thresholds']['size'])}, -c {doc['thresholds']['count']:,}), "
        f"{doc['archives']:,} archive{'' if doc['archives'] == 1 else 's'}",
    ]
    return lines + [f"note: {n}" for n in doc["notes"]]


def _cost_lines(doc: dict[str, Any]) -> list[str]:
    m, target = doc["monthly"], doc["archive_class"]
    today = ", ".join(f"{c} {money(v)}" for c, v in m["today_by_class"].items())
    after = ", ".join(f"{k} {money(v)}" for k, v in m["after_by_output"].items())
    lc = doc["lifecycle_transitions"]
    lines = [
        "monthly storage of the selected objects",
        f"  today                      {money(m['today']):>12}   ({today})",
        f"  after bundling in {target:<9}{money(m['after']):>12}   ({after})",
        f"  lifecycle to {target} instead {money(m['lifecycle']):>10}   "
        f"({lc['requests']:,} transitions, {money(lc['dollars'])} once; objects < 128 KiB stay)",
        "one-time cost of the job",
    ]
    for item in doc["one_time_items"]:
        requests = ", ".join(f"{op} {n:,}" for op, n in item["requests"].items())
        lines.append(f"  {item['what']:<58}{money(item['dollars']):>12}   ({requests})")
    lines.append(f"  {'total':<58}{money(doc['one_time']):>12}")
    lines.append(_break_even(doc))
    lines.append("by archive class   after/month      one-time    break-even   lifecycle/month")
    for cls, e in doc["by_archive_class"].items():
        months = e["break_even_months"]
        lines.append(
            f"  {cls:<14}{money(e['monthly']['after']):>14}{money(e['one_time']):>14}"
            f"{duration(months):>14}"
            f"{money(e['monthly']['lifecycle']):>18}"
        )
    return lines


def _break_even(doc: dict[str, Any]) -> str:
    saving, months = doc["monthly"]["saving"], doc["break_even_months"]
    if months is None:
        return (
            f"break-even: never: bundling in {doc['archive_class']} saves nothing a month "
            f"({money(saving)}/month)"
        )
    return (
        f"break-even: {duration(months)} (saves {money(saving)}/month after a one-time "
        f"{money(doc['one_time'])})"
    )


def duration(months: float | None) -> str:
    """``3.2 months``, under a month ``5.1 days``, ``never`` for None."""
    if months is None:
        return "never"
    return f"{months:,.1f} months" if months >= 1 else f"{months * 30.44:.1f} days"
