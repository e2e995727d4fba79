"""Tables (Markdown, so they paste into docs/performance.md) and the target verdicts."""

from __future__ import annotations

from typing import Any

from s3bundler.tag_reads import PROBE_OBJECTS
from s3common.sizes import format_size

RSS_LIMIT_MIB = 256
FLAT_TOLERANCE = 0.10  # "flat": a 4x larger input may raise peak RSS by at most 10 %


def _fmt(value: Any, spec: str = "", none: str = "–") -> str:
    if value is None:
        return none
    return format(value, spec)


def bundler_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| scenario | run | objects | size | seconds | obj/s | MB/s | CPU s / 1k obj "
        "| peak RSS MiB | GET / obj | tagging / obj | parts | other req "
        "| vs ceiling boto3 / awscrt | archive / data | vs plain |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        parts = r["upload_parts"] if r["kind"] == "bundler" else None
        other = r["other_requests"] if r["kind"] == "bundler" else None
        ratio = " / ".join(
            f"{r[f]:.0%}" if r.get(f) else "–" for f in ("vs_ceiling", "vs_crt_ceiling")
        )
        ratio = None if ratio == "– / –" else ratio
        lines.append(
            f"| {r['scenario']} | {r['run']} | {r['objects']:,} | {format_size(r['object_size'])} "
            f"| {r['seconds']:.2f} | {_fmt(r['objects_per_s'], ',.0f')} "
            f"| {_fmt(r['mb_per_s'], '.1f')} | {_fmt(r['cpu_s_per_1k'], '.2f')} "
            f"| {r['peak_rss_mib']:.0f} | {r['get_per_object']:.2f} "
            f"| {r['tagging_per_object']:.2f} | {_fmt(parts)} | {_fmt(other)} | {_fmt(ratio)} "
            f"| {_fmt(r.get('archive_ratio'), '.1%')} | {_fmt(r.get('vs_plain'), '.0%')} |"
        )
    return "\n".join(lines)


def grouper_table(rows: list[dict[str, Any]]) -> str:
    head = "| scenario | inventory | rows | data | seconds | rows/s | CPU s | peak RSS MiB | PUTs |"
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['format']} | {r['rows']:,} | {r['data_bytes'] / 1e6:.1f} MB "
            f"| {r['seconds']:.2f} | {r['rows_per_s']:,} | {r['cpu_process']:.2f} "
            f"| {r['peak_rss_mib']:.0f} | {r['put_requests']} |"
        )
    return "\n".join(lines)


def _find(rows: list[dict[str, Any]], scenario: str, run: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["scenario"] == scenario and r["run"] == run), None)


Target = dict[str, Any]


def _target(name: str, measured: str, met: bool | None) -> Target:
    return {"target": name, "measured": measured, "met": met}


def targets(bundler: list[dict[str, Any]], grouper: list[dict[str, Any]]) -> list[Target]:
    """Each target of issue 7 with its measured value and whether it is met (None: the
    scenarios it needs were not run)."""
    return [
        _ceiling_target(bundler),
        _cpu_target(bundler),
        *_bundler_rss_targets(bundler),
        _requests_target(bundler),
        _compressed_speed_target(bundler),
        _ratio_target(bundler),
        *_grouper_targets(grouper),
    ]


def _ceiling_target(bundler: list[dict[str, Any]]) -> Target:
    name = "bundler >= 90% of the concurrent-GET ceiling (4 KiB objects)"
    b4k = _find(bundler, "4k", "bundler")
    ceilings = [
        c
        for c in (_find(bundler, "4k", "GET ceiling"), _find(bundler, "4k", "GET ceiling awscrt"))
        if c
    ]
    if not (b4k and ceilings):
        return _target(name, "not run", None)
    # Judged against the faster ceiling: the same GETs with the best client we have.
    top = max(ceilings, key=lambda c: c["objects_per_s"])
    ratio = b4k["objects_per_s"] / top["objects_per_s"]
    return _target(
        name,
        f"{ratio:.0%} of the faster ceiling ({b4k['objects_per_s']:,.0f} vs "
        + ", ".join(f"{c['run']} {c['objects_per_s']:,.0f}" for c in ceilings)
        + " obj/s)",
        ratio >= 0.9,
    )


def _cpu_target(bundler: list[dict[str, Any]]) -> Target:
    name = "client CPU per small object <= a plain boto3 get_object loop"
    b4k = _find(bundler, "4k", "bundler")
    loop4k = _find(bundler, "4k", "boto3 loop")
    if not (b4k and loop4k):
        return _target(name, "not run", None)
    also = [
        f"{r['run']} {r['cpu_s_per_1k']:.2f} ms"
        for r in (
            _find(bundler, "4k", "awscrt loop"),
            _find(bundler, "4k", "bundler (boto3 GETs)"),
        )
        if r
    ]
    return _target(
        name,
        f"{b4k['cpu_s_per_1k']:.2f} ms vs {loop4k['cpu_s_per_1k']:.2f} ms per object"
        + (f" ({'; '.join(also)})" if also else ""),
        b4k["cpu_s_per_1k"] <= loop4k["cpu_s_per_1k"],
    )


