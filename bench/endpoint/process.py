"""The benchmark endpoint as a child process: :class:`BenchServer` starts ``python -m
bench.endpoint`` on a free loopback port (with a fresh self-signed certificate unless
``tls=False``), points boto3 at it, and drives its control paths (counts, latency, put-sink
patterns, moto's reset) over HTTP."""

from __future__ import annotations

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
