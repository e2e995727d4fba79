"""Running the bundler scenarios (bench.bundler_scenarios): seed objects into the benchmark
endpoint, write sub-manifests, and measure the concurrent-GET ceiling, the bundler and a plain
boto3 loop on them.

Every measured program is a separate process run under bench.measure (CPU, peak RSS), with the
endpoint's request counts reset before and read after it. Only the CLIs are used
(``python -m s3bundler -m ... --no-metrics``), so whatever the bundler's internals are, this
measures them.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bundler_scenarios import Dataset, Run, Scenario
from bench.endpoint.process import BenchServer
from bench.measure import Measured, run_measured
from bench.text_data import text_body
from s3common.sizes import MiB, format_size
from s3common.submanifest import ManifestEntry, encode_manifest

MANIFEST_BUCKET = "bench-manifests"
ARCHIVE_BUCKET = "bench-archive"
#: Objects up to this size get their own random content; larger ones share one random block
#: behind a distinct prefix (gzip's 32 KiB window never sees the repetition).
DISTINCT_CONTENT_MAX = MiB


@dataclass
class Settings:
    latency_ms: float = 20.0
    concurrency: int = 32
    seed_threads: int = 16
    repeat: int = 1  # measure every run at least this many times, keep the fastest
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))


def _body(dataset: Dataset, i: int, block: bytes) -> bytes:
    """Object content: hex text of random bytes (gzip gets it to ~58 %, zstd to ~50 %), or
    JSON log lines (``text``), distinct per object."""
    if dataset.text:
        return text_body(i, dataset.size)
    if dataset.size <= DISTINCT_CONTENT_MAX:
        return os.urandom((dataset.size + 1) // 2).hex().encode()[: dataset.size]
    prefix = f"{i:016d}".encode()
    return prefix + block[len(prefix) : dataset.size]


def manifest_key(dataset: Dataset, count: int) -> str:
    return f"manifests/{dataset.name}-{count}.index"


class BundlerBench:
    """Runs bundler scenarios against one BenchServer; ``rows`` collects the results."""

    def __init__(self, server: BenchServer, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self.env = {**os.environ, **server.env()}
        self.s3 = server.client(max_pool_connections=settings.seed_threads + 4)
        self.startup: dict[str, dict[str, float]] = {}
        self.rows: list[dict[str, Any]] = []

    # -- setup --------------------------------------------------------------------------------
    def _buckets(self) -> None:
        for bucket in (MANIFEST_BUCKET, ARCHIVE_BUCKET):
            self.s3.create_bucket(Bucket=bucket)

    def measure_startup(self, repeats: int = 3) -> dict[str, dict[str, float]]:
        """CPU and RSS of a process that only starts, builds a client and reads one manifest:
        with boto3 alone (the reference clients) and with the bundler's imports."""
        self.server.set_latency(0)
        self._buckets()
        self.s3.create_bucket(Bucket="bench-startup")
        key = "manifests/startup.index"
        self.s3.put_object(Bucket="bench-startup", Key="x", Body=b"x")
        body = encode_manifest([ManifestEntry("bench-startup", "x", 1)])
        self.s3.put_object(Bucket=MANIFEST_BUCKET, Key=key, Body=body)
        uri = f"s3://{MANIFEST_BUCKET}/{key}"
        for name, extra in (("boto3", []), ("bundler", ["--bundler-imports"])):
            cmd = [sys.executable, "-m", "bench.clients", "startup", "-m", uri, *extra]
            runs = [run_measured(cmd, self.env) for _ in range(repeats)]
            self.startup[name] = {
                "cpu": statistics.median(r.cpu for r in runs),
                "wall": statistics.median(r.wall for r in runs),
                "peak_rss_mib": statistics.median(r.peak_rss_mib for r in runs),
            }
        summary = ", ".join(
            f"{k} {v['cpu']:.2f}s CPU {v['peak_rss_mib']:.0f} MiB" for k, v in self.startup.items()
        )
        self.settings.log(f"start-up baseline (imports + client + 1 GET): {summary}")
        return self.startup

    def seed(self, dataset: Dataset, count: int) -> list[str]:
        """PUT ``count`` objects (latency off; the endpoint records each one's GET answer for
        replay as it goes). Returns the ETags."""
        log = self.settings.log
        self.server.set_latency(0)
        self.s3.create_bucket(Bucket=dataset.bucket)
        block = os.urandom(dataset.size // 2 + 1).hex().encode()[: dataset.size]
        extra = {"Tagging": "project=bench&tier=cold"} if dataset.tagged else {}
        t0 = time.monotonic()

        def put(i: int) -> str:
            resp = self.s3.put_object(
                Bucket=dataset.bucket, Key=dataset.key(i), Body=_body(dataset, i, block), **extra
            )
            return str(resp["ETag"]).strip('"')

        with ThreadPoolExecutor(self.settings.seed_threads) as pool:
            etags = list(pool.map(put, range(count)))
        log(f"seeded {count} x {format_size(dataset.size)} in {time.monotonic() - t0:.1f}s")
        return etags

    def write_manifest(self, dataset: Dataset, count: int, etags: list[str]) -> str:
        entries = (
            ManifestEntry(
                dataset.bucket,
                dataset.key(i),
                dataset.size,
                etag=etags[i],
                storage_class="STANDARD",
                is_multipart=False,
            )
            for i in range(count)
        )
        key = manifest_key(dataset, count)
        self.s3.put_object(Bucket=MANIFEST_BUCKET, Key=key, Body=encode_manifest(entries))
        return f"s3://{MANIFEST_BUCKET}/{key}"

    # -- runs ---------------------------------------------------------------------------------
    def run_scenarios(self, scenarios: list[Scenario]) -> list[dict[str, Any]]:
        """Scenarios sharing a dataset run together on one seeding; the endpoint is emptied
        before the next dataset."""
        if not self.startup:
            self.measure_startup()
        order: dict[Dataset, list[Scenario]] = {}
        for sc in scenarios:
            order.setdefault(sc.dataset, []).append(sc)
        for dataset, group in order.items():
            counts = sorted({r.objects for sc in group for r in sc.runs if r.kind != "loop"})
            loops = [r.objects for sc in group for r in sc.runs if r.kind == "loop"]
            total = max(counts + loops)
            self.server.reset_state()
            self._buckets()
            etags = self.seed(dataset, total)
            uris = {c: self.write_manifest(dataset, c, etags) for c in counts}
            if loops and max(loops) > max(counts, default=0):
                uris[max(loops)] = self.write_manifest(dataset, max(loops), etags)
            self.server.set_latency(self.settings.latency_ms)
            for sc in group:
                self.rows.extend(self._run_scenario(sc, uris))
        self.server.set_latency(0)
        self.server.reset_state()
        return self.rows

    def _run_scenario(self, sc: Scenario, uris: dict[int, str]) -> list[dict[str, Any]]:
        """Measure the scenario's runs in rounds -- a run with ``repeat=3`` is measured once in
        each of 3 rounds, interleaved with the others, so ceiling and bundler see the same
        background load -- and keep each run's fastest try. The bundler's ratio is taken
        against the fastest ceiling of the same objects."""
        repeats = [max(r.repeat, self.settings.repeat) for r in sc.runs]
        best: list[dict[str, Any] | None] = [None] * len(sc.runs)
        tries: list[list[float]] = [[] for _ in sc.runs]
        for round_ in range(max(repeats)):
            for i, run in enumerate(sc.runs):
                if round_ >= repeats[i]:
                    continue
                uri = uris[max(uris)] if run.kind == "loop" else uris[run.objects]
                row = self.execute(sc, run, uri)
                self.settings.log(_one_line(row))
                tries[i].append(row["objects_per_s"])
                if best[i] is None or row["seconds"] < best[i]["seconds"]:  # type: ignore[index]
                    best[i] = row
        rows = [r for r in best if r is not None]
        plain = {r["objects"]: r for r in rows if r["run"] == "bundler"}
        ceiling = {r["objects"]: r for r in rows if r["run"] == "GET ceiling"}
        crt_ceiling = {r["objects"]: r for r in rows if r["run"] == "GET ceiling awscrt"}
        for row, rates in zip(rows, tries, strict=True):
            row["tries_objects_per_s"] = rates
            if row["kind"] != "bundler":
                continue
            tops_by_field = (("vs_ceiling", ceiling), ("vs_crt_ceiling", crt_ceiling))
            if row["compress"]:
                tops_by_field += (("vs_plain", plain),)
            for field_, tops in tops_by_field:
                top = tops.get(row["objects"])
                if top is not None:
                    row[field_] = round(row["objects_per_s"] / top["objects_per_s"], 3)
        if len(rows) > 1 and max(repeats) > 1:
            self.settings.log("  best of each: " + "; ".join(_short(r) for r in rows))
        return rows

    def execute(self, sc: Scenario, run: Run, uri: str) -> dict[str, Any]:
        """Measure one run once."""
        py = sys.executable
        c = str(self.settings.concurrency)
        crt = ["--crt"] if run.client == "crt" else []
        if run.kind == "ceiling":
            cmd = [py, "-m", "bench.clients", "ceiling", "-m", uri, "--concurrency", c, *crt]
        elif run.kind == "loop":
            cmd = [py, "-m", "bench.clients", "loop", "-m", uri, "--limit", str(run.objects), *crt]
        else:
            cmd = [py, "-m", "s3bundler", "-m", uri, "-b", ARCHIVE_BUCKET, "--concurrency", c,
                   "--no-metrics"]  # fmt: skip
            if run.compress:
                cmd += ["--compress", run.compress]
            if run.client:
                cmd += ["--get-client", run.client]
        self.server.reset_counts()
        before = self.server.counts()
        busy0 = cpu_busy_seconds()
        m = run_measured(cmd, self.env)
        busy = cpu_busy_seconds() - busy0
        after = self.server.counts()
        row = self._row(sc, run, m, before, after)
        if run.kind == "bundler":
            self._bundler_outcome(row, uri, m)
        # CPU the machine spent on anything but this run's process and the endpoint.
        other = max(0.0, busy - m.cpu - row["server_cpu"])
        row["background_cpu"] = round(other, 2)
        row["background_cores"] = round(other / m.wall, 2) if m.wall else None
        return row

    def _row(
        self, sc: Scenario, run: Run, m: Measured, before: dict[str, Any], after: dict[str, Any]
    ) -> dict[str, Any]:
        out = m.json_out()
        objects = int(out.get("objects", run.objects))
        size = sc.dataset.size
        # The reference clients time their own measured part; the bundler's comes from its
        # completion report (_bundler_outcome). Until then: process wall time.
        seconds = float(out.get("seconds") or m.wall)
        base = self.startup["bundler" if run.kind == "bundler" else "boto3"]
        cpu_net = max(0.0, m.cpu - base["cpu"])
        if run.kind == "loop" or run.client == "crt":
            # measured in-process, after a first (warm-up) GET: the awscrt ceiling's process
            # also creates a native client the boto3 start-up baseline does not
            cpu_net = float(out["cpu"])
        src = sc.dataset.bucket
        by_bucket = after["by_bucket"]
        src_ops = {k.rsplit(" ", 1)[0]: v for k, v in by_bucket.items() if k.endswith(f" {src}")}
        other = {k: v for k, v in by_bucket.items() if not k.endswith(f" {src}")}
        return {
            "scenario": sc.name,
            "run": run.label,
            "kind": run.kind,
            "compress": run.compress,
            "objects": objects,
            "object_size": size,
            "bytes": objects * size,
            "seconds": round(seconds, 3),
            "process_wall": round(m.wall, 3),
            "objects_per_s": round(objects / seconds, 1) if seconds else None,
            "mb_per_s": round(objects * size / seconds / 1e6, 1) if seconds else None,
            "cpu_process": round(m.cpu, 3),
            "cpu_net": round(cpu_net, 3),
            "cpu_in_process": out.get("cpu"),
            "cpu_s_per_1k": round(cpu_net / objects * 1000, 3) if objects else None,
            "peak_rss_mib": round(m.peak_rss_mib, 1),
            "src_requests_per_object": round(sum(src_ops.values()) / objects, 3),
            "get_per_object": round(src_ops.get("GetObject", 0) / objects, 3),
            "tagging_per_object": round(src_ops.get("GetObjectTagging", 0) / objects, 3),
            "upload_parts": by_bucket.get(f"UploadPart {ARCHIVE_BUCKET}", 0),
            "other_requests": sum(other.values())
            - by_bucket.get(f"UploadPart {ARCHIVE_BUCKET}", 0),
            "requests": after["ops"],
            "requests_by_bucket": by_bucket,
            "replayed": after["replayed"],
            "server_cpu": round(after["cpu_seconds"] - before["cpu_seconds"], 3),
            "vs_ceiling": None,
            "vs_crt_ceiling": None,
            "vs_plain": None,
        }

    def _bundler_outcome(self, row: dict[str, Any], uri: str, m: Measured) -> None:
        """Work seconds and archive size from the completion report (``<manifest>.done``);
        then delete the archive so the endpoint's memory does not fill up."""
        key = uri.split("/", 3)[3]
        try:
            report = json.loads(
                self.s3.get_object(Bucket=MANIFEST_BUCKET, Key=key + ".done")["Body"].read()
            )
        except Exception:  # no report: keep the process wall time
            report = {}
        if report.get("seconds"):
            seconds = float(report["seconds"])
            row["seconds"] = round(seconds, 3)
            row["objects_per_s"] = round(row["objects"] / seconds, 1)
            row["mb_per_s"] = round(row["bytes"] / seconds / 1e6, 1)
        row["archived"] = report.get("archived")
        row["failed"] = report.get("failed")
        listed = self.s3.list_objects_v2(Bucket=ARCHIVE_BUCKET).get("Contents", [])
        sunk = self.server.counts()["sink_objects"]  # archives the endpoint did not store
        row["archive_bytes"] = sum(o["Size"] for o in listed if ".tar" in o["Key"][-8:]) + sum(
            sunk.values()
        )
        row["archive_ratio"] = (
            round(row["archive_bytes"] / row["bytes"], 4) if row["bytes"] else None
        )
        if listed:
            self.s3.delete_objects(
                Bucket=ARCHIVE_BUCKET, Delete={"Objects": [{"Key": o["Key"]} for o in listed]}
            )
        if report.get("failed"):
            self.settings.log(f"  WARNING: {report['failed']} objects failed: {report}")
        noise = [ln for ln in m.stderr.splitlines() if ln.strip() and " INFO " not in ln]
        if noise:
            row["stderr_tail"] = "\n".join(noise)[-500:]


def cpu_busy_seconds() -> float:
    """CPU seconds all cores of this machine have been busy (any process), from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _short(row: dict[str, Any]) -> str:
    ratio = "".join(
        f" ({row[f]:.0%}{tag})"
        for f, tag in (("vs_ceiling", ""), ("vs_crt_ceiling", " awscrt"))
        if row.get(f)
    )
    return f"{row['run']} {row['objects_per_s']:.0f} obj/s{ratio}"


def _one_line(row: dict[str, Any]) -> str:
    ratio = f" = {row['vs_ceiling']:.0%} of boto3 ceiling" if row.get("vs_ceiling") else ""
    if row.get("compress") and row.get("archive_ratio"):
        ratio += f"; archive {row['archive_ratio']:.1%} of the data"
    load = row.get("background_cores") or 0
    busy = f"  [other load {load:.1f} cores]" if load >= 0.2 else ""
    return (
        f"  {row['scenario']:>7} {row['run']:<11} {row['objects']:>5} x "
        f"{format_size(row['object_size']):>7}: {row['seconds']:6.2f}s "
        f"{row['objects_per_s']:8.1f} obj/s {row['mb_per_s']:7.1f} MB/s  "
        f"CPU {row['cpu_s_per_1k']:.3f}s/1k  RSS {row['peak_rss_mib']:.0f} MiB  "
        f"src req/obj {row['src_requests_per_object']:.2f}{ratio}{busy}"
    )