def _bundler_rss_targets(bundler: list[dict[str, Any]]) -> list[Target]:
    """Peak RSS under the limit (when any bundler ran) and flat in archive size."""
    out = []
    bundlers = [r for r in bundler if r["kind"] == "bundler"]
    if bundlers:
        worst = max(bundlers, key=lambda r: r["peak_rss_mib"])
        out.append(
            _target(
                f"bundler peak RSS < {RSS_LIMIT_MIB} MiB in every scenario",
                f"max {worst['peak_rss_mib']:.0f} MiB ({worst['scenario']}, {worst['run']})",
                worst["peak_rss_mib"] < RSS_LIMIT_MIB,
            )
        )
    flat = "bundler peak RSS flat in archive size"
    rss = sorted(
        (r for r in bundlers if r["scenario"] == "1g"), key=lambda r: r["archive_bytes"] or 0
    )
    if len(rss) < 2:
        return [*out, _target(flat, "not run", None)]
    small, large = rss[0], rss[-1]
    growth = large["peak_rss_mib"] / small["peak_rss_mib"] - 1
    measured = (
        f"{format_size(small['bytes'])} archive {small['peak_rss_mib']:.0f} MiB, "
        f"{format_size(large['bytes'])} archive {large['peak_rss_mib']:.0f} MiB "
        f"({growth:+.0%})"
    )
    return [*out, _target(flat, measured, growth <= FLAT_TOLERANCE)]


def _requests_target(bundler: list[dict[str, Any]]) -> Target:
    """One GET per untagged object, plus the ``--tags auto`` check: a tagging GET for each of
    the first PROBE_OBJECTS untagged objects of a bucket (s3bundler/tag_reads.py)."""
    name = "S3 requests per untagged small object <= 1.0 (+ tags check, + parts per archive)"
    small_objs = [r for r in bundler if r["kind"] == "bundler" and r["scenario"] in ("4k", "256k")]
    if not small_objs:
        return _target(name, "not run", None)
    worst = max(small_objs, key=lambda r: r["src_requests_per_object"])
    parts = ", ".join(
        f"{r['scenario']} {r['compress'] or 'plain'}: {r['upload_parts']} parts + "
        f"{r['other_requests']} other"
        for r in small_objs
    )
    return _target(
        name,
        f"{worst['src_requests_per_object']:.3f} per object; per archive {parts}",
        worst["src_requests_per_object"] <= 1.0 + PROBE_OBJECTS / worst["objects"] + 0.001,
    )


def _compressed_speed_target(bundler: list[dict[str, Any]]) -> Target:
    """zstd (and, for comparison, gzip) against the plain bundler on the same objects."""
    name = "bundler zstd >= 90% of the uncompressed bundler (4 KiB and 256 KiB objects)"
    parts, met = [], True
    for scenario in ("4k", "256k"):
        zstd, gzip = (
            _find(bundler, scenario, "bundler zstd"),
            _find(bundler, scenario, "bundler -c"),
        )
        if not (zstd and zstd.get("vs_plain")):
            return _target(name, "not run", None)
        met = met and zstd["vs_plain"] >= 0.9
        also = f", -c {gzip['vs_plain']:.0%}" if gzip and gzip.get("vs_plain") else ""
        parts.append(f"{scenario} {zstd['vs_plain']:.0%}{also}")
    return _target(name, "; ".join(parts), met)


def _ratio_target(bundler: list[dict[str, Any]]) -> Target:
    """On text-like objects the zstd archive is no bigger than gzip -1's."""
    name = "zstd compression ratio >= gzip -1's on text-like data"
    parts, met = [], True
    for scenario in ("text-4k", "text-256k"):
        zstd, gzip = (
            _find(bundler, scenario, "bundler zstd"),
            _find(bundler, scenario, "bundler -c"),
        )
        if not (zstd and gzip and zstd.get("archive_ratio") and gzip.get("archive_ratio")):
            return _target(name, "not run", None)
        met = met and zstd["archive_ratio"] <= gzip["archive_ratio"]
        parts.append(
            f"{scenario}: zstd {zstd['archive_ratio']:.1%} of the data, gzip -1 "
            f"{gzip['archive_ratio']:.1%}"
        )
    return _target(name, "; ".join(parts), met)


def _grouper_targets(grouper: list[dict[str, Any]]) -> list[Target]:
    """Rows/s and flat memory on the CSV inventories; peak RSS of every grouper run."""
    out = []
    csv = sorted((g for g in grouper if g["format"] == "CSV"), key=lambda g: g["rows"])
    if csv:
        big = csv[-1]
        out.append(
            _target(
                "grouper >= 1M CSV rows/s",
                f"{big['rows_per_s']:,} rows/s ({big['rows']:,} rows, {big['seconds']:.2f}s)",
                big["rows_per_s"] >= 1_000_000,
            )
        )
    else:
        out.append(_target("grouper >= 1M CSV rows/s", "not run", None))
    if len(csv) >= 2:
        growth = csv[-1]["peak_rss_mib"] / csv[0]["peak_rss_mib"] - 1
        out.append(
            _target(
                "grouper memory flat in inventory size",
                f"{csv[0]['rows']:,} rows {csv[0]['peak_rss_mib']:.0f} MiB, "
                f"{csv[-1]['rows']:,} rows {csv[-1]['peak_rss_mib']:.0f} MiB ({growth:+.0%})",
                growth <= FLAT_TOLERANCE,
            )
        )
    if grouper:
        worst = max(grouper, key=lambda g: g["peak_rss_mib"])
        out.append(
            _target(
                f"grouper peak RSS < {RSS_LIMIT_MIB} MiB (the bundler's limit, for comparison)",
                f"max {worst['peak_rss_mib']:.0f} MiB ({worst['format']}, {worst['rows']:,} rows)",
                worst["peak_rss_mib"] < RSS_LIMIT_MIB,
            )
        )
    return out


def targets_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for t in rows:
        met = {True: "yes", False: "**no**", None: "–"}[t["met"]]
        lines.append(f"| {t['target']} | {t['measured']} | {met} |")
    return "\n".join(lines)
