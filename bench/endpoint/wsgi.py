"""WSGI plumbing the endpoint's own answers share: reading a request body and its headers,
S3-style XML and error answers, JSON answers, and calling an app while keeping its answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

#: A WSGI application: ``app(environ, start_response) -> body chunks``.
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's ``HTTP_*`` headers, lower-case and dashed (``x-amz-checksum-crc32``)."""
    return {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}


def read_body(environ: dict[str, Any]) -> bytes:
    """The whole request body: Content-Length bytes, or up to the end of a chunked body."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # Transfer-Encoding: chunked
        parts = []
        while chunk := stream.read(1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    want = int(environ.get("CONTENT_LENGTH") or 0)
    parts, got = [], 0
    while got < want:
        chunk = stream.read(want - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def xml_response(status: str, body: str, start_response: Callable[..., Any]) -> list[bytes]:
    """An XML document answer (``body`` without the XML declaration)."""
    data = f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'.encode()
    start_response(
        status, [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))]
    )
    return [data]


def s3_error(code: str, message: str, start_response: Callable[..., Any]) -> list[bytes]:
    """An S3 ``<Error>`` answer: 404 for NoSuchUpload, 400 for every other code."""
    status = {"NoSuchUpload": "404 Not Found"}.get(code, "400 Bad Request")
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return xml_response(status, body, start_response)


def json_response(start_response: Callable[..., Any], body: object) -> list[bytes]:
    """A 200 answer with ``body`` as JSON."""
    data = json.dumps(body).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def call_app(
    app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any]
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Let ``app`` answer (its answer also goes to ``start_response``); returns the status,
    headers and whole body it gave."""
    captured: list[Any] = ["", []]

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured[:] = [status, headers]
        return start_response(status, headers, exc_info)

    result = app(environ, capture)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured[0], captured[1], body
