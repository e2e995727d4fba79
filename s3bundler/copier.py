"""Server-side copies of objects above maxsize, with metadata and tags kept.

Up to ``multipart_threshold`` (5 GiB, the CopyObject limit) one CopyObject with
``MetadataDirective``/``TaggingDirective`` COPY; above it a multipart upload whose parts are
copied in parallel with UploadPartCopy, metadata and tags set on the new upload. Every copy is
pinned to the ETag seen by the HEAD (``CopySourceIfMatch``), so a concurrent overwrite becomes a
``Changed`` DLQ row rather than a silent mix. A ``.metadata`` JSON file (index fields) is
written beside the copy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from s3bundler import dlq
from s3bundler.errors import Cancelled
from s3bundler.failures import ObjectFailed, object_call
from s3bundler.index import IndexRow
from s3bundler.layout import bigobject_key, metadata_key
from s3bundler.ledger import Ledger
from s3bundler.object_info import ObjectInfo
from s3bundler.outputs import OutputStore
from s3bundler.records import index_row
from s3bundler.stream_check import object_args
from s3bundler.waiting import result_of
from s3common.aws import AWS_ERRORS, describe, write_failed
from s3common.s3uri import S3Uri
from s3common.sizes import GiB, MiB
from s3common.submanifest import ManifestEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CopySettings:
    archive_bucket: str
    archive_prefix: str
    multipart_threshold: int = 5 * GiB
    part_size: int = 512 * MiB
    part_concurrency: int = 8
    storage_class: str = ""  # of the copies; "" = S3 STANDARD (a copy does not keep the class)


@dataclass
class Copied:
    entry: ManifestEntry
    target: S3Uri
    row: IndexRow


def _source(entry: ManifestEntry, info: ObjectInfo) -> dict[str, str]:
    src = {"Bucket": entry.bucket, "Key": entry.key}
    if version := info.version_of(entry):
        src["VersionId"] = version
    return src


def _head_and_tags(s3: Any, entry: ManifestEntry, where: str) -> tuple[ObjectInfo, dict[str, str]]:
    """What S3 says of the object (a GLACIER one not restored is a DLQ row) and its tags."""
    head_args = object_args(entry) | {"ChecksumMode": "ENABLED"}
    info = ObjectInfo.from_response(
        object_call(where, s3.head_object, **head_args), entry.version_id
    )
    if info.storage_class in ("GLACIER", "DEEP_ARCHIVE") and not info.restore:
        raise ObjectFailed(dlq.GLACIER, f"storage class {info.storage_class}, not restored")
    tagset = object_call(where, s3.get_object_tagging, **_source(entry, info))["TagSet"]
    return info, {t["Key"]: t["Value"] for t in tagset}


def copy_big_object(
    s3: Any,
    entry: ManifestEntry,
    settings: CopySettings,
    cancel: threading.Event | None = None,
) -> Copied:
    """Copy one object server-side; raises ObjectFailed (a DLQ row), DownloadError, or
    Cancelled (between parts of a multipart copy, which is then aborted)."""
    cancel = cancel or threading.Event()
    if cancel.is_set():
        raise Cancelled()
    where = f"s3://{entry.bucket}/{entry.key}"
    info, tags = _head_and_tags(s3, entry, where)
    source = _source(entry, info)
    target = S3Uri(
        settings.archive_bucket,
        bigobject_key(settings.archive_prefix, entry.bucket, entry.key),
    )
    if info.size <= settings.multipart_threshold:
        object_call(
            where,
            s3.copy_object,
            CopySource=source,
            Bucket=target.bucket,
            Key=target.key,
            MetadataDirective="COPY",
            TaggingDirective="COPY",
            CopySourceIfMatch=f'"{info.etag}"',
            **({"StorageClass": settings.storage_class} if settings.storage_class else {}),
        )
    else:
        _multipart_copy(s3, source, info, tags, target, settings, cancel)
    md5 = info.etag if info.plain_md5_etag else ""
    row = index_row(entry, info, md5, tags, info.flags_against(entry))
    meta = S3Uri(target.bucket, metadata_key(target.key))
    try:
        s3.put_object(
            Bucket=meta.bucket,
            Key=meta.key,
            Body=row.to_metadata_json(target.bucket, target.key),
            ContentType="application/json",
        )
    except AWS_ERRORS as exc:
        raise write_failed(meta, exc) from exc
    return Copied(entry, target, row)


def _create_copy_upload(
    s3: Any, info: ObjectInfo, tags: dict[str, str], target: S3Uri, settings: CopySettings
) -> str:
    """A multipart upload for the copy with what CopyObject would have carried over."""
    create: dict[str, Any] = {"Bucket": target.bucket, "Key": target.key, "Metadata": info.metadata}
    create.update(info.carried)
    if info.content_type:
        create["ContentType"] = info.content_type
    if settings.storage_class:
        create["StorageClass"] = settings.storage_class
    if tags:
        create["Tagging"] = urlencode(tags)
    OutputStore(s3).abort_stale_uploads(target)  # left by a worker killed mid-copy
    try:
        return str(s3.create_multipart_upload(**create)["UploadId"])
    except AWS_ERRORS as exc:
        raise write_failed(target, exc) from exc


def _multipart_copy(
    s3: Any,
    source: dict[str, str],
    info: ObjectInfo,
    tags: dict[str, str],
    target: S3Uri,
    settings: CopySettings,
    cancel: threading.Event,
) -> None:
    where = f"s3://{source['Bucket']}/{source['Key']}"
    upload_id = _create_copy_upload(s3, info, tags, target, settings)
    part_size = max(settings.part_size, -(-info.size // 10_000))
    ranges = [
        (n + 1, start, min(start + part_size, info.size) - 1)
        for n, start in enumerate(range(0, info.size, part_size))
    ]

    def copy_part(spec: tuple[int, int, int]) -> dict[str, Any]:
        number, first, last = spec
        if cancel.is_set():
            raise Cancelled()
        resp = object_call(
            where,
            s3.upload_part_copy,
            Bucket=target.bucket,
            Key=target.key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource=source,
            CopySourceRange=f"bytes={first}-{last}",
            CopySourceIfMatch=f'"{info.etag}"',
        )
        return {"PartNumber": number, "ETag": resp["CopyPartResult"]["ETag"]}

    try:
        with ThreadPoolExecutor(settings.part_concurrency, thread_name_prefix="copy") as pool:
            parts = list(pool.map(copy_part, ranges))
        s3.complete_multipart_upload(
            Bucket=target.bucket,
            Key=target.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
    except BaseException:
        try:
            s3.abort_multipart_upload(Bucket=target.bucket, Key=target.key, UploadId=upload_id)
        except AWS_ERRORS as exc:
            log.error("cannot abort multipart copy to %s: %s", target, describe(exc))
        raise


class BigObjectCopies:
    """The big objects of a manifest, copied in the background while the archive is written:
    ``start()`` them, ``collect()`` each outcome into the ledger. Leaving the block after an
    error cancels the copies not yet started."""

    def __init__(
        self, s3: Any, settings: CopySettings, concurrency: int, cancel: threading.Event
    ) -> None:
        self._s3 = s3
        self._settings = settings
        self._cancel = cancel
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="copy")
        self._started: list[tuple[ManifestEntry, Future[Copied]]] = []

    def __enter__(self) -> BigObjectCopies:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=exc_type is None, cancel_futures=exc_type is not None)

    def start(self, entries: Sequence[ManifestEntry]) -> None:
        for e in entries:
            fut = self._pool.submit(copy_big_object, self._s3, e, self._settings, self._cancel)
            self._started.append((e, fut))

    def collect(self, ledger: Ledger) -> None:
        for entry, fut in self._started:
            try:
                copied = result_of(fut, self._cancel)
            except ObjectFailed as failure:
                ledger.failed(entry, failure.reason, failure.detail)
                continue
            ledger.copied(copied.row, copied.target)
