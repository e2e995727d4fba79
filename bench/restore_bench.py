"""Benchmark of the get-back side (``make bench --scenario find,restore``): ``s3bundler find``
among a million catalogued objects (requests, catalog bytes read, seconds) and ``s3bundler
restore`` of 1,000 objects from one archive (objects/s and requests per path), as real CLI
subprocesses on the benchmark endpoint with its added per-request latency."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.endpoint.process import BenchServer
from s3bundler import catalog
from s3common.sizes import KiB
from s3common.submanifest import ManifestEntry, encode_manifest

CATALOG_BUCKET = "bench-catalog"
RESTORE_BUCKET = "bench-restore"
SOURCE = "bench-photos"
ROWS_PER_FILE = 65_000


def _cli(server: BenchServer, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, **server.env()}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "s3bundler", *args], capture_output=True, text=True, env=env
    )
    return proc, time.monotonic() - started


def _ops(server: BenchServer) -> dict[str, int]:
    return dict(server.counts()["ops"])


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _catalog_rows(start: int, n: int) -> list[dict[str, Any]]:
    archive = f"s3://{RESTORE_BUCKET}/archives/x/{SOURCE}/m.{start // ROWS_PER_FILE}.tar"
    return [
        {
            "key": f"photos/{i:09d}.jpg",
            "version_id": "",
            "status": catalog.ARCHIVED,
            "size": 4096,
            "etag": "e",
            "md5": "0" * 32,
            "archive": archive,
            "member": f"{SOURCE}/photos/{i:09d}.jpg",
            "offset": 1536 + i * 5120,
            "manifest": f"s3://m/p/m.{start // ROWS_PER_FILE}.index",
        }
        for i in range(start, start + n)
    ]


def find_case(server: BenchServer, rows: int, log: Callable[[str], None]) -> dict[str, Any]:
    s3 = server.client()
    s3.create_bucket(Bucket=CATALOG_BUCKET)
    for n, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        body = catalog.encode(_catalog_rows(start, min(ROWS_PER_FILE, rows - start)))
        key = catalog.catalog_key("archives", SOURCE, f"m.{n}")
        s3.put_object(Bucket=CATALOG_BUCKET, Key=key, Body=body)
    files = -(-rows // ROWS_PER_FILE)
    runs = []
    for i in (0, rows // 2, rows - 1):
        before = _ops(server)
        proc, seconds = _cli(
            server,
            "find",
            f"s3://{SOURCE}/photos/{i:09d}.jpg",
            "--catalog",
            f"s3://{CATALOG_BUCKET}/archives",
            "-v",
        )
        if proc.returncode != 0:
            raise RuntimeError(f"find failed: {proc.stderr[-2000:]}")
        stats = re.search(r"(\d+) row groups \((\d+) bytes\)", proc.stderr)
        runs.append(
            {
                "seconds": seconds,
                "requests": sum(_delta(_ops(server), before).values()),
                "row_groups": int(stats.group(1)) if stats else -1,
                "row_group_bytes": int(stats.group(2)) if stats else -1,
            }
        )
    best = min(runs, key=lambda r: r["seconds"])
    log(
        f"  find among {rows:,} catalogued objects ({files} files): {best['seconds']:.2f}s, "
        f"{best['requests']} requests, {best['row_groups']} row groups read"
    )
    return {"rows": rows, "files": files, **best, "runs": runs}


def restore_cases(server: BenchServer, objects: int, log: Callable[[str], None]) -> list[dict]:
    s3 = server.client()
    for bucket in (RESTORE_BUCKET, SOURCE):
        s3.create_bucket(Bucket=bucket)
    entries = []
    for i in range(objects):
        key = f"small/{i:05d}"
        s3.put_object(Bucket=SOURCE, Key=key, Body=os.urandom(4 * KiB))
        entries.append(ManifestEntry(SOURCE, key, 4 * KiB))
    s3.put_object(Bucket=RESTORE_BUCKET, Key="m/r.0.index", Body=encode_manifest(entries))
    proc, _ = _cli(
        server, "-m", f"s3://{RESTORE_BUCKET}/m/r.0.index", "-b", RESTORE_BUCKET, "--no-metrics"
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bundler failed: {proc.stderr[-2000:]}")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-restore-") as tmp:
        listing = Path(tmp) / "list.csv"
        with listing.open("w", newline="") as f:
            csv.writer(f).writerows([SOURCE, e.key] for e in entries)
        paths = {
            "to files (coalesced GETs)": ["-o", str(Path(tmp) / "out")],
            "into S3, server-side": ["--to", f"s3://{RESTORE_BUCKET}/ss/"],
            "into S3, --client-side": ["--to", f"s3://{RESTORE_BUCKET}/cs/", "--client-side"],
        }
        for name, extra in paths.items():
            before = _ops(server)
            proc, seconds = _cli(
                server,
                "restore",
                "--from-list",
                str(listing),
                "--catalog",
                f"s3://{RESTORE_BUCKET}/archives",
                "--no-progress",
                *extra,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"restore ({name}) failed: {proc.stderr[-2000:]}")
            ops = _delta(_ops(server), before)
            row = {
                "path": name,
                "objects": objects,
                "seconds": round(seconds, 2),
                "objects_per_s": round(objects / seconds, 1),
                "requests": ops,
            }
            listed = ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))
            log(
                f"  restore {objects} objects {name}: {row['objects_per_s']} obj/s, "
                f"requests {sum(ops.values())} ({listed})"
            )
            results.append(row)
    return results


def restore_table(find: dict[str, Any] | None, restores: list[dict[str, Any]]) -> str:
    lines = []
    if find:
        lines += [
            "| find | catalogued objects | files | seconds | requests | row groups read |",
            "|---|---|---|---|---|---|",
            f"| one key | {find['rows']:,} | {find['files']} | {find['seconds']:.2f} | "
            f"{find['requests']} | {find['row_groups']} ({find['row_group_bytes']:,} bytes) |",
        ]
    if restores:
        lines += [
            "",
            "| restore 1,000 x 4 KiB from one archive | objects/s | requests |",
            "|---|---|---|",
        ]
        for r in restores:
            ops = ", ".join(f"{k} {v}" for k, v in sorted(r["requests"].items()))
            lines.append(
                f"| {r['path']} | {r['objects_per_s']} | {sum(r['requests'].values())} ({ops}) |"
            )
    return "\n".join(lines)
