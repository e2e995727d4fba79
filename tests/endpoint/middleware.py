"""The WSGI middleware around moto's app: control paths (``/__faults/...``), fault rules
applied to every other request, and the request log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from tests.endpoint.answers import cut_body, drain, error_answer, flip_byte, no_answer
from tests.endpoint.checksum_shim import CopyChecksums
from tests.endpoint.classify import RequestInfo, classify, request_headers
from tests.endpoint.rules import AFTER, BEFORE, Rule, parse_rules

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Answer = tuple[str, list[tuple[str, str]], bytes]

#: Requests signed with this access key id are never faulted (tests inspect with it).
EXEMPT_ACCESS_KEY = "FAULTEXEMPT"
#: Request headers kept in the log (never a secret: the SSE-C key itself is not kept).
LOGGED_HEADERS = (
    "x-amz-expected-bucket-owner",
    "x-amz-source-expected-bucket-owner",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-bucket-key-enabled",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-customer-key-md5",
    "x-amz-copy-source-server-side-encryption-customer-key-md5",
    "x-amz-storage-class",
    "x-amz-tagging",
)
_SSE_C_READS = frozenset({"GetObject", "HeadObject"})


def _json(start_response: Callable[..., Any], doc: object, status: str = "200 OK") -> list[bytes]:
    data = json.dumps(doc).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def call_moto(app: WsgiApp, environ: dict[str, Any]) -> Answer:
    """moto's whole answer: (status, headers, body), nothing sent yet."""
    captured: list[Any] = ["500 Internal Server Error", []]

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured[:] = [status, list(headers)]
        return lambda data: None

    result = app(environ, capture)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured[0], captured[1], body


def _with_length(headers: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    """``headers`` with Content-Length set to ``length`` (so a cut body is a short read)."""
    out = [(k, v) for k, v in headers if k.lower() != "content-length"]
    return [*out, ("Content-Length", str(length))]


class FaultMiddleware:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._log: list[dict[str, Any]] = []
        self._t0 = time.monotonic()
        self._copy_checksums = CopyChecksums()

    # -- control ------------------------------------------------------------------------------
    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/__faults/rules":
            if method in ("PUT", "POST"):
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                    rules = parse_rules(json.loads(environ["wsgi.input"].read(length) or b"[]"))
                except (ValueError, TypeError) as exc:
                    return _json(start_response, {"error": str(exc)}, "400 Bad Request")
                with self._lock:
                    self._rules = rules if method == "PUT" else [*self._rules, *rules]
            elif method == "DELETE":
                with self._lock:
                    self._rules = []
            with self._lock:
                return _json(start_response, [r.to_json() for r in self._rules])
        if path == "/__faults/log":
            with self._lock:
                if method == "DELETE":
                    self._log.clear()
                since = int(parse_qs(environ.get("QUERY_STRING", "")).get("since", ["0"])[0])
                return _json(start_response, self._log[since:])
        return _json(start_response, {"error": f"no control path {path}"}, "404 Not Found")

    # -- requests -----------------------------------------------------------------------------
    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/__faults/"):
            return self._control(environ, start_response)
        req = classify(environ)
        now = time.monotonic()
        entry: dict[str, Any] = {"t": round(now - self._t0, 3), **req.log_fields()}
        # Every key is set now: the log may be read (serialised) while the values change.
        entry.update(status=0, bytes_sent=0, body_size=0, fault=None, latency_ms=0)
        entry.update(corrupted_at=None, exempt=req.access_key == EXEMPT_ACCESS_KEY, n=0)
        sent = request_headers(environ)
        entry["headers"] = {h: sent[h] for h in LOGGED_HEADERS if h in sent}
        with self._lock:
            rules = [] if entry["exempt"] else [r for r in self._rules if r.matches(req, now)]
            entry["n"] = len(self._log)
            self._log.append(entry)
        latency = sum(r.ms for r in rules if r.kind == "latency" and r.fire())
        if latency:
            entry["latency_ms"] = latency
            time.sleep(latency / 1000)
        refused = _check(req, rules, entry["headers"])
        if refused is not None:
            entry["fault"] = refused.label
            drain(environ)
            code, status = (
                ("AccessDenied", 403) if refused.kind == "owner" else ("InvalidRequest", 400)
            )
            answer = error_answer(req, environ, status, code, f"{refused.kind} check", "check")
            return self._send(answer, start_response, entry)
        before = next((r for r in rules if r.kind in BEFORE and r.fire()), None)
        if before is not None:
            entry["fault"] = before.label
            if before.kind == "error":
                drain(environ)
                rid = f"fault-{entry['n']}"
                answer = error_answer(req, environ, before.status, before.code, before.message, rid)
                return self._send(answer, start_response, entry)
            return no_answer(environ, start_response)
        return self._after_moto(req, rules, environ, start_response, entry)

    def _after_moto(
        self,
        req: RequestInfo,
        rules: list[Rule],
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        entry: dict[str, Any],
    ) -> Iterable[bytes]:
        headers = request_headers(environ)
        status, out_headers, body = call_moto(self.app, environ)
        self._copy_checksums.observe(req, headers, status, body)
        ok = status[:1] == "2"
        shim = next((r for r in rules if r.kind == "copy_checksum" and r.fire()), None)
        if shim is not None and ok and req.operation == "UploadPartCopy":
            query = environ.get("QUERY_STRING", "")
            body = self._copy_checksums.add(req, headers, query, body, shim.algorithm)
            out_headers = _with_length(out_headers, len(body))
        entry["body_size"] = len(body)
        damage = next(
            (r for r in rules if r.kind in AFTER and ok and len(body) >= r.min_size and r.fire()),
            None,
        )
        if damage is None or req.method == "HEAD":
            return self._send((status, out_headers, body), start_response, entry)
        entry["fault"] = damage.label
        if damage.kind == "reset_after":
            return no_answer(environ, start_response)
        if damage.kind == "corrupt":
            body, entry["corrupted_at"] = flip_byte(body, damage.offset)
            return self._send((status, out_headers, body), start_response, entry)
        keep = max(0, min(len(body) - 1, int(len(body) * damage.fraction)))
        entry.update(status=int(status[:3]), bytes_sent=keep)
        start_response(status, _with_length(out_headers, len(body)))
        return cut_body(environ, body, keep)

    def _send(
        self, answer: Answer, start_response: Callable[..., Any], entry: dict[str, Any]
    ) -> list[bytes]:
        status, headers, body = answer
        if not any(k.lower() == "content-length" for k, _ in headers):
            headers = _with_length(headers, len(body))
        sent = 0 if entry["method"] == "HEAD" else len(body)
        entry.update(status=int(status[:3]), bytes_sent=sent, body_size=len(body))
        start_response(status, headers)
        return [body]


def _check(req: RequestInfo, rules: list[Rule], headers: dict[str, str]) -> Rule | None:
    """The check rule a request fails, if any (see rules.CHECKS)."""
    for rule in rules:
        owner = headers.get("x-amz-expected-bucket-owner")
        if rule.kind == "owner" and owner is not None and owner != rule.account:
            return rule
        key_md5 = headers.get("x-amz-server-side-encryption-customer-key-md5")
        if rule.kind == "sse_c" and req.operation in _SSE_C_READS and key_md5 != rule.key_md5:
            return rule
    return None
