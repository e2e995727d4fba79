"""Serving: moto's WSGI app, wrapped in :class:`BenchMiddleware`, on werkzeug's threaded
server (as ``python -m moto.server`` builds it) with a keep-alive request handler, over HTTPS
when given a certificate.

werkzeug's request handler closes every connection after one response (it cannot drain a
request body it did not read). S3 keeps connections alive and so do its clients, and a TCP
connection per request would add connect/teardown CPU to every GET on both sides.
:class:`KeepAliveHandler` reads exactly Content-Length bytes of body (draining what the app
left), answers with a Content-Length, and keeps the connection for the next request (also over
TLS).
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Iterable
from typing import Any

from werkzeug.serving import DechunkedInput, WSGIRequestHandler, run_simple
from werkzeug.wsgi import LimitedStream

from bench.endpoint.middleware import BenchMiddleware


class KeepAliveHandler(WSGIRequestHandler):
    """A request handler that keeps the connection open after each answer (module doc)."""

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
        status, headers, body = self._call_app(environ)
        while body_in.read(1 << 20):  # drain what the app did not read
            pass
        self._send(status, headers, body)

    def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[Any], bytes]:
        """The app's (status, headers, whole body); a 500 (and a closing connection) when it
        raises, since the server must answer and keep serving."""
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
        return response[0], response[1], b"".join(chunks)

    def _send(self, status: str, headers: list[Any], body: bytes) -> None:
        """Write the answer with a Content-Length (no body for HEAD)."""
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
    # moto is imported only now, after main() has set the AWS environment for it.
    import moto.backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

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
    run_simple(host, port, app, threaded=True, request_handler=KeepAliveHandler, ssl_context=tls)
