"""How each fault answers (or does not): error documents in the protocol of the service,
a connection closed with no answer, a body cut short, a byte flipped."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any
from xml.sax.saxutils import escape

from tests.endpoint.classify import RequestInfo

_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Error')}"


def drain(environ: dict[str, Any]) -> None:
    """Read the request body the fault will not pass on, so the client can finish sending
    and read the answer."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # chunked: read to its end
        while stream.read(1 << 20):
            pass
        return
    left = int(environ.get("CONTENT_LENGTH") or 0)
    while left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            return
        left -= len(chunk)


def error_answer(
    req: RequestInfo, environ: dict[str, Any], status: int, code: str, message: str, rid: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """An AWS error answer: S3's ``<Error>`` XML; the JSON protocol's ``__type`` document
    (SQS, with its query-compatible error header); the query protocol's ``<ErrorResponse>``."""
    message = message or f"injected fault: {code}"
    ctype = environ.get("CONTENT_TYPE", "")
    extra: list[tuple[str, str]] = []
    if req.service == "s3" or req.service == "":
        body = (
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{rid}</RequestId></Error>"
        )
        data, ctype = f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'.encode(), "application/xml"
    elif ctype.startswith("application/x-amz-json"):
        data = json.dumps({"__type": f"com.amazonaws.{req.service}#{code}", "message": message})
        data = data.encode()
        kind = "Receiver" if status >= 500 else "Sender"
        extra = [("x-amzn-query-error", f"{code};{kind}")]
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        data = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>{rid}</RequestId>"
            "</ErrorResponse>"
        ).encode()
        ctype = "text/xml"
    if req.method == "HEAD":
        data = b""
    headers = [
        ("Content-Type", ctype),
        ("Content-Length", str(len(data))),
        ("x-amz-request-id", rid),
        *extra,
    ]
    return status_line(status), headers, data


def close_connection(environ: dict[str, Any], how: int = socket.SHUT_RDWR) -> None:
    """Shut the client's connection down (werkzeug then fails to write, quietly)."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("no werkzeug.socket: serve with werkzeug's request handler")
    with contextlib.suppress(OSError):  # the client may be gone already
        sock.shutdown(how)


def no_answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Reset: the connection closes and the client gets no answer at all."""
    close_connection(environ)
    start_response("500 Internal Server Error", [("Content-Length", "0")])
    return [b""]


def cut_body(environ: dict[str, Any], body: bytes, keep: int) -> Iterator[bytes]:
    """Send the first ``keep`` bytes of ``body`` (the headers announced all of it), then close
    the connection."""
    if keep:
        yield body[:keep]
    close_connection(environ, socket.SHUT_WR)


def flip_byte(body: bytes, offset: int | None) -> tuple[bytes, int]:
    """``body`` with one byte inverted (at ``offset``, default the middle); and where."""
    if not body:
        return body, -1
    at = len(body) // 2 if offset is None else min(max(offset, 0), len(body) - 1)
    data = bytearray(body)
    data[at] ^= 0xFF
    return bytes(data), at
