"""Verifying an object read in pieces (a large object, streamed), over the bytes actually
handed out, whatever happened on the way (parts retried, connections cut):

- S3's full-object checksum, computed here over every byte (botocore checks it only over a
  whole, single-GET body);
- else a multipart ETag (``<md5>-N``, not SSE-KMS/SSE-C), from the part layout (one HEAD
  ``?partNumber=1``; parts of unequal sizes are detected and the object read again);
- a plain-MD5 ETag is the caller's to check, against :attr:`StreamCheck.md5`.

A mismatch is ObjectFailed(ChecksumMismatch), found once the last byte is read.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from s3bundler import dlq
from s3bundler.checksums import BodyChecksum
from s3bundler.etags import MultipartEtag, uniform_layout
from s3bundler.failures import NETWORK_ERRORS, STREAM_ERRORS, ObjectFailed, object_call, reason_for
from s3bundler.object_info import ObjectInfo
from s3common.aws import AWS_ERRORS, describe
from s3common.errors import DownloadError
from s3common.sizes import MiB
from s3common.submanifest import ManifestEntry

log = logging.getLogger(__name__)


def object_args(entry: ManifestEntry, info: ObjectInfo | None = None) -> dict[str, Any]:
    """Bucket, Key and the version to read: the sub-manifest's, else the one S3 answered."""
    args: dict[str, Any] = {"Bucket": entry.bucket, "Key": entry.key}
    version = info.version_of(entry) if info is not None else entry.version_id
    if version:
        args["VersionId"] = version
    return args


class StreamCheck:
    def __init__(self, s3: Any, entry: ManifestEntry, info: ObjectInfo) -> None:
        self._s3 = s3
        self.entry = entry
        self.info = info
        self._md5 = hashlib.md5()
        self._checksum = BodyChecksum(info.checksum) if info.checksum else None
        self._layout: list[int] | None = None
        self._parts: MultipartEtag | None = None
        if not info.checksum and info.multipart_etag_parts:
            self._layout = self._guess_layout()
            self._parts = MultipartEtag(self._layout)

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    @property
    def where(self) -> str:
        return f"s3://{self.entry.bucket}/{self.entry.key}"

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        if self._checksum is not None:
            self._checksum.update(chunk)
        if self._parts is not None:
            self._parts.update(chunk)

    def verify(self, note: str = "") -> None:
        if self._checksum is not None and (why := self._checksum.mismatch()):
            raise ObjectFailed(dlq.CHECKSUM_MISMATCH, why + note)
        if self._parts is None or self._parts.etag() == self.info.etag:
            return
        exact = self._part_sizes()
        if exact == self._layout or not self._reread_matches(exact):
            raise ObjectFailed(
                dlq.CHECKSUM_MISMATCH,
                f"multipart ETag of bytes read != ETag {self.info.etag}{note}",
            )

    def _head_part(self, number: int) -> int:
        # No If-Match: servers differ on which ETag a part's HEAD compares (moto: the part's).
        # If the object changed meanwhile, its ETag check fails: a DLQ row, never bad bytes.
        args = object_args(self.entry, self.info)
        head = object_call(self.where, self._s3.head_object, **args, PartNumber=number)
        return int(head["ContentLength"])

    def _guess_layout(self) -> list[int]:
        """Part sizes if all parts but the last are as big as part 1 (the usual case)."""
        parts = self.info.multipart_etag_parts
        return uniform_layout(self.info.size, self._head_part(1), parts) or self._part_sizes()

    def _part_sizes(self) -> list[int]:
        return [self._head_part(n) for n in range(1, self.info.multipart_etag_parts + 1)]

    def _reread_matches(self, layout: list[int]) -> bool:
        """Parts of unequal sizes: read the object again with the true layout; the bytes
        handed out were right if they have the same MD5 as these, and these match the ETag."""
        log.info("%s: parts of unequal sizes; reading it again to verify", self.where)
        check, md5 = MultipartEtag(layout), hashlib.md5()
        try:
            resp = self._s3.get_object(
                **object_args(self.entry, self.info), IfMatch=f'"{self.info.etag}"'
            )
            for chunk in resp["Body"].iter_chunks(MiB):
                check.update(chunk)
                md5.update(chunk)
        except (*NETWORK_ERRORS, *STREAM_ERRORS) as exc:
            raise DownloadError(
                f"cannot read {self.where}: {describe(exc)}", transient=True
            ) from exc
        except AWS_ERRORS as exc:
            raise ObjectFailed(reason_for(exc), describe(exc)) from exc
        return check.etag() == self.info.etag and md5.hexdigest() == self.md5
