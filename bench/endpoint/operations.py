"""Which S3 operation a request is: the name the endpoint counts it under (``GetObject``,
``UploadPart``, ...) and routes it by (sinks, replay)."""

from __future__ import annotations

from urllib.parse import parse_qs

#: Query parameters of a bucket GET that still make it a ListObjects(V2).
_LIST_PARAMS = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "max-keys",
        "continuation-token",
        "encoding-type",
        "marker",
        "start-after",
        "fetch-owner",
    }
)


def s3_operation(method: str, path: str, query: str, headers: dict[str, str]) -> tuple[str, str]:
    """(S3 operation name, bucket) of a path-style S3 request; other requests are named by
    method and first path segment (bucket "")."""
    if path.startswith("/moto-api") or path.startswith("/__bench"):
        return f"{method} {path.split('?')[0]}", ""
    bucket, _, key = path.lstrip("/").partition("/")
    q = parse_qs(query, keep_blank_values=True)
    if not bucket:
        return f"{method} /", ""
    if not key:
        return _bucket_operation(method, q), bucket
    return _object_operation(method, q, headers), bucket


def _bucket_operation(method: str, q: dict[str, list[str]]) -> str:
    if method == "PUT":
        return "PutBucket" + next(iter(q), "").capitalize() if q else "CreateBucket"
    if method == "POST" and "delete" in q:
        return "DeleteObjects"
    if method == "DELETE" and not q:
        return "DeleteBucket"
    if method == "GET" and not q.keys() - _LIST_PARAMS:
        return "ListObjects"
    return f"{method} bucket?{'&'.join(sorted(q))}"


def _object_operation(method: str, q: dict[str, list[str]], headers: dict[str, str]) -> str:
    copy = "x-amz-copy-source" in headers
    if method == "GET":
        if "tagging" in q:
            return "GetObjectTagging"
        if "uploadId" in q:
            return "ListParts"
        if "acl" in q or "attributes" in q or "retention" in q or "legal-hold" in q:
            return f"GetObject?{'&'.join(sorted(q))}"
        return "GetObjectRange" if "range" in headers else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "PUT":
        if "partNumber" in q and "uploadId" in q:
            return "UploadPartCopy" if copy else "UploadPart"
        if "tagging" in q:
            return "PutObjectTagging"
        return "CopyObject" if copy else "PutObject"
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload"
        if "uploadId" in q:
            return "CompleteMultipartUpload"
    if method == "DELETE":
        if "uploadId" in q:
            return "AbortMultipartUpload"
        if "tagging" in q:
            return "DeleteObjectTagging"
        return "DeleteObject"
    return f"{method} object?{'&'.join(sorted(q))}"
