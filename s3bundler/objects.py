"""Reading source objects: GET (by VersionId when known), tags, integrity checks, and the
mapping of S3 errors to DLQ reasons. No tar or upload logic here.

Integrity rules (docs/bundler.md):
- the MD5 of every archived object's bytes is computed as they stream;
- where the ETag is a plain MD5 (single-part upload, not SSE-KMS/SSE-C) a different MD5 is a
  ``ChecksumMismatch``;
- GETs ask for S3's additional full-object checksum (``ChecksumMode=ENABLED``: CRC32, CRC32C,
  CRC64NVME, SHA1/256/512, MD5, XXHASH64/3/128); botocore verifies it at the end of a boto3
  body, :class:`BodyChecksum` (botocore's implementations) for awscrt GETs; a failure is a
  ``ChecksumMismatch`` too;
- an object whose size or ETag differs from the sub-manifest is archived as it is now (one GET
  is one consistent version) and flagged ``size-changed``/``etag-changed`` in the index.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import botocore.exceptions
from botocore import httpchecksum
from urllib3.exceptions import HTTPError as Urllib3Error

from s3bundler import dlq
from s3common.aws import AWS_ERRORS, describe, error_code
from s3common.errors import DownloadError
from s3common.submanifest import ManifestEntry

log = logging.getLogger(__name__)

CHUNK = 1 << 20
READ_ATTEMPTS = 3
_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")
#: S3's additional checksum algorithms, in botocore's order of preference (S3 keeps one per
#: object; the first present is recorded).
CHECKSUM_ALGORITHMS = (
    "XXHASH128",
    "XXHASH3",
    "CRC64NVME",
    "XXHASH64",
    "CRC32C",
    "CRC32",
    "SHA1",
    "SHA256",
    "SHA512",
    "MD5",
)
_META = "x-amz-meta-"

#: Errors that happen while reading a response body (connection dropped, timeout).
STREAM_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    Urllib3Error,
    ConnectionError,
)
#: Errors with no answer from S3 at all: a manifest-level failure, not an object's.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    *STREAM_ERRORS,
)

_REASONS = {
    "NoSuchKey": dlq.NO_SUCH_KEY,
    "NoSuchVersion": dlq.NO_SUCH_KEY,
    "404": dlq.NO_SUCH_KEY,
    "NotFound": dlq.NO_SUCH_KEY,
    "NoSuchBucket": dlq.NO_SUCH_BUCKET,
    "AccessDenied": dlq.ACCESS_DENIED,
    "403": dlq.ACCESS_DENIED,
    "AllAccessDisabled": dlq.ACCESS_DENIED,
    "InvalidObjectState": dlq.GLACIER,
    "PreconditionFailed": dlq.CHANGED,
    "412": dlq.CHANGED,
    "SlowDown": dlq.THROTTLED,
    "503": dlq.THROTTLED,
    "ServiceUnavailable": dlq.THROTTLED,
    "Throttling": dlq.THROTTLED,
    "ThrottlingException": dlq.THROTTLED,
    "RequestTimeout": dlq.THROTTLED,
    "InternalError": dlq.THROTTLED,
    "500": dlq.THROTTLED,
}


def reason_for(exc: BaseException) -> str:
    """The DLQ reason for a per-object failure."""
    if isinstance(exc, botocore.exceptions.FlexibleChecksumError):
        return dlq.CHECKSUM_MISMATCH
    return reason_for_code(error_code(exc))


def reason_for_code(code: str) -> str:
    """The DLQ reason for an S3 error code (or a bare HTTP status such as '404')."""
    return _REASONS.get(code, dlq.ERROR)


def full_object_checksum(value_of: Callable[[str], str | None], checksum_type: str | None) -> str:
    """``"CRC32:base64"`` (etc.) for the object's full-object checksum, or "" when it has none
    or only a composite one (multipart uploads: a checksum of part checksums, ``...-N``)."""
    if (checksum_type or "FULL_OBJECT") != "FULL_OBJECT":
        return ""
    for alg in CHECKSUM_ALGORITHMS:
        value = value_of(alg)
        if value and "-" not in value:
            return f"{alg}:{value}"
    return ""


class _Md5Checksum:
    """S3's ``ChecksumMD5`` (botocore verifies it but has no class of its own for it)."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)

    def b64digest(self) -> str:
        return base64.b64encode(self._md5.digest()).decode()


#: botocore's implementation of each algorithm (the awscrt-backed ones where botocore uses them).
_CHECKSUM_CLASSES: dict[str, Callable[[], Any]] = {
    "XXHASH128": httpchecksum.CrtXxhash128Checksum,
    "XXHASH3": httpchecksum.CrtXxhash3Checksum,
    "CRC64NVME": httpchecksum.CrtCrc64NvmeChecksum,
    "XXHASH64": httpchecksum.CrtXxhash64Checksum,
    "CRC32C": httpchecksum.CrtCrc32cChecksum,
    "CRC32": httpchecksum.CrtCrc32Checksum,
    "SHA1": httpchecksum.Sha1Checksum,
    "SHA256": httpchecksum.Sha256Checksum,
    "SHA512": httpchecksum.Sha512Checksum,
    "MD5": _Md5Checksum,
}


