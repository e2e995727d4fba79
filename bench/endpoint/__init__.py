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

Replay: moto spends 1-2 ms of CPU on every GET (Flask routing, response building). On a
2-core machine that shares the cores with the client being measured, so with replay on (the
default) a plain GetObject (no Range, no conditions) whose answer moto already gave once is
answered again from the recorded status, headers and body -- byte for byte what moto said,
without moto's CPU. Any PUT/POST/DELETE on the key (or a bucket delete, or moto's reset)
forgets it. Bodies up to ``--replay-max`` bytes are recorded: right after a successful
PutObject the wrapper GETs the object from moto in-process (no query, ``x-amz-checksum-mode:
ENABLED``, as boto3 asks) and keeps the answer. ``counts()["replayed"]`` says how many answers
were replays.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from bench.endpoint.operations import s3_operation
from bench.endpoint.sinks import MultipartSink, PutSink
from bench.endpoint.wsgi import (
    WsgiApp,
    call_app,
    json_response,
    request_headers,
)
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

_CONDITIONAL = frozenset({"if-match", "if-none-match", "if-modified-since", "if-unmodified-since"})


_SINK_OPS = frozenset(
    {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"}
)


class Recorded(NamedTuple):
    status: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class BenchMiddleware:
    """WSGI middleware around moto's app: count the request, sleep ``latency`` seconds, then
    answer it from the multipart sink, the put sink, a recorded answer, or by calling
    ``app``."""

    def __init__(
        self,
        app: WsgiApp,
        latency: float = 0.0,
        replay: bool = True,
        replay_max: int = 16 << 20,
        sink_buckets: Iterable[str] = (),
        put_sinks: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.sink = MultipartSink()
        self.sink_buckets = frozenset(sink_buckets)
        self.put_sink = PutSink(put_sinks)
        self.latency = latency
        self.replay = replay
        self.replay_max = replay_max
        self._lock = threading.Lock()
        self._ops: Counter[str] = Counter()
        self._by_bucket: Counter[str] = Counter()
        self._bytes_in: Counter[str] = Counter()
        self._replayed = 0
        # path -> {(query, checksum mode): (status, headers, body)}
        self._recorded: dict[str, dict[tuple[str, str], Recorded]] = {}

    def counts(self) -> dict[str, Any]:
        with self._lock:
            cpu = os.times()
            return {
                "ops": dict(self._ops),
                "by_bucket": dict(self._by_bucket),
                "bytes_in": dict(self._bytes_in),
                "latency_ms": self.latency * 1000,
                "cpu_seconds": round(cpu.user + cpu.system, 3),
                "replayed": self._replayed,
                "recorded": sum(len(v) for v in self._recorded.values()),
                "sink_objects": dict(self.sink.objects),
                "sink_parts": self.sink.parts,
                "put_sink_objects": self.put_sink.summary(),
            }

    def reset(self) -> None:
        with self._lock:
            self._ops.clear()
            self._by_bucket.clear()
            self._bytes_in.clear()
            self._replayed = 0
        self.sink.reset()

    def _forget(self, op: str, path: str, bucket: str) -> None:
        """Drop recorded answers a request may have made stale."""
        if not self._recorded:
            return
        with self._lock:
            if path.startswith("/moto-api") or op in ("DeleteObjects", "DeleteBucket"):
                stale = [p for p in self._recorded if path.startswith("/moto-api")
                         or p.startswith(f"/{bucket}/")]  # fmt: skip
            else:
                stale = [path]
            for p in stale:
                self._recorded.pop(p, None)

    def _put_and_record(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Pass a PutObject to moto; when it succeeds, GET the object from moto in-process
        (as a client would: no query, ``x-amz-checksum-mode: ENABLED``) and record the answer
        for replay -- cheaper than a client reading every object once after seeding."""
        status, _, body = call_app(self.app, environ, start_response)
        if status.startswith("200"):
            keep = {"HTTP_HOST", "HTTP_AUTHORIZATION", "HTTP_X_AMZ_DATE", "HTTP_USER_AGENT"}
            get = {
                k: v
                for k, v in environ.items()
                if not (k.startswith("HTTP_") or k.startswith("CONTENT_")) or k in keep
            }
            path = environ["PATH_INFO"]
            get.pop("wsgi.input_terminated", None)
            get.update(
                {
                    "REQUEST_METHOD": "GET",
                    "QUERY_STRING": "",
                    "REQUEST_URI": path,
                    "RAW_URI": path,
                    "CONTENT_LENGTH": "0",
                    "HTTP_X_AMZ_CHECKSUM_MODE": "ENABLED",
                    "wsgi.input": io.BytesIO(),
                }
            )
            self._get_replayable(get, lambda *args: None, ("", "ENABLED"))
        return [body]

    def _get_replayable(
        self, environ: dict[str, Any], start_response: Callable[..., Any], key: tuple[str, str]
    ) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        hit = self._recorded.get(path, {}).get(key)
        if hit is not None:
            with self._lock:
                self._replayed += 1
            start_response(hit.status, list(hit.headers))
            return [hit.body]
        status, headers, body = call_app(self.app, environ, start_response)
        if status.startswith("200") and len(body) <= self.replay_max:
            keep = tuple((k, v) for k, v in headers if k.lower() not in ("date", "server"))
            with self._lock:
                self._recorded.setdefault(path, {})[key] = Recorded(status, keep, body)
        return [body]

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        query = environ.get("QUERY_STRING", "")
        if path == "/__bench/counts":
            return json_response(start_response, self.counts())
        if path == "/__bench/reset":
            self.reset()
            return json_response(start_response, {"reset": True})
        if path == "/__bench/latency":
            ms = float(parse_qs(query).get("ms", ["0"])[0])
            self.latency = ms / 1000
            return json_response(start_response, {"latency_ms": ms})
        if path == "/__bench/replay":
            self.replay = parse_qs(query).get("on", ["1"])[0] not in ("0", "false")
            if not self.replay:
                with self._lock:
                    self._recorded.clear()
            return json_response(start_response, {"replay": self.replay})
        if path == "/__bench/put-sink":
            pattern = parse_qs(query).get("pattern", [""])[0]
            return json_response(start_response, {"put_sink": self.put_sink.set_pattern(pattern)})
        if path.startswith("/moto-api/reset"):
            self.put_sink.clear()  # moto forgets every object: so does the sink
        headers = request_headers(environ)
        op, bucket = s3_operation(method, path, query, headers)
        size = int(environ.get("CONTENT_LENGTH") or 0)
        with self._lock:
            self._ops[op] += 1
            self._by_bucket[f"{op} {bucket}"] += 1
            self._bytes_in[op] += size
        if self.latency > 0:
            time.sleep(self.latency)
        if bucket in self.sink_buckets and op in _SINK_OPS:
            key = path.lstrip("/").partition("/")[2]
            return self.sink.handle(op, bucket, key, environ, start_response)
        if method not in ("GET", "HEAD"):
            self._forget(op, path, bucket)
        if "x-amz-copy-source" not in headers:
            key = path.lstrip("/").partition("/")[2]
            if self.put_sink.wants(op, bucket, key, query):
                return self.put_sink.handle(op, bucket, key, environ, start_response)
        if self.replay and op == "PutObject" and bucket not in self.sink_buckets:
            return self._put_and_record(environ, start_response)
        elif self.replay and op == "GetObject" and not _CONDITIONAL.intersection(headers):
            key = (query, headers.get("x-amz-checksum-mode", ""))
            return self._get_replayable(environ, start_response, key)
        return self.app(environ, start_response)


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
