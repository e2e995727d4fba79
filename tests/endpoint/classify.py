"""What a request is, as fault rules and the request log see it: the AWS service (from the
SigV4 credential scope), the operation, and for S3 the bucket, key and Range header."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from bench.endpoint.operations import s3_operation

#: ``Credential=AKID/20240101/us-east-1/s3/aws4_request`` (header) or ``X-Amz-Credential=``
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]*/([^/,\s]+)/aws4_request")
#: smithy-rpc-v2-cbor (CloudWatch): ``POST /service/<ServiceName>/operation/<Operation>``
_RPC_PATH = re.compile(r"^/service/[^/]+/operation/([^/]+)$")
_FORM = "application/x-www-form-urlencoded"
_MAX_FORM = 1 << 20


@dataclass(frozen=True)
class RequestInfo:
    """One request, classified. ``service`` is the SigV4 signing name (``s3``, ``sqs``,
    ``monitoring``...), ``moto-api`` for moto's own paths, ``s3`` for unsigned requests to
    anything else (S3 answers those); ``operation`` is the S3 operation (``GetObject`` for
    ranged GETs too: ``range`` tells them apart) or the other service's action name."""

    method: str
    service: str
    operation: str
    bucket: str = ""
    key: str = ""
    range: str = ""
    access_key: str = ""

    def log_fields(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "service": self.service,
            "operation": self.operation,
            "bucket": self.bucket,
            "key": self.key,
            "range": self.range,
        }


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers, lower-case and dashed (``x-amz-copy-source``)."""
    headers = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k[:5] == "HTTP_"}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def wsgi_path(environ: dict[str, Any]) -> str:
    """PATH_INFO as text: WSGI hands it over as latin-1 characters of the UTF-8 bytes."""
    raw = environ.get("PATH_INFO", "")
    return raw.encode("latin-1", "replace").decode("utf-8", "surrogateescape")


def classify(environ: dict[str, Any]) -> RequestInfo:
    """Classify a request (reading, and putting back, a small form body when the action is
    only there: query-protocol services)."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = wsgi_path(environ)
    query = environ.get("QUERY_STRING", "")
    headers = request_headers(environ)
    found = _CREDENTIAL.search(headers.get("authorization", "") or query)
    access_key, service = found.groups() if found else ("", "")
    if path.startswith("/moto-api"):
        return RequestInfo(method, "moto-api", path, access_key=access_key)
    if service in ("", "s3"):
        op, bucket = s3_operation(method, path, query, headers)
        key = path.lstrip("/").partition("/")[2]
        op = "GetObject" if op == "GetObjectRange" else op
        return RequestInfo(
            method, "s3", op, bucket, key, headers.get("range", ""), access_key=access_key
        )
    return RequestInfo(
        method, service, _action(environ, headers, path, query), "", "", "", access_key
    )


def _action(environ: dict[str, Any], headers: dict[str, str], path: str, query: str) -> str:
    """The action of a non-S3 request: JSON protocol target, RPC path, or query ``Action``."""
    target = headers.get("x-amz-target", "")
    if target:
        return target.rpartition(".")[2]
    rpc = _RPC_PATH.match(path)
    if rpc:
        return rpc.group(1)
    action = parse_qs(query).get("Action")
    if action:
        return action[0]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if headers.get("content-type", "").startswith(_FORM) and 0 < length <= _MAX_FORM:
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return f"{environ.get('REQUEST_METHOD', 'GET')} {path}"
