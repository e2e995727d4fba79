"""Restoring an archived member into S3 without its bytes passing through the client: a
multipart upload whose parts are copied from the archive's byte range (UploadPartCopy with
CopySourceRange), verified by the CRC32C S3 computes over each copied range against the one
the bundler recorded -- or, where the endpoint returns no checksum for a copied range, by
reading the restored object back once."""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

from awscrt import checksums

from s3common.aws import AWS_ERRORS, read_failed
from s3common.s3uri import S3Uri
from s3common.sizes import GiB
from s3restore.member_reader import CorruptMember, Member
from s3restore.targets import S3Destination, object_args

log = logging.getLogger(__name__)

MAX_COPY_PART = 5 * GiB  # UploadPartCopy's limit per part
VERIFIED_BY_CRC, VERIFIED_BY_READING = "crc32c", "read back"


def copy_member(dest: S3Destination, m: Member) -> tuple[S3Uri, str]:
    """Restore ``m`` server-side; returns (target, how it was verified)."""
    s3, target = dest.s3, dest.target(m.bucket, m.key)
    if m.size == 0:
        return dest.put(m, b""), "empty"
    try:
        upload = s3.create_multipart_upload(
            Bucket=target.bucket, Key=target.key, ChecksumAlgorithm="CRC32C", **object_args(m)
        )["UploadId"]
    except AWS_ERRORS as exc:
        raise dest.failed(target, exc) from exc
    try:
        parts, crcs = _copy_parts(s3, m, target, upload)
        if crcs is not None and (got := _combined(crcs)) != m.crc32c and m.crc32c:
            raise CorruptMember(
                f"{target}: CRC32C {got} of the copied range != {m.crc32c} archived"
            )
        s3.complete_multipart_upload(
            Bucket=target.bucket,
            Key=target.key,
            UploadId=upload,
            MultipartUpload={"Parts": parts},
            **dest.condition(),
        )
    except BaseException as exc:
        _abort(s3, target, upload)
        if isinstance(exc, AWS_ERRORS):
            raise dest.failed(target, exc) from exc
        raise
    if crcs is not None and m.crc32c:
        return target, VERIFIED_BY_CRC
    _read_back(s3, m, target)
    return target, VERIFIED_BY_READING


def _copy_parts(
    s3: Any, m: Member, target: S3Uri, upload: str
) -> tuple[list[dict[str, Any]], list[tuple[str, int]] | None]:
    parts: list[dict[str, Any]] = []
    crcs: list[tuple[str, int]] | None = []
    source = {"Bucket": m.archive.bucket, "Key": m.archive.key}
    for number, start in enumerate(range(m.offset, m.offset + m.size, MAX_COPY_PART), start=1):
        end = min(start + MAX_COPY_PART, m.offset + m.size) - 1
        result = s3.upload_part_copy(
            Bucket=target.bucket,
            Key=target.key,
            UploadId=upload,
            PartNumber=number,
            CopySource=source,
            CopySourceRange=f"bytes={start}-{end}",
        )["CopyPartResult"]
        part = {"PartNumber": number, "ETag": result["ETag"]}
        crc = result.get("ChecksumCRC32C")
        if crc and crcs is not None:
            part["ChecksumCRC32C"] = crc
            crcs.append((crc, end - start + 1))
        else:
            crcs = None  # this endpoint does not say: read the result back instead
        parts.append(part)
    if crcs is None:
        for part in parts:
            part.pop("ChecksumCRC32C", None)
    return parts, crcs


def _combined(crcs: list[tuple[str, int]]) -> str:
    total = 0
    for i, (b64, length) in enumerate(crcs):
        crc = int.from_bytes(base64.b64decode(b64), "big")
        total = crc if i == 0 else checksums.combine_crc32c(total, crc, length)
    return base64.b64encode(total.to_bytes(4, "big")).decode()


def _read_back(s3: Any, m: Member, target: S3Uri) -> None:
    """The endpoint gave no checksum for the copied range: read the restored object once and
    check it, deleting it when it is wrong (a wrong restore is never left behind)."""
    log.info("%s: no checksum from the endpoint for a copied range: reading it back", target)
    try:
        body = s3.get_object(Bucket=target.bucket, Key=target.key)["Body"]
        md5 = hashlib.md5()
        size = 0
        for chunk in body.iter_chunks(1 << 20):
            md5.update(chunk)
            size += len(chunk)
    except AWS_ERRORS as exc:
        raise read_failed(target, exc) from exc
    if size != m.size or (m.md5 and md5.hexdigest() != m.md5):
        s3.delete_object(Bucket=target.bucket, Key=target.key)
        raise CorruptMember(f"{target}: restored bytes differ from those archived (deleted)")


def _abort(s3: Any, target: S3Uri, upload: str) -> None:
    try:
        s3.abort_multipart_upload(Bucket=target.bucket, Key=target.key, UploadId=upload)
    except AWS_ERRORS as exc:
        log.error("cannot abort the restore upload of %s: %s", target, exc)
