"""What every S3 request of a tool carries besides its own parameters: the expected bucket
owner, server-side encryption with KMS for what it writes, and an SSE-C key for objects
written with one -- added in one place, a botocore hook on the client, so no call site can
forget them. (awscrt GETs ask :meth:`RequestOptions.get_headers`.)

Parameters are added only where the operation takes them and the caller did not set them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3common.errors import UsageError

#: Storage classes archives and copies may be written in.
STORAGE_CLASSES = (
    "STANDARD", "INTELLIGENT_TIERING", "STANDARD_IA", "ONEZONE_IA", "GLACIER_IR", "GLACIER",
    "DEEP_ARCHIVE",
)  # fmt: skip
WRITES = frozenset(
    {"PutObject", "CreateMultipartUpload", "CopyObject", "UploadPart", "UploadPartCopy",
     "CompleteMultipartUpload"}
)  # fmt: skip
_SSE_C_SOURCE = ("CopySourceSSECustomerAlgorithm", "CopySourceSSECustomerKey")
#: An SSE-C key as a header or a parameter, in any log line (not its MD5, which is no secret).
_SECRET = re.compile(
    r"((?:x-amz-(?:copy-source-)?server-side-encryption-customer-key|(?:CopySource)?"
    r"SSECustomerKey)['\"]?\s*[:=]\s*b?['\"]?)([A-Za-z0-9+/=]{20,})",
    re.IGNORECASE,
)


def read_sse_c_key(path: str) -> bytes:
    """A 256-bit SSE-C key from a file: 32 raw bytes, or their base64 (44 characters)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"--sse-c-key-file {path}: {exc.strerror or exc}") from None
    if len(raw) == 32:
        return raw
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise UsageError(f"--sse-c-key-file {path}: not a 256-bit key (32 bytes, or base64)")
    return key


@dataclass
class RequestOptions:
    """``owned``: buckets whose owner is ``owner`` (the archive and manifest buckets a tool is
    told about); every other bucket is expected to belong to ``source_owner``. ``kms_key_id``:
    SSE-KMS (bucket key on) for writes to owned buckets. ``sse_c_key``: every object request
    in ``sse_c_buckets`` (None: every bucket not owned, i.e. the sources) carries it -- reads
    of objects written with it, and writes that encrypt with it (a restore)."""

    owned: set[str] = field(default_factory=set)
    owner: str = ""
    source_owner: str = ""
    kms_key_id: str = ""
    sse_c_key: bytes | None = None
    sse_c_buckets: set[str] | None = None

    def sse_c(self, bucket: str) -> bool:
        if self.sse_c_key is None or not bucket:
            return False
        return (
            bucket not in self.owned if self.sse_c_buckets is None else bucket in self.sse_c_buckets
        )

    def owner_of(self, bucket: str) -> str:
        return self.owner if bucket in self.owned else self.source_owner

    def install(self, client: Any) -> Any:
        """Add this to every request ``client`` sends; returns the client."""
        # first: botocore's own handlers then encode an SSE-C key and add its MD5
        client.meta.events.register_first("before-parameter-build.s3", self._add)
        return client

    def get_headers(self, bucket: str, object_read: bool = True) -> tuple[tuple[str, str], ...]:
        """The headers an awscrt GET of ``bucket`` must carry (``object_read``: a GetObject,
        not a GET ?tagging, which takes no SSE-C key)."""
        headers = []
        if owner := self.owner_of(bucket):
            headers.append(("x-amz-expected-bucket-owner", owner))
        if object_read and self.sse_c(bucket) and self.sse_c_key is not None:
            headers += [
                ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
                ("x-amz-server-side-encryption-customer-key", _b64(self.sse_c_key)),
                ("x-amz-server-side-encryption-customer-key-MD5", _key_md5(self.sse_c_key)),
            ]
        return tuple(headers)

    def _add(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        members = model.input_shape.members if model.input_shape else {}
        bucket = params.get("Bucket", "")
        extra: dict[str, Any] = {}
        if "ExpectedBucketOwner" in members and (owner := self.owner_of(bucket)):
            extra["ExpectedBucketOwner"] = owner
        source = _source_bucket(params.get("CopySource"))
        if source and "ExpectedSourceBucketOwner" in members and (owner := self.owner_of(source)):
            extra["ExpectedSourceBucketOwner"] = owner
        if self.sse_c_key is not None:
            extra.update(self._sse_c(model.name, members, bucket, source))
        if self._kms_applies(model.name, bucket, params, extra):
            extra.update(
                ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id, BucketKeyEnabled=True
            )
        if "SSECustomerKey" in params:  # the caller's own key: none of ours
            extra = {k: v for k, v in extra.items() if not k.startswith("SSECustomer")}
        for name, value in extra.items():
            params.setdefault(name, value)

    def _kms_applies(
        self, op: str, bucket: str, params: dict[str, Any], extra: dict[str, Any]
    ) -> bool:
        if not self.kms_key_id or op not in ("PutObject", "CreateMultipartUpload", "CopyObject"):
            return False
        customer = "SSECustomerKey" in params or "SSECustomerKey" in extra
        return bucket in self.owned and not customer

    def _sse_c(self, op: str, members: Any, bucket: str, source: str) -> dict[str, Any]:
        assert self.sse_c_key is not None
        extra: dict[str, Any] = {}
        # Given encoded, with its MD5: botocore's own encoding handler may run before this one.
        key, key_md5 = _b64(self.sse_c_key), _key_md5(self.sse_c_key)
        object_op = op in WRITES | {"GetObject", "HeadObject"}
        if object_op and self.sse_c(bucket) and "SSECustomerKey" in members:
            extra.update(
                SSECustomerAlgorithm="AES256", SSECustomerKey=key, SSECustomerKeyMD5=key_md5
            )
        if self.sse_c(source) and _SSE_C_SOURCE[1] in members:
            extra.update(
                CopySourceSSECustomerAlgorithm="AES256",
                CopySourceSSECustomerKey=key,
                CopySourceSSECustomerKeyMD5=key_md5,
            )
        return extra


def _source_bucket(copy_source: Any) -> str:
    if isinstance(copy_source, dict):
        return str(copy_source.get("Bucket", ""))
    if isinstance(copy_source, str):
        return copy_source.lstrip("/").split("/", 1)[0]
    return ""


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _key_md5(key: bytes) -> str:
    return base64.b64encode(hashlib.md5(key).digest()).decode()


class RedactSecrets(logging.Filter):
    """Drops SSE-C key values from log records (botocore's DEBUG lines show request headers
    and the canonical request): nothing secret is ever logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "customer-key" in text.lower() or "customerkey" in text.lower():
            record.msg = _SECRET.sub(r"\\1<redacted>", text)
            record.args = ()
        return True
