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

HTTPS: by default the endpoint speaks TLS with a self-signed certificate for 127.0.0.1
(clients get ``AWS_CA_BUNDLE``), because botocore behaves differently over plain HTTP: it
SHA-256-hashes every request body for the signature and sends checksums as headers, where
over HTTPS (as against S3) it sends ``UNSIGNED-PAYLOAD`` with an aws-chunked CRC32 trailer.

Multipart sink and put sink: see :mod:`bench.endpoint.sinks`.

Replay of GETs: see :mod:`bench.endpoint.replay`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.endpoint.middleware import BenchMiddleware
from s3common.local_endpoint import stop_process
from s3common.running import StartStop

ROOT = Path(__file__).resolve().parents[2]

#: Dummy credentials and region (never valid against AWS); same as s3common.local_endpoint.
LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _keep_alive_handler() -> type:
    """werkzeug's request handler closes every connection after one response (it cannot drain
    a request body it did not read). S3 keeps connections alive and so do its clients, and a
    TCP connection per request would add connect/teardown CPU to every GET on both sides. This
    handler reads exactly Content-Length bytes of body (draining what the app left), answers
    with a Content-Length, and keeps the connection for the next request (also over TLS)."""
    import socket

    from werkzeug.serving import DechunkedInput, WSGIRequestHandler
    from werkzeug.wsgi import LimitedStream

    class KeepAliveHandler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 600  # idle keep-alive connections end eventually

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def run_wsgi(self) -> None:
            if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            environ = self.make_environ()
            body_in = environ["wsgi.input"]
            if not isinstance(body_in, DechunkedInput):
                body_in = LimitedStream(self.rfile, int(environ.get("CONTENT_LENGTH") or 0))
                environ["wsgi.input"] = body_in
            response: list[Any] = ["500 Internal Server Error", []]
            chunks: list[bytes] = []

            def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
                response[:] = [status, headers]
                return chunks.append

            try:
                result = self.server.app(environ, start_response)
                try:
                    chunks.extend(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            except Exception as exc:  # the server must answer and keep serving
                traceback.print_exc()
                response[:] = ["500 Internal Server Error", []]
                chunks[:] = [f"bench endpoint: {type(exc).__name__}: {exc}".encode()]
                self.close_connection = True
            while body_in.read(1 << 20):  # drain what the app did not read
                pass
            body = b"".join(chunks)
            status, headers = response
            head = [f"HTTP/1.1 {status}", "Server: bench-endpoint"]
            has_length = False
            for name, value in headers:
                lname = name.lower()
                if lname in ("connection", "transfer-encoding", "server"):
                    continue
                has_length = has_length or lname == "content-length"
                head.append(f"{name}: {value}")
            if not has_length:
                head.append(f"Content-Length: {len(body)}")
            if self.close_connection:
                head.append("Connection: close")
            data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
            if self.command == "HEAD":
                body = b""
            if len(body) <= 1 << 16:
                self.wfile.write(data + body)
            else:
                self.wfile.write(data)
                self.wfile.write(body)

    return KeepAliveHandler


def make_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (an IP address); returns (cert, key) paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "bench-endpoint.crt", directory / "bench-endpoint.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def serve(
    host: str,
    port: int,
    latency_ms: float = 0.0,
    replay: bool = True,
    replay_max: int = 16 << 20,
    sink_buckets: Iterable[str] = (),
    tls: tuple[str, str] | None = None,
    put_sinks: Iterable[str] = (),
) -> None:
    """Serve moto's WSGI app, wrapped, with werkzeug's threaded server (as moto.server does);
    ``tls`` = (certificate file, key file) for HTTPS."""
    import moto.backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    # moto lists its package directory (~180 stat calls) on every request to find the backend;
    # the list never changes while the server runs. Caching it halves moto's CPU per request.
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: iter(modules)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    main_app = DomainDispatcherApplication(create_backend_app)
    main_app.debug = True  # type: ignore[attr-defined]  # as moto.server does
    app = BenchMiddleware(
        main_app,
        latency_ms / 1000,
        replay=replay,
        replay_max=replay_max,
        sink_buckets=sink_buckets,
        put_sinks=put_sinks,
    )
    run_simple(
        host, port, app, threaded=True, request_handler=_keep_alive_handler(), ssl_context=tls
    )


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
