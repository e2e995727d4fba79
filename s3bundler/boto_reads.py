"""Reading source objects with boto3: GET (by VersionId when known) and tags, a small object
whole (:func:`fetch_whole`, served on a thread pool by :class:`BotoFetcher`). Large objects
are read in parallel ranges (ranged_stream.py)."""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import botocore.exceptions

from s3bundler import dlq
from s3bundler.failures import STREAM_ERRORS, ObjectFailed, object_call
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
    where = f"s3://{entry.bucket}/{entry.key}"
    return object_call(where, s3.get_object, **get_args(entry), **extra)


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
        return Fetched(entry, info, [data], md5, tags, flags)
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
