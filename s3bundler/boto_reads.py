"""Reading source objects with boto3: GET (by VersionId when known) and tags, a small object
whole (:func:`fetch_whole`, served on a thread pool by :class:`BotoFetcher`), a large one as a
stream that resumes after a dropped connection (:class:`ObjectStream`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import botocore.exceptions

from s3bundler import dlq
from s3bundler.checksums import BodyChecksum
from s3bundler.etags import MultipartEtag, uniform_layout
from s3bundler.failures import NETWORK_ERRORS, STREAM_ERRORS, ObjectFailed, reason_for
from s3bundler.fetched import Fetched, TooBigToBuffer
from s3bundler.object_info import ObjectInfo, real_version
from s3bundler.tag_reads import TagReads, trust_announced
from s3common.aws import AWS_ERRORS, describe, error_code
from s3common.errors import DownloadError
from s3common.sizes import MiB
from s3common.submanifest import ManifestEntry

log = logging.getLogger(__name__)

CHUNK = MiB
READ_ATTEMPTS = 3
ANNOUNCED = trust_announced()


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
            f"cannot read s3://{entry.bucket}/{entry.key}: {describe(exc)}", transient=True
        ) from exc
    except AWS_ERRORS as exc:
        raise ObjectFailed(reason_for(exc), describe(exc)) from exc


def read_tags(
    s3: Any, entry: ManifestEntry, info: ObjectInfo, reads: TagReads | None = None
) -> tuple[dict[str, str] | None, str]:
    """Tags of the object, plus a flag ("" if none). Read when ``reads`` (``--tags``,
    tag_reads.py) says so; without it, when the GET announced some (TagCount)."""
    reads = reads or ANNOUNCED
    if not reads.wanted(entry.bucket, info.tag_count):
        return reads.not_read()
    args = {"Bucket": entry.bucket, "Key": entry.key}
    if version := real_version(info.version_id):
        args["VersionId"] = version
    try:
        tagset = s3.get_object_tagging(**args)["TagSet"]
    except AWS_ERRORS as exc:
        code = error_code(exc)
        return reads.result(entry.bucket, entry.key, info.tag_count, None, code, describe(exc))
    tags = {t["Key"]: t["Value"] for t in tagset}
    return reads.result(entry.bucket, entry.key, info.tag_count, tags, "")


def fetch_whole(
    s3: Any, entry: ManifestEntry, buffer_limit: int, reads: TagReads | None = None
) -> Fetched:
    """GET a small object into memory, verifying it (tags as ``reads`` says). Raises
    ObjectFailed, TooBigToBuffer or DownloadError. A body read that breaks is retried with a
    fresh GET."""
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
                    f"cannot read s3://{entry.bucket}/{entry.key}: {describe(exc)}", transient=True
                ) from exc
            log.info("retrying s3://%s/%s after %s", entry.bucket, entry.key, exc)
            continue
        md5 = hashlib.md5(data).hexdigest()
        info.check_md5(md5)
        tags, tag_flag = read_tags(s3, entry, info, reads)
        flags = info.flags_against(entry) + ([tag_flag] if tag_flag else [])
        return Fetched(entry, info, data, md5, tags, flags)
    raise AssertionError("unreachable")


class BotoFetcher:
    """boto3 GETs on ``concurrency`` threads (the client's pool must be at least as large)."""

    def __init__(self, s3: Any, concurrency: int, tag_reads: TagReads | None = None) -> None:
        self._s3 = s3
        self._tag_reads = tag_reads
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="get")

    def submit(self, entry: ManifestEntry, buffer_limit: int) -> Future[Fetched]:
        return self._pool.submit(fetch_whole, self._s3, entry, buffer_limit, self._tag_reads)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class ObjectStream:
    """Stream one (large) object chunk by chunk and verify what was read, resumed or not.

    If the connection breaks mid-body the read resumes with a ranged GET pinned to the same
    ETag (``If-Match``); if the object changed in between that is an ObjectFailed(Changed) --
    by then the tar member is half written, so the caller must leave the object out.

    botocore verifies S3's full-object checksum only over a whole, unresumed body, so the
    stream checks it itself over every byte it hands out (:class:`BodyChecksum`); an object
    with no such checksum but a multipart ETag is checked against that ETag (etags.py); one
    with a plain-MD5 ETag by the caller, against :attr:`md5`. A mismatch is found once the
    last byte is read: ObjectFailed(ChecksumMismatch) with every byte already handed out."""

    def __init__(self, s3: Any, entry: ManifestEntry, chunk_size: int = CHUNK) -> None:
        self._s3 = s3
        self.entry = entry
        self._chunk = chunk_size
        self._resp = open_object(s3, entry)
        self.info = ObjectInfo.from_response(self._resp, entry.version_id)
        self._md5 = hashlib.md5()
        self._checksum = BodyChecksum(self.info.checksum) if self.info.checksum else None
        self._layout: list[int] | None = None
        self._parts: MultipartEtag | None = None
        if not self.info.checksum and self.info.multipart_etag_parts:
            self._layout = self._guess_layout()
            self._parts = MultipartEtag(self._layout)
        self.read = 0
        self.resumes = 0

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    @property
    def where(self) -> str:
        return f"s3://{self.entry.bucket}/{self.entry.key}"

    def chunks(self) -> Iterator[bytes]:
        body = self._resp["Body"]
        while self.read < self.info.size:
            try:
                chunk = body.read(min(self._chunk, self.info.size - self.read))
            except botocore.exceptions.FlexibleChecksumError as exc:
                raise ObjectFailed(dlq.CHECKSUM_MISMATCH, describe(exc)) from exc
            except STREAM_ERRORS as exc:
                self.resumes += 1
                if self.resumes >= READ_ATTEMPTS:
                    raise DownloadError(
                        f"cannot read {self.where}: {describe(exc)}", transient=True
                    ) from exc
                body = self._resume()
                continue
            if not chunk:
                raise DownloadError(
                    f"{self.where}: body ended at {self.read} of {self.info.size} bytes",
                    transient=True,
                )
            self._take(chunk)
            yield chunk
        self._end(body)
        self._verify()

    def _take(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        if self._checksum is not None:
            self._checksum.update(chunk)
        if self._parts is not None:
            self._parts.update(chunk)
        self.read += len(chunk)

    def _end(self, body: Any) -> None:
        try:
            # One more read hits end-of-body, where botocore verifies S3's full-object checksum
            # (of an unresumed body).
            if body.read(1):
                raise DownloadError(f"{self.where}: body longer than {self.info.size} bytes")
        except botocore.exceptions.FlexibleChecksumError as exc:
            raise ObjectFailed(dlq.CHECKSUM_MISMATCH, describe(exc)) from exc
        body.close()

    def _verify(self) -> None:
        resumed = f" (resumed {self.resumes}x)" if self.resumes else ""
        if self._checksum is not None and (why := self._checksum.mismatch()):
            raise ObjectFailed(dlq.CHECKSUM_MISMATCH, why + resumed)
        if self._parts is None or self._parts.etag() == self.info.etag:
            return
        exact = self._part_sizes()
        if exact == self._layout or not self._reread_matches(exact):
            raise ObjectFailed(
                dlq.CHECKSUM_MISMATCH,
                f"multipart ETag of bytes read != ETag {self.info.etag}{resumed}",
            )

    # -- part layout (objects verified by their multipart ETag) --------------------------------
    def _head_part(self, number: int) -> int:
        args = get_args(self.entry._replace(version_id=self.info.version_of(self.entry)))
        args.pop("ChecksumMode")
        # No If-Match: servers differ on which ETag a part's HEAD compares (moto: the part's).
        # If the object changed meanwhile, its ETag check fails: a DLQ row, never bad bytes.
        try:
            head = self._s3.head_object(**args, PartNumber=number)
        except NETWORK_ERRORS as exc:
            raise DownloadError(
                f"cannot read {self.where}: {describe(exc)}", transient=True
            ) from exc
        except AWS_ERRORS as exc:
            raise ObjectFailed(reason_for(exc), describe(exc)) from exc
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
        resp = open_object(
            self._s3,
            self.entry._replace(version_id=self.info.version_of(self.entry)),
            IfMatch=f'"{self.info.etag}"',
        )
        try:
            for chunk in resp["Body"].iter_chunks(self._chunk):
                check.update(chunk)
                md5.update(chunk)
        except STREAM_ERRORS as exc:
            raise DownloadError(
                f"cannot read {self.where}: {describe(exc)}", transient=True
            ) from exc
        return check.etag() == self.info.etag and md5.hexdigest() == self.md5

    def _resume(self) -> Any:
        log.info("resuming %s at byte %d", self.where, self.read)
        resp = open_object(
            self._s3,
            self.entry._replace(version_id=self.info.version_of(self.entry)),
            Range=f"bytes={self.read}-",
            IfMatch=f'"{self.info.etag}"',
        )
        return resp["Body"]

    def close(self) -> None:
        self._resp["Body"].close()
