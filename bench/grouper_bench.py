"""Benchmark s3grouper on a generated 1M-row inventory (CSV.gz and Parquet) in a local moto
server. Prints seconds, rows/s and the peak RSS of the s3grouper subprocess.

    .venv/bin/python bench/grouper_bench.py [--rows 1000000] [--files 4] [--formats CSV,Parquet]

Not a test: numbers depend on the machine. The inventory is laid out as S3 does it (see
s3jobs/inventory_report.py); keys are URL-encoded in CSV ('/' as %2F) as S3 writes them.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s3common.local_endpoint import MotoServer  # noqa: E402
from s3jobs.inventory_report import DEFAULT_FIELDS, put_report  # noqa: E402

FIELDS = (*DEFAULT_FIELDS, "EncryptionStatus")


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


# Started from a small wrapper process: on Linux a child's ru_maxrss includes what it had
# before exec, i.e. a copy of this (large) process, so measuring our own child would be wrong.
_WRAPPER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_pid, status, usage = os.wait4(proc.pid, 0)
print(usage.ru_utime + usage.ru_stime, usage.ru_maxrss, file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_grouper(
    uri: str, out_bucket: str, prefix: str, env: dict[str, str]
) -> tuple[float, float, int]:
    """Run s3grouper; return (wall seconds, CPU seconds, peak RSS in KiB) of that process."""
    cmd = [sys.executable, "-m", "s3grouper", "-m", uri, "-b", out_bucket, "-p", prefix]
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *cmd], env=env, capture_output=True, text=True, cwd=ROOT
    )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"s3grouper failed with {proc.returncode}: {proc.stderr}")
    print("   ", proc.stdout.strip())
    cpu, maxrss = proc.stderr.split()[-2:]
    return seconds, float(cpu), int(maxrss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--formats", default="CSV,Parquet")
    args = ap.parse_args()
    with MotoServer() as server:
        env = {**os.environ, **server.env()}
        os.environ.update(server.env())
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="inventory")
        s3.create_bucket(Bucket="work")
        for fmt in args.formats.split(","):
            t0 = time.monotonic()
            per_file = -(-args.rows // args.files)
            bodies = [
                generate(min(per_file, args.rows - start), start, fmt)
                for start in range(0, args.rows, per_file)
            ]
            uri = put_report(
                s3, "inventory", bodies, fmt=fmt, fields=FIELDS, config_id=f"bench-{fmt}"
            )
            mb = sum(len(b) for b in bodies) / 1e6
            print(f"{fmt}: {args.rows} rows in {len(bodies)} files, {mb:.1f} MB "
                  f"(generated in {time.monotonic() - t0:.1f}s)")  # fmt: skip
            seconds, cpu, rss_kib = run_grouper(uri, "work", f"bench-{fmt}", env)
            rate = args.rows / seconds
            print(f"{fmt}: {seconds:.2f}s wall ({cpu:.2f}s CPU), {rate:,.0f} rows/s, "
                  f"peak RSS {rss_kib / 1024:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
