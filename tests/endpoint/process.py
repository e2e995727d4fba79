"""The fault endpoint as a child process, and its control client: :class:`FaultServer`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from s3common.local_endpoint import LOCAL_ENV, free_port, stop_process
from s3common.running import StartStop
from tests.endpoint.middleware import EXEMPT_ACCESS_KEY

ROOT = Path(__file__).resolve().parents[2]


class FaultServer(StartStop):
    """``with FaultServer() as server: ...`` -- moto behind the fault middleware, in a child
    process on a free loopback port."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    # -- the process --------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> FaultServer:
        cmd = [
            sys.executable,
            "-m",
            "tests.endpoint",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        env = {**os.environ, **LOCAL_ENV, "PYTHONPATH": str(ROOT)}
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"fault endpoint exited with {self._proc.returncode}: {cmd}")
            try:
                self.rules()
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"fault endpoint did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None

    # -- clients ------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 (and the CLIs) at this endpoint."""
        return {**LOCAL_ENV, "AWS_ENDPOINT_URL": self.url}

    def client(self, service: str, *, exempt: bool = False, **config: Any) -> Any:
        """A boto3 client of this endpoint; ``exempt``: signed with the access key no fault
        applies to (for seeding and inspecting while faults are on). ``config``: botocore
        Config arguments (e.g. ``retries={"max_attempts": 1}``)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=LOCAL_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=EXEMPT_ACCESS_KEY if exempt else LOCAL_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
            config=Config(**config),
        )

    # -- control ------------------------------------------------------------------------------
    def _call(self, path: str, method: str = "GET", doc: Any = None) -> Any:
        data = None if doc is None else json.dumps(doc).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 400:
                raise ValueError(json.loads(exc.read()).get("error", "bad rules")) from None
            raise

    def set_faults(self, *rules: dict[str, Any], seed: int = 0, add: bool = False) -> list[dict]:
        """Replace the rules (``add``: append to them); returns every rule now in force.
        Rules' ``start``/``stop`` count from this call."""
        return self._call(
            "/__faults/rules", "POST" if add else "PUT", {"seed": seed, "rules": rules}
        )

    def clear(self) -> None:
        """No more faults (the log stays)."""
        self._call("/__faults/rules", "DELETE")

    def rules(self) -> list[dict[str, Any]]:
        """The rules in force, with their ``matched``/``fired`` counters."""
        return self._call("/__faults/rules")

    def requests(self, since: int = 0, **match: Any) -> list[dict[str, Any]]:
        """The request log from entry ``since`` on, optionally only entries whose fields equal
        ``match`` (``requests(operation="GetObject", bucket="src")``). Entries: ``n t method
        service operation bucket key range status bytes_sent body_size fault latency_ms
        corrupted_at exempt``."""
        entries = self._call(f"/__faults/log?since={since}")
        return [e for e in entries if all(e.get(k) == v for k, v in match.items())]

    def clear_log(self) -> None:
        self._call("/__faults/log", "DELETE")

    def headers(self, **match: Any) -> list[dict[str, str]]:
        """The headers of the logged requests that match (``exempt`` set-up calls left out)."""
        return [r["headers"] for r in self.requests(**match) if not r["exempt"]]

    def fresh(self, monkeypatch: Any, *buckets: str, exempt: bool = True) -> Any:
        """:meth:`reset`, point the standard variables at this endpoint (``monkeypatch``),
        create ``buckets``; returns an S3 client, ``exempt`` (never faulted, left out of
        :meth:`headers`) unless told otherwise."""
        self.reset()
        for name, value in self.env().items():
            monkeypatch.setenv(name, value)
        client = self.client("s3", exempt=exempt)
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        return client

    def reset(self) -> None:
        """Back to a fresh endpoint: no rules, an empty log, nothing stored in moto."""
        self.clear()
        self.clear_log()
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=60).close()
