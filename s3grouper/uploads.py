"""Sub-manifest bodies, and the multipart uploads that hold them until the run publishes them.

A sub-manifest is uploaded as a multipart upload that is left open. Until it is completed it is
no object: not listed, not readable, and no S3 event notification fires, so nothing can deliver
it to a bundler. The run completes them all (publishes) only once it has read every row and
uploaded every sub-manifest; a run that fails aborts them, and the open uploads of a process
that was killed are aborted by the bucket's AbortIncompleteMultipartUpload lifecycle rule (the
stack's archive bucket has one; docs/s3grouper.md).
"""

from __future__ import annotations

import base64
import io
import logging
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from s3common import submanifest
from s3common.aws import AWS_ERRORS, write_failed
from s3common.s3uri import S3Uri
from s3common.sizes import MiB

log = logging.getLogger(__name__)

PART_SIZE = 512 * MiB  # a body up to this is one part (S3 allows 5 GiB); larger: parts of it
SPOOL_BYTES = 64 * MiB  # a part is spooled in memory up to this, then on disk
CONTENT_TYPE = "text/csv; charset=utf-8"


def _header() -> bytes:
    text = io.StringIO(newline="")
    submanifest.write_rows(text, ())  # the header, from the one definition
    return text.getvalue().encode("utf-8")


HEADER = _header()


@dataclass
class Part:
    spool: IO[bytes]
    size: int = 0
    crc: int = 0

    def checksum(self) -> str:
        """The CRC32 as S3 takes it: sent with the part, S3 verifies the part against it (and
        botocore need not stream the body aws-chunked with a trailer: ~1.5 ms of CPU less)."""
        return base64.b64encode(self.crc.to_bytes(4, "big")).decode("ascii")


class Body:
    """A sub-manifest's bytes, header first, spooled in parts of at most ``part_size`` bytes,
    with the CRC32 of each computed on the way. Close it when done."""

    def __init__(self, part_size: int = PART_SIZE) -> None:
        self.part_size = part_size
        self.parts: list[Part] = []
        self.size = 0

    @classmethod
    def spool(cls, chunks: Iterable[Any], part_size: int = PART_SIZE) -> Body:
        """The header, then ``chunks`` (bytes-like: the encoded rows), ready to upload."""
        body = cls(part_size)
        try:
            body.write(HEADER)
            for chunk in chunks:
                body.write(chunk)
            for part in body.parts:
                part.spool.seek(0)
        except BaseException:
            body.close()
            raise
        return body

    def write(self, data: Any) -> None:
        view = memoryview(data)
        while len(view):
            if not self.parts or self.parts[-1].size == self.part_size:
                spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b")  # noqa: SIM115
                self.parts.append(Part(spool))  # type: ignore[arg-type]
            part = self.parts[-1]
            piece = view[: self.part_size - part.size]
            part.spool.write(piece)
            part.crc = zlib.crc32(piece, part.crc)
            part.size += len(piece)
            self.size += len(piece)
            view = view[len(piece) :]

    def close(self) -> None:
        for part in self.parts:
            part.spool.close()


@dataclass
class OpenUpload:
    """A sub-manifest uploaded as a multipart upload that is not completed yet (no object)."""

    bucket: str
    key: str
    upload_id: str
    parts: list[dict[str, Any]] = field(default_factory=list)  # for CompleteMultipartUpload

    @property
    def uri(self) -> S3Uri:
        return S3Uri(self.bucket, self.key)


def upload(s3: Any, bucket: str, key: str, body: Body, metadata: dict[str, str]) -> OpenUpload:
    """Upload ``body`` to ``key`` as a multipart upload left open. If S3 refuses, abort what
    was started and raise UploadError."""
    try:
        upload_id = s3.create_multipart_upload(
            Bucket=bucket,
            Key=key,
            ContentType=CONTENT_TYPE,
            Metadata=metadata,
            ChecksumAlgorithm="CRC32",
        )["UploadId"]
    except AWS_ERRORS as exc:
        raise write_failed(S3Uri(bucket, key), exc) from None
    started = OpenUpload(bucket, key, upload_id)
    try:
        for number, part in enumerate(body.parts, start=1):
            checksum = part.checksum()
            etag = s3.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=part.spool,
                ChecksumCRC32=checksum,
            )["ETag"]
            started.parts.append({"PartNumber": number, "ETag": etag, "ChecksumCRC32": checksum})
    except BaseException as exc:
        abort(s3, started)
        if isinstance(exc, AWS_ERRORS):
            raise write_failed(started.uri, exc) from None
        raise
    return started


def complete(s3: Any, upload: OpenUpload) -> None:
    """Publish: the upload becomes the object (and S3 sends its ObjectCreated event)."""
    try:
        s3.complete_multipart_upload(
            Bucket=upload.bucket,
            Key=upload.key,
            UploadId=upload.upload_id,
            MultipartUpload={"Parts": upload.parts},
        )
    except AWS_ERRORS as exc:
        raise write_failed(upload.uri, exc) from None


def abort(s3: Any, upload: OpenUpload) -> bool:
    """Abandon an open upload; never raises (an upload left open is still no object, and the
    bucket's lifecycle rule aborts it)."""
    try:
        s3.abort_multipart_upload(Bucket=upload.bucket, Key=upload.key, UploadId=upload.upload_id)
    except AWS_ERRORS as exc:
        log.warning("%s: cannot abort upload %s: %s", upload.uri, upload.upload_id, exc)
        return False
    return True
