"""A moto server that behaves a little more like S3 for benchmarks: every request waits a
configurable latency before moto answers it, and every request is counted by S3 operation and
bucket.

Run as a process (``python -m bench.endpoint --port P``) or use :class:`BenchServer`, which
starts one on a free loopback port. Besides the AWS APIs (answered by moto, exactly as
``python -m moto.server`` builds them) the wrapper answers four paths of its own:

- ``GET  /__bench/counts``  -> ``{"ops": {"GetObject": n, ...}, "by_bucket": {"GetObject
  bucket": n, ...}, "bytes_in": {...}, "latency_ms": 20.0, "cpu_seconds": 12.3, "replayed":
  n, "recorded": n, "sink_objects": {"bucket/key": size}, "sink_parts": n, "put_sink_objects":
  {"bucket/key": {"size": n, "lines": n, "crc32": b64}}}``
  (``cpu_seconds`` is the server process's own user+system CPU);
- ``POST /__bench/reset``   -> zero the counts;
- ``POST /__bench/latency?ms=20`` -> set the added latency (0 turns it off, e.g. for seeding);
- ``POST /__bench/replay?on=1`` -> turn GET replay on or off (see below);
- ``POST /__bench/put-sink?pattern=BUCKET/GLOB`` -> add a put-sink pattern (see below; without
  ``pattern``: remove all patterns, keeping what was sunk).

The latency is a sleep before the request reaches moto (time to first byte); it does not model
S3's per-connection bandwidth. Sleeping releases the GIL, so concurrent requests overlap as
they would against S3; moto's own CPU time per request comes on top.

HTTPS: see :mod:`bench.endpoint.certificate`.

Multipart sink and put sink: see :mod:`bench.endpoint.sinks`.

Replay of GETs: see :mod:`bench.endpoint.replay`.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.endpoint.certificate import make_certificate
from s3common.local_endpoint import LOCAL_ENV, free_port, stop_process
from s3common.running import StartStop

ROOT = Path(__file__).resolve().parents[2]


class BenchServer(StartStop):
    """``with BenchServer() as server: ...`` -- the wrapped moto server as a child process."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        replay: bool = True,
        tls: bool = True,
        sink_buckets: Iterable[str] = (),
        put_sinks: Iterable[str] = (),
    ) -> None:
        self.replay = replay
        self.tls = tls
        self.sink_buckets = tuple(sink_buckets)
        self.put_sinks = tuple(put_sinks)
        self.host = host
        self.port = port or free_port(host)
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self.pid = 0
        self.ca_bundle: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ssl: ssl.SSLContext | None = None

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 at this server."""
        extra = {"AWS_CA_BUNDLE": self.ca_bundle} if self.ca_bundle else {}
        return {**LOCAL_ENV, "AWS_ENDPOINT_URL": self.url, **extra}

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server (for seeding and inspection)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=LOCAL_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
            verify=self.ca_bundle or True,
            config=Config(**config),
        )

    def start(self, timeout: float = 60.0) -> BenchServer:
        cmd = [sys.executable, "-m", "bench.endpoint", "--host", self.host]
        cmd += ["--port", str(self.port)]
        if not self.replay:
            cmd.append("--no-replay")
        for bucket in self.sink_buckets:
            cmd += ["--sink-bucket", bucket]
        for pattern in self.put_sinks:
            cmd += ["--put-sink", pattern]
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="bench-endpoint-")
            cert, key = make_certificate(Path(self._tmp.name), self.host)
            cmd += ["--cert", str(cert), "--key", str(key)]
            self.ca_bundle = str(cert)
            self._ssl = ssl.create_default_context(cafile=self.ca_bundle)
        env = {**os.environ, **LOCAL_ENV, "PYTHONPATH": str(ROOT)}
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
        )
        self.pid = self._proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"bench endpoint exited with {self._proc.returncode}: {cmd}")
            try:
                self.counts()
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"bench endpoint did not answer on {self.url} within {timeout}s")

    def _call(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"{self.url}{path}", method=method)
        with urllib.request.urlopen(req, timeout=30, context=self._ssl) as resp:
            return json.loads(resp.read() or b"null")

    def counts(self) -> dict[str, Any]:
        return self._call("/__bench/counts")

    def reset_counts(self) -> None:
        self._call("/__bench/reset", "POST")

    def set_latency(self, ms: float) -> None:
        self._call(f"/__bench/latency?ms={ms}", "POST")

    def set_put_sink(self, pattern: str | None) -> None:
        """Add a put-sink pattern (``bucket/glob``); None removes every pattern."""
        query = f"?pattern={urllib.parse.quote(pattern, safe='')}" if pattern else ""
        self._call(f"/__bench/put-sink{query}", "POST")

    def reset_state(self) -> None:
        """Drop everything moto holds (buckets, objects, uploads)."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=120, context=self._ssl).close()

    def stop(self) -> None:
        if self._proc is None:
            return
        stop_process(self._proc)
        self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.endpoint", description=__doc__.splitlines()[0]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--no-replay", action="store_true", help="every GET reaches moto")
    p.add_argument("--replay-max", type=int, default=16 << 20, help="largest body recorded")
    p.add_argument("--sink-bucket", action="append", default=[], help="multipart sink bucket")
    p.add_argument(
        "--put-sink", action="append", default=[], metavar="BUCKET/GLOB",
        help="PutObject of matching keys checked and counted, not stored",
    )  # fmt: skip
    p.add_argument("--cert", help="TLS certificate (PEM); with --key: serve HTTPS")
    p.add_argument("--key", help="TLS private key (PEM)")
    args = p.parse_args(argv)
    os.environ.update({k: v for k, v in LOCAL_ENV.items() if k not in os.environ})
    from bench.endpoint.server import serve

    serve(
        args.host,
        args.port,
        args.latency_ms,
        replay=not args.no_replay,
        replay_max=args.replay_max,
        sink_buckets=args.sink_bucket,
        put_sinks=args.put_sink,
        tls=(args.cert, args.key) if args.cert and args.key else None,
    )
