"""The s3bundler benchmark (``make bench``): objects/s, MB/s, client CPU per object, peak RSS
and S3 requests per object of the bundler against the concurrent-GET ceiling and a plain boto3
loop, on a local moto endpoint with added per-request latency; plus s3grouper rows/s.

    .venv/bin/python -m bench [--scenario NAME[,NAME]] [--quick] [--latency-ms 20]
                              [--concurrency 32] [--json bench/results.json] [--no-replay]

See docs/performance.md for what each number means and the latest results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import report
from bench.bundler_bench import ARCHIVE_BUCKET, BundlerBench, Settings
from bench.bundler_scenarios import Scenario, bundler_scenarios
from bench.endpoint.process import BenchServer
from bench.grouper_bench import grouper_case
from bench.per_million import per_million_table
from bench.restore_bench import find_case, restore_cases, restore_table

ROOT = Path(__file__).resolve().parents[1]


# format, rows, shards (None: a plain run; negative: that many shards, each run alone, with
# the sub-manifests stored by moto: see bench/grouper_bench.py)
GrouperCase = tuple[str, int, int | None]


def grouper_cases(quick: bool, rows: int | None) -> dict[str, list[GrouperCase]]:
    """Scenario name -> (format, rows, shards) cases. The small CSV case is there to show that
    peak RSS does not grow with the inventory; ``grouper-shards`` runs one CSV inventory
    unsharded and as 2 shards at once (``--shard 0/2``, ``1/2``), then, with moto storing the
    sub-manifests, unsharded and as 2 shards each run alone (the job's time is the slower
    one's: as on 2 tasks, which 2 shared cores cannot show)."""
    big = rows or (200_000 if quick else 1_000_000)
    return {
        "grouper-csv": [("CSV", big // 4, None), ("CSV", big, None)],
        "grouper-parquet": [("Parquet", big, None)],
        "grouper-shards": [("CSV", big, 1), ("CSV", big, 2), ("CSV", big, -1), ("CSV", big, -2)],
    }


def _shards_text(shards: int) -> str:
    return f" in {abs(shards)} shard(s)" + (" each alone, moto storing" if shards < 0 else "")


def machine() -> dict[str, Any]:
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "boto3": version("boto3"),
        "moto": version("moto"),
        "commit": commit,
    }


GET_BACK = {
    "find": "s3bundler find among 1,000,000 catalogued objects (--quick: 200,000)",
    "restore": "s3bundler restore of 1,000 x 4 KiB objects of one archive, three paths",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    names = [s.name for s in bundler_scenarios()] + list(grouper_cases(False, None))
    names += list(GET_BACK)
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0],
        epilog="scenarios: " + ", ".join(names),
    )
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="run only these (repeat or comma-separate; default: all)",
    )
    p.add_argument("--quick", action="store_true", help="about a fifth of the objects and rows")
    p.add_argument("--latency-ms", type=float, default=20.0, help="added per request (default 20)")
    p.add_argument(
        "--concurrency", type=int, default=32, help="bundler --concurrency and ceiling threads"
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure every run at least N times (interleaved rounds), keep the fastest",
    )
    p.add_argument("--grouper-rows", type=int, help="rows of the large grouper inventories")
    p.add_argument("--json", default=str(ROOT / "bench" / "results.json"), help="results file")
    p.add_argument(
        "--no-replay", action="store_true", help="every GET is answered by moto (slower server)"
    )
    p.add_argument(
        "--http", action="store_true", help="plain HTTP endpoint (botocore then signs bodies)"
    )
    p.add_argument(
        "--no-sink",
        action="store_true",
        help="archive parts and the grouper's sub-manifests go to moto (stored, slower)",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = p.parse_args(argv)
    wanted = {n.strip() for s in args.scenario or [] for n in s.split(",") if n.strip()}
    unknown = wanted - set(names)
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {names}")
    args.wanted = wanted or set(names)
    return args


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(
    scenarios: list[Scenario],
    grouper: list[tuple[str, str, int, int | None]],
    settings: Settings,
    *,
    replay: bool = True,
    tls: bool = True,
    sink: bool = True,
    get_back: tuple[str, ...] = (),
    quick: bool = False,
) -> dict[str, Any]:
    """Run bundler scenarios and grouper cases (scenario, format, rows, shards) on one
    endpoint."""
    started = time.monotonic()
    sinks = [ARCHIVE_BUCKET] if sink else []
    with BenchServer(replay=replay, tls=tls, sink_buckets=sinks) as server:
        bench = BundlerBench(server, settings)
        rows = bench.run_scenarios(scenarios) if scenarios else []
        grows = _grouper_runs(server, grouper, settings.latency_ms, sink) if grouper else []
        found = restored = None
        if "find" in get_back:
            found = find_case(server, 200_000 if quick else 1_000_000, log)
        if "restore" in get_back:
            restored = restore_cases(server, 300 if quick else 1000, log)
    return {
        "machine": machine(),
        "settings": {
            "latency_ms": settings.latency_ms,
            "concurrency": settings.concurrency,
            "repeat": settings.repeat,
            "replay": replay,
            "tls": tls,
            "multipart_sink": sink,
            "put_sink": sink,
        },
        "startup": bench.startup,
        "bundler": rows,
        "grouper": grows,
        "find": found,
        "restore": restored,
        "targets": report.targets(rows, grows),
        "total_seconds": round(time.monotonic() - started, 1),
    }


def _grouper_runs(
    server: BenchServer,
    grouper: list[tuple[str, str, int, int | None]],
    latency_ms: float,
    sink: bool,
) -> list[dict[str, Any]]:
    """The grouper cases (scenario, format, rows, shards; see grouper_cases), in order."""
    s3 = server.client()
    grows = []
    for name, fmt, n, shards in grouper:
        g = grouper_case(
            server, s3, fmt, n, latency_ms=latency_ms, scenario=name, log=log, put_sink=sink,
            shards=abs(shards) if shards else None, isolated=bool(shards and shards < 0),
        )  # fmt: skip
        log(
            f"  {name} {g['format']} {n:,} rows: {g['seconds']:.2f}s {g['rows_per_s']:,} rows/s"
            f" CPU {g['cpu_process']:.2f}s RSS {g['peak_rss_mib']:.0f} MiB"
        )
        grows.append(g)
        server.reset_state()
    return grows


def _list(quick: bool, grouper_rows: int | None) -> None:
    for sc in bundler_scenarios(quick):
        print(f"{sc.name:16} {sc.about}")
    for name, cases in grouper_cases(quick, grouper_rows).items():
        text = " and ".join(f"{n:,}-row {f}" + (_shards_text(k) if k else "") for f, n, k in cases)
        print(f"{name:16} s3grouper on {text}")
    for name, about in GET_BACK.items():
        print(f"{name:16} {about}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    all_scenarios = bundler_scenarios(args.quick)
    if args.list:
        _list(args.quick, args.grouper_rows)
        return 0
    scenarios = [s for s in all_scenarios if s.name in args.wanted]
    grouper = [
        (name, fmt, n, shards)
        for name, cases in grouper_cases(args.quick, args.grouper_rows).items()
        if name in args.wanted
        for fmt, n, shards in cases
    ]
    settings = Settings(
        latency_ms=args.latency_ms, concurrency=args.concurrency, repeat=args.repeat, log=log
    )
    m = machine()
    log(
        f"bench: {m['cpus']} CPUs, {m['mem_gib']} GiB; latency {args.latency_ms:g} ms, "
        f"concurrency {args.concurrency}; scenarios: "
        + ", ".join([s.name for s in scenarios] + sorted({g[0] for g in grouper}))
    )
    results = run(
        scenarios,
        grouper,
        settings,
        replay=not args.no_replay,
        tls=not args.http,
        sink=not args.no_sink,
        get_back=tuple(n for n in GET_BACK if n in args.wanted),
        quick=args.quick,
    )
    results["quick"] = args.quick
    print()
    print(
        f"latency {args.latency_ms:g} ms per request, concurrency {args.concurrency}, "
        f"{m['cpus']} CPUs, {m['mem_gib']} GiB"
    )
    if results["bundler"]:
        print()
        print(report.bundler_table(results["bundler"]))
        print()
        print("Per million objects (CPU-seconds, requests and dollars at the measured rates):")
        print(per_million_table(results["bundler"]))
    if results["grouper"]:
        print()
        print(report.grouper_table(results["grouper"]))
    if results["find"] or results["restore"]:
        print()
        print(restore_table(results["find"], results["restore"] or []))
    print()
    print(report.targets_table(results["targets"]))
    print(f"\ntotal {results['total_seconds']:.0f}s; JSON: {args.json}")
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