class BodyChecksum:
    """Checks the full-object checksum S3 announced (``"CRC32:base64"`` etc.) over a body read
    chunk by chunk, with botocore's checksum implementations -- for clients that do not verify
    it themselves (awscrt's DEFAULT requests); botocore verifies it for boto3 GETs."""

    def __init__(self, announced: str) -> None:
        self.announced = announced
        factory = _CHECKSUM_CLASSES.get(announced.partition(":")[0])
        self._checksum = factory() if factory is not None else None

    def update(self, chunk: bytes) -> None:
        if self._checksum is not None:
            self._checksum.update(chunk)

    def mismatch(self) -> str:
        """The empty string when the body matches (or nothing was announced), else why not."""
        if self._checksum is None:
            return ""
        alg, _, expected = self.announced.partition(":")
        got = self._checksum.b64digest()
        return "" if got == expected else f"{alg} of bytes read {got} != {expected} announced by S3"


def iso8601(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def strip_etag(etag: str) -> str:
    return etag.strip('"')


@dataclass
class ObjectInfo:
    """What S3 said about one object version in its GET/HEAD response."""

    size: int
    etag: str
    last_modified: datetime
    version_id: str
    content_type: str
    metadata: dict[str, str]
    storage_class: str
    tag_count: int
    checksum: str  # "CRC32:base64" etc., or ""
    plain_md5_etag: bool  # ETag is the MD5 of the bytes
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_response(cls, resp: dict[str, Any], version_id: str = "") -> ObjectInfo:
        """From a boto3 GetObject/HeadObject response."""
        etag = strip_etag(resp.get("ETag", ""))
        sse = resp.get("ServerSideEncryption", "")
        checksum = full_object_checksum(
            lambda alg: resp.get(f"Checksum{alg}"), resp.get("ChecksumType")
        )
        return cls(
            size=int(resp.get("ContentLength", 0)),
            etag=etag,
            last_modified=resp["LastModified"],
            version_id=resp.get("VersionId") or version_id,
            content_type=resp.get("ContentType", ""),
            metadata=dict(resp.get("Metadata") or {}),
            storage_class=resp.get("StorageClass", "STANDARD"),
            tag_count=int(resp.get("TagCount", 0) or 0),
            checksum=checksum,
            plain_md5_etag=bool(_PLAIN_MD5.match(etag))
            and not sse.startswith("aws:kms")
            and "SSECustomerAlgorithm" not in resp,
            raw={k: v for k, v in resp.items() if k not in ("Body", "ResponseMetadata")},
        )

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], version_id: str = "") -> ObjectInfo:
        """From the raw headers (names in lower case) of a successful GetObject response."""
        etag = strip_etag(headers.get("etag", ""))
        return cls(
            size=int(headers.get("content-length", 0)),
            etag=etag,
            last_modified=parsedate_to_datetime(headers["last-modified"]),
            version_id=headers.get("x-amz-version-id") or version_id,
            content_type=headers.get("content-type", ""),
            metadata={
                name[len(_META) :]: value
                for name, value in headers.items()
                if name.startswith(_META)
            },
            storage_class=headers.get("x-amz-storage-class", "STANDARD"),
            tag_count=int(headers.get("x-amz-tagging-count", 0) or 0),
            checksum=full_object_checksum(
                lambda alg: headers.get(f"x-amz-checksum-{alg.lower()}"),
                headers.get("x-amz-checksum-type"),
            ),
            plain_md5_etag=bool(_PLAIN_MD5.match(etag))
            and not headers.get("x-amz-server-side-encryption", "").startswith("aws:kms")
            and "x-amz-server-side-encryption-customer-algorithm" not in headers,
        )

    def flags_against(self, entry: ManifestEntry) -> list[str]:
        """How this object differs from its sub-manifest row."""
        flags = []
        if entry.size is not None and entry.size != self.size:
            flags.append("size-changed")
        if entry.etag and strip_etag(entry.etag) != self.etag:
            flags.append("etag-changed")
        return flags


