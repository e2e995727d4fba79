"""The WSGI middleware around moto's app: it answers the endpoint's control paths
(``/__bench/...``, see :mod:`bench.endpoint`), counts every other request by S3 operation and
bucket, waits the added latency, and routes the request to the multipart sink, the put sink,
the replay of GETs, or moto.

The latency is a sleep before the request reaches moto (time to first byte); it does not model
S3's per-connection bandwidth. Sleeping releases the GIL, so concurrent requests overlap as
they would against S3; moto's own CPU time per request comes on top.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from bench.endpoint.operations import s3_operation
from bench.endpoint.replay import Replay
from bench.endpoint.sinks import MULTIPART_OPS, MultipartSink, PutSink
from bench.endpoint.wsgi import WsgiApp, json_response, request_headers

_CONDITIONAL = frozenset({"if-match", "if-none-match", "if-modified-since", "if-unmodified-since"})


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
        self.replayer = Replay(app, replay_max)
        self._lock = threading.Lock()
        self._ops: Counter[str] = Counter()
        self._by_bucket: Counter[str] = Counter()
        self._bytes_in: Counter[str] = Counter()

    def counts(self) -> dict[str, Any]:
        """What ``GET /__bench/counts`` answers."""
        with self._lock:
            cpu = os.times()
            replayed, recorded = self.replayer.stats()
            return {
                "ops": dict(self._ops),
                "by_bucket": dict(self._by_bucket),
                "bytes_in": dict(self._bytes_in),
                "latency_ms": self.latency * 1000,
                "cpu_seconds": round(cpu.user + cpu.system, 3),
                "replayed": replayed,
                "recorded": recorded,
                "sink_objects": dict(self.sink.objects),
                "sink_parts": self.sink.parts,
                "put_sink_objects": self.put_sink.summary(),
            }

    def reset(self) -> None:
        """Zero the request counts, the replay count and the multipart sink's counts."""
        with self._lock:
            self._ops.clear()
            self._by_bucket.clear()
            self._bytes_in.clear()
            self.replayer.reset_count()
        self.sink.reset()

    def _control(
        self, path: str, query: str, start_response: Callable[..., Any]
    ) -> list[bytes] | None:
        """Answer a ``/__bench/...`` control path; None for any other path."""
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
                self.replayer.clear()
            return json_response(start_response, {"replay": self.replay})
        if path == "/__bench/put-sink":
            pattern = parse_qs(query).get("pattern", [""])[0]
            return json_response(start_response, {"put_sink": self.put_sink.set_pattern(pattern)})
        return None

    def _count(self, op: str, bucket: str, size: int) -> None:
        with self._lock:
            self._ops[op] += 1
            self._by_bucket[f"{op} {bucket}"] += 1
            self._bytes_in[op] += size

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        query = environ.get("QUERY_STRING", "")
        answer = self._control(path, query, start_response)
        if answer is not None:
            return answer
        if path.startswith("/moto-api/reset"):
            self.put_sink.clear()  # moto forgets every object: so does the sink
        headers = request_headers(environ)
        op, bucket = s3_operation(method, path, query, headers)
        self._count(op, bucket, int(environ.get("CONTENT_LENGTH") or 0))
        if self.latency > 0:
            time.sleep(self.latency)
        key = path.lstrip("/").partition("/")[2]
        if bucket in self.sink_buckets and op in MULTIPART_OPS:
            return self.sink.handle(op, bucket, key, environ, start_response)
        if method not in ("GET", "HEAD"):
            self.replayer.forget(op, path, bucket)
        if "x-amz-copy-source" not in headers and self.put_sink.wants(op, bucket, key, query):
            return self.put_sink.handle(op, bucket, key, environ, start_response)
        if self.replay and op == "PutObject" and bucket not in self.sink_buckets:
            return self.replayer.put_and_record(environ, start_response)
        elif self.replay and op == "GetObject" and not _CONDITIONAL.intersection(headers):
            replay_key = (query, headers.get("x-amz-checksum-mode", ""))
            return self.replayer.get(environ, start_response, replay_key)
        return self.app(environ, start_response)
