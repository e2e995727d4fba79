"""Benchmark s3grouper on a generated inventory (CSV.gz and Parquet) in the benchmark endpoint:
wall seconds, rows/s, CPU and peak RSS of the s3grouper process, and the S3 requests it made.

    .venv/bin/python bench/grouper_bench.py [--rows 1000000] [--files 4] [--formats CSV,Parquet]
                                            [--latency-ms 0] [--http] [--no-put-sink]
                                            [--shards 1,2]

``--shards 1,2`` runs each inventory unsharded and as 2 shards (``s3grouper --shard i/2``, the
processes at once, as ``submitmanifest.py --local --shards 2`` does): wall time from the first
start to the last exit, CPU summed, peak RSS the largest process's. ``--isolated`` runs the
shards one after another instead and takes the slowest shard's wall time as the job's: what S
tasks on S machines would see, on a machine without a spare core per shard. Isolated runs
(their 1-shard run too, for comparison) store the sub-manifests in moto: the put sink cannot
answer the listing a later shard makes of the job's name (bench/endpoint/sinks.py), and moto
costs the endpoint ~6 ms of CPU per sub-manifest more.

``make bench`` runs the same cases (``python -m bench --scenario grouper-csv``). Not a test:
numbers depend on the machine. The inventory is laid out as S3 does it (see
s3jobs/inventory_report.py); keys are URL-encoded in CSV ('/' as %2F) as S3 writes them.

The sub-manifest uploads go to the endpoint's put sink (bench/endpoint/sinks.py: each body checked
against its CRC32, size and line count kept, not stored by moto), so moto's CPU per request on
the shared cores is not what is measured. Every run is verified: the job summary accounts for every
inventory row (objects + skipped), and the sub-manifests the endpoint received hold exactly
the summary's number of sub-manifests and, header lines aside, of rows.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from bench.endpoint.process import BenchServer  # noqa: E402
from bench.measure import Measured, run_measured  # noqa: E402
from s3common import submanifest  # noqa: E402
from s3common.s3uri import parse_s3_uri  # noqa: E402
from s3jobs.inventory_report import DEFAULT_FIELDS, put_report  # noqa: E402
from s3jobs.local import shard_env  # noqa: E402

FIELDS = (*DEFAULT_FIELDS, "EncryptionStatus")
INVENTORY_BUCKET = "bench-inventory"
WORK_BUCKET = "bench-work"


def generate(rows: int, start: int, fmt: str) -> bytes:
    """``rows`` rows of the FIELDS columns, as one data file of the format."""
    rng = random.Random(start)
    idx = range(start, start + rows)
    sep = "%2F" if fmt == "CSV" else "/"
    keys = [f"logs{sep}{i % 997:03d}{sep}2024-01-{i % 28 + 1:02d}{sep}object-{i:09d}.json.gz"
            for i in idx]  # fmt: skip
    sizes = [rng.randrange(2_000_000) for _ in idx]
    millis = [1_704_067_200_000 + rng.randrange(30 * 86_400_000) for _ in idx]
    etags = [f"{(i * 2654435761) % 2**128:032x}" for i in idx]
    classes = ["GLACIER" if rng.random() < 0.05 else "STANDARD" for _ in idx]
    multipart = [rng.random() < 0.1 for _ in idx]
    table = pa.table(
        {
            "bucket": pa.array(["source-bucket"] * rows),
            "key": pa.array(keys),
            "size": pa.array(sizes, pa.int64()),
            "last_modified_date": pa.array(millis, pa.timestamp("ms", "UTC")),
            "e_tag": pa.array(etags),
            "storage_class": pa.array(classes),
            "is_multipart_uploaded": pa.array(multipart),
            "encryption_status": pa.array(["SSE-S3"] * rows),
        }
    )
    buf = io.BytesIO()
    if fmt == "Parquet":
        pq.write_table(table, buf, row_group_size=128 * 1024)
        return buf.getvalue()
    # CSV as S3 writes it: every field quoted, no header, ISO timestamps with millis and Z.
    modified = pc.strftime(table["last_modified_date"], "%Y-%m-%dT%H:%M:%SZ")
    table = table.set_column(3, "last_modified_date", modified)
    multipart = pc.if_else(table["is_multipart_uploaded"], "true", "false")
    table = table.set_column(6, "is_multipart_uploaded", multipart)
    table = table.cast(pa.schema([(n, pa.string()) for n in table.column_names]))
    opts = pcsv.WriteOptions(include_header=False, quoting_style="all_valid")
    pcsv.write_csv(table, buf, opts)
    return gzip.compress(buf.getvalue(), compresslevel=6)


def _put_inventory(
    s3: Any, fmt: str, rows: int, files: int, config_id: str, log: Any
) -> tuple[str, list[bytes]]:
    """Generate a ``rows``-row inventory in ``files`` data files and put it, as S3 lays out an
    inventory report, in INVENTORY_BUCKET (WORK_BUCKET is created too); returns the report's
    manifest URI and the data files' bodies."""
    for bucket in (INVENTORY_BUCKET, WORK_BUCKET):
        s3.create_bucket(Bucket=bucket)
    t0 = time.monotonic()
    per_file = -(-rows // files)
    starts = range(0, rows, per_file)
    bodies = [generate(min(per_file, rows - start), start, fmt) for start in starts]
    uri = put_report(s3, INVENTORY_BUCKET, bodies, fmt=fmt, fields=FIELDS, config_id=config_id)
    data_bytes = sum(len(b) for b in bodies)
    log(f"{fmt}: {rows} rows in {len(bodies)} files, {data_bytes / 1e6:.1f} MB "
        f"(generated in {time.monotonic() - t0:.1f}s)")  # fmt: skip
    return uri, bodies


def grouper_case(
    server: BenchServer,
    s3: Any,
    fmt: str,
    rows: int,
    *,
    files: int = 4,
    latency_ms: float = 0.0,
    scenario: str = "",
    log: Any = print,
    put_sink: bool = True,
    shards: int | None = None,
    isolated: bool = False,
) -> dict[str, Any]:
    """Generate a ``rows``-row inventory in ``files`` data files (latency off), then run
    s3grouper on it at ``latency_ms`` (sub-manifests to the put sink unless ``put_sink`` is
    false), verify its output and return the measurements. With ``shards`` (> 1) that many
    ``--shard i/S`` processes run at once (``isolated``: one after another, the job's wall time
    the slowest shard's); its result is labelled with the shard count."""
    server.set_latency(0)
    put_sink = put_sink and not isolated  # the sink cannot list what a shard looks for
    config_id = f"bench-{fmt}-{rows}" + (f"-{shards}shards" if shards else "")
    config_id += "-isolated" if isolated else ""
    uri, bodies = _put_inventory(s3, fmt, rows, files, config_id, log)
    data_bytes = sum(len(b) for b in bodies)
    env = {**os.environ, **server.env()}
    cmd = [sys.executable, "-m", "s3grouper", "-m", uri, "-b", WORK_BUCKET, "-p", config_id]
    cmd.append("--no-metrics")
    if put_sink:
        server.set_put_sink(f"{WORK_BUCKET}/{config_id}/*.index")
    server.set_latency(latency_ms)
    server.reset_counts()
    before = server.counts()
    try:
        m = _run_shards(cmd, env, shards or 1, isolated)
        after = server.counts()
    finally:
        server.set_latency(0)
        server.set_put_sink(None)
    sunk = after["put_sink_objects"] if put_sink else None
    out = verify_output(s3, uri, config_id, rows, sunk)
    return {
        "scenario": scenario or f"grouper-{fmt.lower()}",
        # the table's inventory column; a sharded run's is labelled (and so kept out of the
        # per-process targets, which pick format "CSV")
        "format": fmt if shards is None else _label(fmt, shards, isolated),
        "file_format": fmt,
        "shards": shards or 1,
        "isolated": isolated,
        **_measured(m, rows, before, after),
        "inventory": uri,
        "rows": rows,
        "data_files": len(bodies),
        "data_bytes": data_bytes,
        "latency_ms": latency_ms,
        "put_sink": put_sink,
        "submanifests": out["manifests"],
        "objects": out["objects"],
        "output": m.stdout.strip()[-300 * (shards or 1) :],
    }


def _measured(
    m: Measured, rows: int, before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any]:
    ops = after["ops"]
    return {
        "seconds": round(m.wall, 3),
        "rows_per_s": round(rows / m.wall),
        "cpu_process": round(m.cpu, 3),
        "peak_rss_mib": round(m.peak_rss_mib, 1),
        # objects written: the sub-manifests (multipart uploads) + the job and shard summaries
        "put_requests": ops.get("PutObject", 0) + ops.get("CompleteMultipartUpload", 0),
        "s3_requests": sum(ops.values()),
        "requests": ops,
        "server_cpu": round(after["cpu_seconds"] - before["cpu_seconds"], 3),
    }


def _label(fmt: str, shards: int, isolated: bool) -> str:
    if shards == 1:
        return f"{fmt}, 1 shard" + (" (moto stores)" if isolated else "")
    return f"{fmt}, {shards} shards " + ("each alone (moto stores)" if isolated else "at once")


def _run_shards(cmd: list[str], env: dict[str, str], shards: int, isolated: bool) -> Measured:
    """``cmd`` as one process, or as ``shards`` processes ``--shard i/S``: at once (the wall
    time from the first start to the last exit), or ``isolated``, one after another (the
    slowest shard's wall time); CPU summed, the largest peak RSS, the outputs joined."""
    if shards == 1:
        return run_measured(cmd, env)
    t0 = time.monotonic()
    if isolated:
        runs = [run_measured([*cmd, "--shard", f"{i}/{shards}"], env) for i in range(shards)]
        wall = max(r.wall for r in runs)
    else:
        env = {**shard_env(shards), **env}  # Arrow's threads shared out, as --local does
        with ThreadPoolExecutor(shards) as pool:
            runs = list(
                pool.map(
                    lambda i: run_measured([*cmd, "--shard", f"{i}/{shards}"], env), range(shards)
                )
            )
        wall = time.monotonic() - t0
    return Measured(
        cmd=cmd,
        returncode=max(r.returncode for r in runs),
        wall=wall,
        user=sum(r.user for r in runs),
        sys=sum(r.sys for r in runs),
        maxrss_kib=max(r.maxrss_kib for r in runs),
        stdout="".join(r.stdout for r in runs),
        stderr="".join(r.stderr for r in runs),
    )


def verify_output(
    s3: Any, inventory: str, prefix: str, rows: int, sunk: dict[str, dict[str, Any]] | None
) -> dict[str, Any]:
    """Check that s3grouper accounted for every row: the job summary's objects and skipped rows
    add up to ``rows``, and sub-manifests 0..N-1 of the summary exist (``sunk``: as received
    by the put sink, else read back) and hold its objects (plus one header line each).
    Returns the job summary; raises RuntimeError otherwise."""
    base = submanifest.base_name(parse_s3_uri(inventory).key)
    summary_key = submanifest.job_summary_key(prefix, base)
    data = s3.get_object(Bucket=WORK_BUCKET, Key=summary_key)["Body"].read()
    summary = json.loads(data)
    keys = submanifest.JobSummary.from_json(data).manifest_keys()  # every shard's
    if sunk is None:
        sunk = {}
        for key in keys:
            body = s3.get_object(Bucket=WORK_BUCKET, Key=key)["Body"].read()
            sunk[f"{WORK_BUCKET}/{key}"] = {"size": len(body), "lines": body.count(b"\n")}
    received = {k for k in sunk if k.startswith(f"{WORK_BUCKET}/{prefix}/")}
    expected = {f"{WORK_BUCKET}/{key}" for key in keys}
    problems = []
    if summary["objects"] + sum(summary["skipped"].values()) != rows:
        problems.append(f"summary: {summary['objects']} objects + {summary['skipped']} != {rows}")
    if received != expected:
        problems.append(f"sub-manifests received {sorted(received ^ expected)[:3]}... differ "
                        f"from the summary's {summary['manifests']}")  # fmt: skip
    lines = sum(sunk[k]["lines"] - 1 for k in expected if k in sunk)
    if lines != summary["objects"]:
        problems.append(f"{lines} rows in the sub-manifests, summary says {summary['objects']}")
    if problems:
        raise RuntimeError(f"s3grouper output of {prefix} does not add up: {'; '.join(problems)}")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--formats", default="CSV,Parquet")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="added per-request latency")
    ap.add_argument("--http", action="store_true", help="plain-HTTP endpoint (default HTTPS)")
    ap.add_argument(
        "--no-put-sink", action="store_true", help="sub-manifests stored by moto (slower)"
    )
    ap.add_argument(
        "--shards", default="", help="comma-separated shard counts to run each inventory with"
    )
    ap.add_argument("--isolated", action="store_true", help="run a job's shards one after another")
    args = ap.parse_args()
    counts = [int(n) for n in args.shards.split(",") if n.strip()] or [None]
    with BenchServer(tls=not args.http) as server:
        s3 = server.client()
        for fmt, shards in [(f, n) for f in args.formats.split(",") for n in counts]:
            r = grouper_case(
                server,
                s3,
                fmt,
                args.rows,
                files=args.files,
                latency_ms=args.latency_ms,
                put_sink=not args.no_put_sink,
                shards=shards,
                isolated=args.isolated,
            )
            server.reset_state()
            print("   ", r["output"].replace("\n", "\n    "))
            print(f"{r['format']}: {r['seconds']:.2f}s wall ({r['cpu_process']:.2f}s CPU), "
                  f"{r['rows_per_s']:,} rows/s, peak RSS {r['peak_rss_mib']:.0f} MiB, "
                  f"{r['put_requests']} objects written ({r['s3_requests']} S3 requests), "
                  f"server CPU {r['server_cpu']:.2f}s; verified "
                  f"{r['submanifests']} sub-manifests, {r['objects']:,} rows")  # fmt: skip


if __name__ == "__main__":
    main()