class ObjectFailed(Exception):
    """A per-object failure that ends up as a DLQ row."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def get_args(entry: ManifestEntry) -> dict[str, Any]:
    args: dict[str, Any] = {"Bucket": entry.bucket, "Key": entry.key, "ChecksumMode": "ENABLED"}
    if entry.version_id:
        args["VersionId"] = entry.version_id
    return args


def open_object(s3: Any, entry: ManifestEntry, **extra: Any) -> dict[str, Any]:
    """GET the object; S3 errors become ObjectFailed, no-answer errors DownloadError."""
    try:
        return s3.get_object(**get_args(entry), **extra)
    except NETWORK_ERRORS as exc:
        raise DownloadError(
            f"cannot read s3://{entry.bucket}/{entry.key}: {describe(exc)}"
        ) from exc
    except AWS_ERRORS as exc:
        raise ObjectFailed(reason_for(exc), describe(exc)) from exc


def read_tags(s3: Any, entry: ManifestEntry, info: ObjectInfo) -> tuple[dict[str, str] | None, str]:
    """Tags of the object when it has any (TagCount from the GET), plus a flag on failure."""
    if not info.tag_count:
        return {}, ""
    args = {"Bucket": entry.bucket, "Key": entry.key}
    if info.version_id and info.version_id != "null":
        args["VersionId"] = info.version_id
    try:
        tagset = s3.get_object_tagging(**args)["TagSet"]
    except AWS_ERRORS as exc:
        log.warning("cannot read tags of s3://%s/%s: %s", entry.bucket, entry.key, describe(exc))
        return None, f"tags-unreadable:{error_code(exc)}"
    return {t["Key"]: t["Value"] for t in tagset}, ""


def check_md5(info: ObjectInfo, md5_hex: str) -> None:
    if info.plain_md5_etag and md5_hex != info.etag:
        raise ObjectFailed(
            dlq.CHECKSUM_MISMATCH, f"md5 of bytes read {md5_hex} != ETag {info.etag}"
        )


@dataclass
class Fetched:
    """A small object read whole into memory by a download thread."""

    entry: ManifestEntry
    info: ObjectInfo
    data: bytes
    md5: str
    tags: dict[str, str] | None
    flags: list[str]


class TooBigToBuffer(Exception):
    """The object turned out larger than the buffering limit; stream it instead."""


def fetch_whole(s3: Any, entry: ManifestEntry, buffer_limit: int) -> Fetched:
    """GET a small object into memory, verifying it. Raises ObjectFailed, TooBigToBuffer or
    DownloadError. A body read that breaks is retried with a fresh GET."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        resp = open_object(s3, entry)
        info = ObjectInfo.from_response(resp, entry.version_id)
        if info.size > buffer_limit:
            resp["Body"].close()
            raise TooBigToBuffer()
        try:
            data = resp["Body"].read()
        except botocore.exceptions.FlexibleChecksumError as exc:
            raise ObjectFailed(dlq.CHECKSUM_MISMATCH, describe(exc)) from exc
        except STREAM_ERRORS as exc:
            if attempt == READ_ATTEMPTS:
                raise DownloadError(
                    f"cannot read s3://{entry.bucket}/{entry.key}: {describe(exc)}"
                ) from exc
            log.info("retrying s3://%s/%s after %s", entry.bucket, entry.key, exc)
            continue
        md5 = hashlib.md5(data).hexdigest()
        check_md5(info, md5)
        tags, tag_flag = read_tags(s3, entry, info)
        flags = info.flags_against(entry) + ([tag_flag] if tag_flag else [])
        return Fetched(entry, info, data, md5, tags, flags)
    raise AssertionError("unreachable")


class ObjectStream:
    """Stream one (large) object chunk by chunk with a running MD5. If the connection breaks
    mid-body the read resumes with a ranged GET pinned to the same ETag (``If-Match``); if the
    object changed in between that is an ObjectFailed(Changed) -- by then the tar member is half
    written, so the caller must abandon the archive."""

    def __init__(self, s3: Any, entry: ManifestEntry, chunk_size: int = CHUNK) -> None:
        self._s3 = s3
        self.entry = entry
        self._chunk = chunk_size
        self._resp = open_object(s3, entry)
        self.info = ObjectInfo.from_response(self._resp, entry.version_id)
        self._md5 = hashlib.md5()
        self.read = 0

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    def chunks(self) -> Iterator[bytes]:
        body = self._resp["Body"]
        resumes = 0
        while self.read < self.info.size:
            try:
                chunk = body.read(min(self._chunk, self.info.size - self.read))
            except botocore.exceptions.FlexibleChecksumError as exc:
                raise ObjectFailed(dlq.CHECKSUM_MISMATCH, describe(exc)) from exc
            except STREAM_ERRORS as exc:
                resumes += 1
                if resumes >= READ_ATTEMPTS:
                    raise DownloadError(
                        f"cannot read s3://{self.entry.bucket}/{self.entry.key}: {describe(exc)}"
                    ) from exc
                body = self._resume()
                continue
            if not chunk:
                raise DownloadError(
                    f"s3://{self.entry.bucket}/{self.entry.key}: body ended at {self.read} of "
                    f"{self.info.size} bytes"
                )
            self._md5.update(chunk)
            self.read += len(chunk)
            yield chunk
        try:
            # One more read hits end-of-body, where botocore verifies S3's full-object checksum.
            if body.read(1):
                raise DownloadError(
                    f"s3://{self.entry.bucket}/{self.entry.key}: body longer than "
                    f"{self.info.size} bytes"
                )
        except botocore.exceptions.FlexibleChecksumError as exc:
            raise ObjectFailed(dlq.CHECKSUM_MISMATCH, describe(exc)) from exc
        body.close()

    def _resume(self) -> Any:
        log.info("resuming s3://%s/%s at byte %d", self.entry.bucket, self.entry.key, self.read)
        resp = open_object(
            self._s3,
            self.entry._replace(version_id=self.info.version_id or self.entry.version_id),
            Range=f"bytes={self.read}-",
            IfMatch=f'"{self.info.etag}"',
        )
        return resp["Body"]

    def close(self) -> None:
        self._resp["Body"].close()
