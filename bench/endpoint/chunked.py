"""Request payloads as S3 receives them: aws-chunked bodies (botocore's streaming uploads over
HTTPS: ``UNSIGNED-PAYLOAD`` data chunks with the checksum in a trailer) decoded, and CRC32 in
the base64 form of ``x-amz-checksum-crc32``."""

from __future__ import annotations

import base64
import zlib
from typing import Any

from bench.endpoint.wsgi import read_body, request_headers


def decode_aws_chunked(raw: bytes) -> tuple[bytes, dict[str, str]]:
    """Data and trailer headers of an aws-chunked body (``<hex>[;sig]\\r\\n<data>\\r\\n``...)."""
    out, trailers, pos = [], {}, 0
    view = memoryview(raw)
    while True:
        eol = raw.index(b"\r\n", pos)
        size = int(raw[pos:eol].split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            break
        out.append(view[pos : pos + size])
        pos += size + 2
    for line in raw[pos:].split(b"\r\n"):
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            trailers[name.strip().lower()] = value.strip()
    return b"".join(out), trailers


def crc32_b64(data: bytes) -> str:
    """CRC32 of ``data`` as S3 writes it: 4 big-endian bytes, base64."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def read_payload(environ: dict[str, Any]) -> tuple[bytes, dict[str, str], dict[str, str]]:
    """The request's (decoded data, trailer headers, request headers): the body is decoded
    when it is aws-chunked (``Content-Encoding`` or a ``STREAMING-`` content SHA-256)."""
    raw = read_body(environ)
    headers = request_headers(environ)
    sha = headers.get("x-amz-content-sha256", "")
    chunked = "aws-chunked" in headers.get("content-encoding", "") or sha.startswith("STREAMING-")
    data, trailers = decode_aws_chunked(raw) if chunked else (raw, {})
    return data, trailers, headers
