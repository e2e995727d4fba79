"""What S3 says about one object version (from a GET or HEAD), and the integrity rules that
compare it with the bytes read and with the sub-manifest row (docs/bundler.md):

- where the ETag is a plain MD5 (single-part upload, not SSE-KMS/SSE-C) the MD5 of the bytes
  read must equal it, else ``ChecksumMismatch``;
- S3's additional full-object checksum (CRC32, CRC32C, CRC64NVME, SHA1/256/512, MD5,
  XXHASH64/3/128) is recorded as ``ALGORITHM:base64`` (checksums.py verifies it);
- an object whose size or ETag differs from the sub-manifest is archived as it is now (one GET
  is one consistent version) and flagged ``size-changed``/``etag-changed``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from s3bundler import dlq
from s3bundler.etags import multipart_parts
from s3bundler.failures import ObjectFailed
from s3common.submanifest import ManifestEntry

_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")
_META = "x-amz-meta-"
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
#: Headers a copy must carry over itself (CopyObject copies them; a multipart copy does not):
#: boto3 parameter name -> HTTP header name.
CARRIED_HEADERS = {
    "CacheControl": "cache-control",
    "ContentDisposition": "content-disposition",
    "ContentEncoding": "content-encoding",
    "ContentLanguage": "content-language",
    "Expires": "expires",
    "WebsiteRedirectLocation": "x-amz-website-redirect-location",
}


def real_version(version_id: str | None) -> str:
    """A VersionId worth pinning or recording: S3 answers ``"null"`` for an object written
    while the bucket's versioning was off, which is no version of its own."""
    return "" if not version_id or version_id == "null" else version_id


def iso8601(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def strip_etag(etag: str) -> str:
    return etag.strip('"')


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


def _header_text(value: Any) -> str:
    """A header value as text (botocore parses ``Expires`` into a datetime)."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _md5_based(sse: str, sse_c: bool) -> bool:
    """S3's ETag is MD5-based (of the bytes, or of the parts' MD5s) unless SSE-KMS/SSE-C."""
    return not sse.startswith("aws:kms") and not sse_c


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
    md5_based_etag: bool  # not SSE-KMS/SSE-C: the ETag is an MD5 (or multipart MD5) of the bytes
    restore: str = ""  # the x-amz-restore header of an archived object
    carried: dict[str, str] = field(default_factory=dict)  # CARRIED_HEADERS present

    @classmethod
    def from_response(cls, resp: Mapping[str, Any], version_id: str = "") -> ObjectInfo:
        """From a boto3 GetObject/HeadObject response."""
        etag = strip_etag(resp.get("ETag", ""))
        return cls(
            size=int(resp.get("ContentLength", 0)),
            etag=etag,
            last_modified=resp["LastModified"],
            version_id=resp.get("VersionId") or version_id,
            content_type=resp.get("ContentType", ""),
            metadata=dict(resp.get("Metadata") or {}),
            storage_class=resp.get("StorageClass", "STANDARD"),
            tag_count=int(resp.get("TagCount", 0) or 0),
            checksum=full_object_checksum(
                lambda alg: resp.get(f"Checksum{alg}"), resp.get("ChecksumType")
            ),
            md5_based_etag=_md5_based(
                resp.get("ServerSideEncryption", ""), "SSECustomerAlgorithm" in resp
            ),
            restore=resp.get("Restore", ""),
            carried={name: _header_text(resp[name]) for name in CARRIED_HEADERS if resp.get(name)},
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
            md5_based_etag=_md5_based(
                headers.get("x-amz-server-side-encryption", ""),
                "x-amz-server-side-encryption-customer-algorithm" in headers,
            ),
            restore=headers.get("x-amz-restore", ""),
            carried={
                name: headers[header]
                for name, header in CARRIED_HEADERS.items()
                if headers.get(header)
            },
        )

    @property
    def plain_md5_etag(self) -> bool:
        """The ETag is the MD5 of the bytes (a single-part upload, not SSE-KMS/SSE-C)."""
        return self.md5_based_etag and bool(_PLAIN_MD5.match(self.etag))

    @property
    def multipart_etag_parts(self) -> int:
        """N when the ETag is S3's MD5 of N parts' MD5s (etags.py) and so verifiable, else 0."""
        return multipart_parts(self.etag) if self.md5_based_etag else 0

    def version_of(self, entry: ManifestEntry) -> str:
        """The version to pin and record: the sub-manifest's, else the one S3 answered."""
        return entry.version_id or real_version(self.version_id)

    def flags_against(self, entry: ManifestEntry) -> list[str]:
        """How this object differs from its sub-manifest row."""
        flags = []
        if entry.size is not None and entry.size != self.size:
            flags.append("size-changed")
        if entry.etag and strip_etag(entry.etag) != self.etag:
            flags.append("etag-changed")
        return flags

    def check_md5(self, md5_hex: str) -> None:
        """Raise ObjectFailed(ChecksumMismatch) when the ETag is a plain MD5 and differs."""
        if self.plain_md5_etag and md5_hex != self.etag:
            raise ObjectFailed(
                dlq.CHECKSUM_MISMATCH, f"md5 of bytes read {md5_hex} != ETag {self.etag}"
            )
