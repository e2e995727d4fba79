"""Sinks: write requests the endpoint answers itself, checking and counting each body
without storing it.

Multipart sink: for the buckets named with ``--sink-bucket`` the wrapper answers
CreateMultipartUpload, UploadPart, CompleteMultipartUpload and AbortMultipartUpload itself:
it reads every part, checks its CRC32 (header or aws-chunked trailer) and part numbering, and
keeps sizes only (``counts()["sink_objects"]``). moto would spend ~30 ms of CPU per 8 MiB part
(MD5, temp files, a regex over the body) and hold every archive in memory -- on 2 shared cores
that, not the bundler, would be the bottleneck for large archives. Everything else on those
buckets (HEAD, PUT of the index, DELETE) still goes to moto.

Put sink: for keys matching a pattern (``--put-sink 'bench-work/run-1/*.index'``, an fnmatch
glob on ``bucket/key``; or set at run time) the wrapper answers PutObject itself: it reads the
body, checks its CRC32 (header or aws-chunked trailer), its Content-MD5 if sent, and its decoded
length, and keeps size, newline count and CRC32 only (``counts()["put_sink_objects"]``); the
ETag is the MD5 when Content-MD5 was sent (checked), else a random one. It answers the four
multipart upload requests on those keys too, as the multipart sink does (s3grouper uploads its
sub-manifests that way), keeping size, newline count, Content-Type and user metadata (no CRC32
of the whole) once the upload completes. moto spends ~6 ms of
CPU per sub-manifest PUT (XML, storage, the replay recording) on the cores the client being
measured shares -- s3grouper's 222 sub-manifests per million rows made moto, not s3grouper,
much of what was measured. A key held by the sink answers HeadObject (size, ETag = as above,
Content-Type, user metadata) and DeleteObject; GetObject of it, and a listing whose prefix
covers it, fail with an S3 NotImplemented error (HTTP 400), since the body was not kept:
nothing can read a sunk object as if it were stored. Other checksum algorithms are refused the
same way. moto's reset forgets the sink's objects and patterns.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from bench.endpoint.chunked import crc32_b64, read_payload
from bench.endpoint.wsgi import S3_NS, read_body, request_headers, s3_error, xml_response

#: The multipart upload requests the sinks answer.
MULTIPART_OPS = frozenset(
    {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"}
)


def _user_metadata(headers: dict[str, str]) -> dict[str, str]:
    meta = "x-amz-meta-"
    return {k[len(meta) :]: v for k, v in headers.items() if k.startswith(meta)}


def _body_error(
    data: bytes, crc: str, expected: str | None, headers: dict[str, str]
) -> tuple[str, str] | None:
    """(S3 error code, message) when the body does not match the CRC32 it was sent with or its
    decoded length; None when it does."""
    if expected and expected != crc:
        return "BadDigest", f"CRC32 {crc} != {expected}"
    decoded = headers.get("x-amz-decoded-content-length")
    if decoded and int(decoded) != len(data):
        return "IncompleteBody", f"{len(data)} bytes, not {decoded}"
    return None


class MultipartSink:
    """Multipart uploads that are checked and counted but not stored (see the module doc)."""

    def __init__(
        self, on_complete: Callable[[str, dict[str, Any], str], None] | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._uploads: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, int] = {}  # "bucket/key" -> size of completed uploads
        self.parts = 0
        #: Called as ``on_complete("bucket/key", upload, etag)`` when an upload completes; with
        #: it, each part's lines are counted too (``upload["lines"]``), and ``upload`` holds the
        #: Content-Type and user metadata the upload was created with.
        self.on_complete = on_complete

    def reset(self) -> None:
        """Forget the completed uploads and the part count (uploads in progress stay)."""
        with self._lock:
            self.objects.clear()
            self.parts = 0

    def handle(
        self, op: str, bucket: str, key: str, environ: dict[str, Any], start: Callable[..., Any]
    ) -> list[bytes]:
        """Answer one of the four multipart operations on ``bucket``/``key``."""
        q = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if op == "CreateMultipartUpload":
            read_body(environ)
            return self._create(bucket, key, environ, start)
        upload_id = q.get("uploadId", [""])[0]
        upload = self._uploads.get(upload_id)
        if upload is None or upload["key"] != f"{bucket}/{key}":
            read_body(environ)
            return s3_error("NoSuchUpload", "The specified upload does not exist.", start)
        if op == "UploadPart":
            return self._part(upload, int(q["partNumber"][0]), environ, start)
        if op == "AbortMultipartUpload":
            with self._lock:
                self._uploads.pop(upload_id, None)
            start("204 No Content", [("Content-Length", "0")])
            return [b""]
        return self._complete(upload_id, upload, bucket, key, read_body(environ), start)

    def _create(
        self, bucket: str, key: str, environ: dict[str, Any], start: Callable[..., Any]
    ) -> list[bytes]:
        upload_id = uuid.uuid4().hex
        upload = {"key": f"{bucket}/{key}", "parts": {}, "lines": {}}
        if self.on_complete is not None:
            upload["content_type"] = environ.get("CONTENT_TYPE") or "binary/octet-stream"
            upload["metadata"] = _user_metadata(request_headers(environ))
        with self._lock:
            self._uploads[upload_id] = upload
        return xml_response(
            "200 OK",
            f'<InitiateMultipartUploadResult xmlns="{S3_NS}"><Bucket>{escape(bucket)}'
            f"</Bucket><Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId>"
            "</InitiateMultipartUploadResult>",
            start,
        )

    def _complete(
        self,
        upload_id: str,
        upload: dict[str, Any],
        bucket: str,
        key: str,
        body: bytes,
        start: Callable[..., Any],
    ) -> list[bytes]:
        """CompleteMultipartUpload: the listed parts must all be uploaded, in ascending order,
        and all but the last at least 5 MiB."""
        numbers = [int(n) for n in re.findall(rb"<PartNumber>(\d+)</PartNumber>", body)]
        parts = upload["parts"]
        if not numbers or numbers != sorted(set(numbers)) or any(n not in parts for n in numbers):
            return s3_error("InvalidPart", f"parts {numbers[:5]}... not all uploaded", start)
        too_small = [n for n in numbers[:-1] if parts[n] < 5 << 20]
        if too_small:
            return s3_error("EntityTooSmall", f"part {too_small[0]} below 5 MiB", start)
        with self._lock:
            self._uploads.pop(upload_id, None)
            self.objects[upload["key"]] = sum(parts[n] for n in numbers)
        etag = f"{uuid.uuid4().hex}-{len(numbers)}"
        if self.on_complete is not None:
            self.on_complete(upload["key"], {**upload, "numbers": numbers}, f'"{etag}"')
        return xml_response(
            "200 OK",
            f'<CompleteMultipartUploadResult xmlns="{S3_NS}"><Location>/{escape(bucket)}/'
            f"{escape(key)}</Location><Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
            f"<ETag>&quot;{etag}&quot;</ETag></CompleteMultipartUploadResult>",
            start,
        )

    def _part(
        self, upload: dict[str, Any], number: int, environ: dict[str, Any], start: Any
    ) -> list[bytes]:
        data, trailers, headers = read_payload(environ)
        expected = trailers.get("x-amz-checksum-crc32") or headers.get("x-amz-checksum-crc32")
        crc = crc32_b64(data)
        if error := _body_error(data, crc, expected, headers):
            return s3_error(*error, start)
        with self._lock:
            upload["parts"][number] = len(data)
            if self.on_complete is not None:
                upload["lines"][number] = data.count(b"\n")
            self.parts += 1
        etag = f'"{uuid.uuid4().hex}"'
        start(
            "200 OK",
            [("ETag", etag), ("x-amz-checksum-crc32", crc), ("Content-Length", "0")],
        )
        return [b""]


class PutSink:
    """PutObject bodies that are checked and counted but not stored (see the module doc)."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self.patterns: list[str] = list(patterns)
        #: "bucket/key" -> size, lines, crc32 (and, for HEAD, etag / content type / metadata)
        self.objects: dict[str, dict[str, Any]] = {}
        self.multipart = MultipartSink(on_complete=self._completed)

    def clear(self) -> None:
        """Forget every pattern and every sunk object (moto's reset)."""
        with self._lock:
            self.patterns.clear()
            self.objects.clear()
        self.multipart.reset()

    def set_pattern(self, pattern: str) -> list[str]:
        """Add ``pattern`` (``bucket/glob``), or with "" remove every pattern (keeping what was
        sunk); returns the patterns now in force."""
        with self._lock:
            if pattern:
                self.patterns.append(pattern)
            else:
                self.patterns.clear()
            return list(self.patterns)

    def wants(self, op: str, bucket: str, key: str, query: str) -> bool:
        """Whether this request is the sink's to answer."""
        name = f"{bucket}/{key}"
        if op == "PutObject" or op in MULTIPART_OPS:
            return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)
        if op in ("HeadObject", "GetObject", "GetObjectRange", "DeleteObject"):
            return name in self.objects
        if op == "ListObjects" and self.objects:
            prefix = parse_qs(query).get("prefix", [""])[0]
            return any(k.startswith(f"{bucket}/{prefix}") for k in list(self.objects))
        return False

    def summary(self) -> dict[str, dict[str, Any]]:
        """ "bucket/key" -> size, lines and crc32 of every sunk object."""
        with self._lock:
            return {
                k: {"size": v["size"], "lines": v["lines"], "crc32": v["crc32"]}
                for k, v in self.objects.items()
            }

    def handle(
        self, op: str, bucket: str, key: str, environ: dict[str, Any], start: Callable[..., Any]
    ) -> list[bytes]:
        """Answer a request :meth:`wants`."""
        name = f"{bucket}/{key}"
        if op == "PutObject":
            return self._put(name, environ, start)
        if op in MULTIPART_OPS:
            return self.multipart.handle(op, bucket, key, environ, start)
        read_body(environ)
        if op == "DeleteObject":
            with self._lock:
                self.objects.pop(name, None)
            start("204 No Content", [("Content-Length", "0")])
            return [b""]
        obj = self.objects.get(name)
        if op == "HeadObject" and obj is not None:
            headers = [
                ("Content-Length", str(obj["size"])),
                ("ETag", obj["etag"]),
                ("Last-Modified", obj["modified"]),
                ("Content-Type", obj["content_type"]),
                *[(f"x-amz-meta-{k}", v) for k, v in obj["metadata"].items()],
            ]
            if obj["crc32_sent"] and environ.get("HTTP_X_AMZ_CHECKSUM_MODE") == "ENABLED":
                headers.append(("x-amz-checksum-crc32", obj["crc32"]))
            start("200 OK", headers)
            return [b""]
        what = "listing it" if op == "ListObjects" else "reading it"
        return s3_error(
            "NotImplemented", f"{name} is in the bench put sink: {what} is not supported", start
        )

    def _completed(self, name: str, upload: dict[str, Any], etag: str) -> None:
        """A multipart upload completed: it is kept like a PUT (no CRC32 of the whole)."""
        obj = {
            "size": sum(upload["parts"][n] for n in upload["numbers"]),
            "lines": sum(upload["lines"][n] for n in upload["numbers"]),
            "crc32": None,
            "crc32_sent": False,
            "etag": etag,
            "content_type": upload["content_type"],
            "metadata": upload["metadata"],
            "modified": formatdate(usegmt=True),
        }
        with self._lock:
            self.objects[name] = obj

    def _put(self, name: str, environ: dict[str, Any], start: Callable[..., Any]) -> list[bytes]:
        data, trailers, headers = read_payload(environ)
        checksums = {k: v for k, v in headers.items() if k.startswith("x-amz-checksum-")}
        checksums.update(trailers)
        checksums.pop("x-amz-checksum-mode", None)
        other = sorted(set(checksums) - {"x-amz-checksum-crc32"})
        if other:
            return s3_error("NotImplemented", f"bench put sink checks CRC32 only: {other}", start)
        expected = checksums.get("x-amz-checksum-crc32")
        crc = crc32_b64(data)
        if error := _body_error(data, crc, expected, headers):
            return s3_error(*error, start)
        etag = f'"{uuid.uuid4().hex}"'  # MD5 only when asked to check it: ~2 ms per MiB
        if content_md5 := headers.get("content-md5"):
            md5 = hashlib.md5(data)
            if content_md5 != base64.b64encode(md5.digest()).decode():
                return s3_error("BadDigest", "Content-MD5 does not match the body", start)
            etag = f'"{md5.hexdigest()}"'
        obj = {
            "size": len(data),
            "lines": data.count(b"\n"),
            "crc32": crc,
            "crc32_sent": bool(expected),
            "etag": etag,
            "content_type": environ.get("CONTENT_TYPE") or "binary/octet-stream",
            "metadata": _user_metadata(headers),
            "modified": formatdate(usegmt=True),
        }
        with self._lock:
            self.objects[name] = obj
        reply = [("ETag", etag), ("Content-Length", "0")]
        if expected:
            reply.append(("x-amz-checksum-crc32", crc))
        start("200 OK", reply)
        return [b""]
