"""Replay of GETs: moto spends 1-2 ms of CPU on every GET (Flask routing, response building).
On a 2-core machine that shares the cores with the client being measured, so with replay on (the
default) a plain GetObject (no Range, no conditions) whose answer moto already gave once is
answered again from the recorded status, headers and body -- byte for byte what moto said,
without moto's CPU. Any PUT/POST/DELETE on the key (or a bucket delete, or moto's reset)
forgets it. Bodies up to ``--replay-max`` bytes are recorded: right after a successful
PutObject the wrapper GETs the object from moto in-process (no query, ``x-amz-checksum-mode:
ENABLED``, as boto3 asks) and keeps the answer. ``counts()["replayed"]`` says how many answers
were replays.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from bench.endpoint.wsgi import WsgiApp, call_app

#: Request headers of a PutObject that the in-process GET after it keeps.
_GET_KEEPS = frozenset({"HTTP_HOST", "HTTP_AUTHORIZATION", "HTTP_X_AMZ_DATE", "HTTP_USER_AGENT"})


class Recorded(NamedTuple):
    """One answer moto gave, as it gave it (less its Date and Server headers)."""

    status: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class Replay:
    """Recorded answers of ``app`` (moto) to plain GETs, given again without calling it."""

    def __init__(self, app: WsgiApp, max_bytes: int = 16 << 20) -> None:
        self.app = app
        self.max_bytes = max_bytes  # larger bodies are not recorded
        self._lock = threading.Lock()
        self._replayed = 0
        # path -> {(query, checksum mode): (status, headers, body)}
        self._recorded: dict[str, dict[tuple[str, str], Recorded]] = {}

    def stats(self) -> tuple[int, int]:
        """(answers replayed since the last :meth:`reset_count`, answers recorded)."""
        with self._lock:
            return self._replayed, sum(len(v) for v in self._recorded.values())

    def reset_count(self) -> None:
        with self._lock:
            self._replayed = 0

    def clear(self) -> None:
        """Forget every recorded answer."""
        with self._lock:
            self._recorded.clear()

    def forget(self, op: str, path: str, bucket: str) -> None:
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

    def put_and_record(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Pass a PutObject to moto; when it succeeds, GET the object from moto in-process
        (as a client would: no query, ``x-amz-checksum-mode: ENABLED``) and record the answer
        for replay -- cheaper than a client reading every object once after seeding."""
        status, _, body = call_app(self.app, environ, start_response)
        if status.startswith("200"):
            self.get(_get_after_put(environ), lambda *args: None, ("", "ENABLED"))
        return [body]

    def get(
        self, environ: dict[str, Any], start_response: Callable[..., Any], key: tuple[str, str]
    ) -> Iterable[bytes]:
        """Answer a GetObject from the answer recorded for its path and ``key`` (query,
        checksum mode), or let moto answer it and record that answer."""
        path = environ["PATH_INFO"]
        hit = self._recorded.get(path, {}).get(key)
        if hit is not None:
            with self._lock:
                self._replayed += 1
            start_response(hit.status, list(hit.headers))
            return [hit.body]
        status, headers, body = call_app(self.app, environ, start_response)
        if status.startswith("200") and len(body) <= self.max_bytes:
            keep = tuple((k, v) for k, v in headers if k.lower() not in ("date", "server"))
            with self._lock:
                self._recorded.setdefault(path, {})[key] = Recorded(status, keep, body)
        return [body]


def _get_after_put(environ: dict[str, Any]) -> dict[str, Any]:
    """The WSGI environ of a plain GET of the object a PutObject (``environ``) wrote."""
    get = {
        k: v
        for k, v in environ.items()
        if not (k.startswith("HTTP_") or k.startswith("CONTENT_")) or k in _GET_KEEPS
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
    return get
