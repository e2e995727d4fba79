"""Writing a manifest's outputs: who owns the archive key, and the commit order.

Commit order (docs/formats.md): delete a stale index -> complete the archive upload -> put
the index -> put (or delete a stale) DLQ index -> put the catalog file(s) -> put the
completion report. An index
therefore never exists without its complete archive, the completion report means "finished",
and reprocessing the same manifest overwrites the same keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from s3bundler.errors import Cancelled, OutputCollision
from s3bundler.layout import MANIFEST_METADATA, ManifestOutputs, manifest_tag
from s3bundler.multipart import MultipartWriter
from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, error_code, read_failed, write_failed
from s3common.s3uri import S3Uri

log = logging.getLogger(__name__)


class OutputStore:
    """Puts and deletes in the buckets the bundler writes, with the documented errors
    (UploadError, exit 4)."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def put(self, uri: S3Uri, body: bytes, content_type: str) -> None:
        try:
            self.s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body, ContentType=content_type)
        except AWS_ERRORS as exc:
            raise write_failed(uri, exc) from exc

    def delete(self, uri: S3Uri) -> None:
        """Delete ``uri``; one that is not there is fine."""
        try:
            self.s3.delete_object(Bucket=uri.bucket, Key=uri.key)
        except AWS_ERRORS as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise write_failed(uri, exc) from exc

    def abort_stale_uploads(self, uri: S3Uri) -> int:
        """Abort every multipart upload still open for exactly ``uri`` -- left by a worker
        killed mid-manifest (kill -9, a lost spot instance): their parts cost storage until
        the bucket's lifecycle rule, if any, removes them. Returns how many were aborted."""
        aborted = 0
        try:
            pages = self.s3.get_paginator("list_multipart_uploads").paginate(
                Bucket=uri.bucket, Prefix=uri.key
            )
            for page in pages:
                for upload in page.get("Uploads") or []:
                    if upload["Key"] != uri.key:
                        continue
                    self.s3.abort_multipart_upload(
                        Bucket=uri.bucket, Key=uri.key, UploadId=upload["UploadId"]
                    )
                    aborted += 1
        except AWS_ERRORS as exc:
            if error_code(exc) != "NoSuchUpload":
                raise write_failed(uri, exc) from exc
        if aborted:
            log.warning("aborted %d stale multipart upload(s) of %s", aborted, uri)
        return aborted

    def check_ownership(self, out: ManifestOutputs, manifest: S3Uri) -> None:
        """Refuse to overwrite an archive that holds a *different* sub-manifest (same file
        name under another prefix, e.g. two grouper runs with one -k): that would silently lose
        the other's objects. Archives of this very manifest are overwritten (reprocessing)."""
        mine = manifest_tag(manifest)
        for key in (out.archive_key, *out.other_archive_keys):
            try:
                head = self.s3.head_object(Bucket=out.archive_bucket, Key=key)
            except AWS_ERRORS as exc:
                if error_code(exc) in NOT_FOUND_CODES:
                    continue
                raise read_failed(S3Uri(out.archive_bucket, key), exc) from exc
            owner = head.get("Metadata", {}).get(MANIFEST_METADATA, "")
            if owner != mine:
                raise OutputCollision(
                    f"{manifest}: s3://{out.archive_bucket}/{key} already holds the archive "
                    f"of {unquote(owner) or 'another sub-manifest'}; give sub-manifests distinct "
                    "names (s3grouper -k) or use another archive prefix (-p)"
                )


@dataclass(frozen=True)
class Commit:
    """What a finished manifest leaves behind; ``index``/``dlq`` are None when empty, and
    ``outputs`` None when no row named a source bucket (no archive keys to speak of)."""

    outputs: ManifestOutputs | None
    dlq_uri: S3Uri
    upload: MultipartWriter | None
    index: bytes | None
    dlq: bytes | None
    report: S3Uri
    report_body: Callable[[], bytes]  # made when it is written: it counts the commit's requests
    catalogs: dict[S3Uri, bytes] = field(default_factory=dict)

    def run(self, store: OutputStore, cancel: Any) -> None:
        if cancel.is_set():
            raise Cancelled()
        if self.outputs is not None:
            self._archive(store, self.outputs)
        if self.dlq is not None:
            store.put(self.dlq_uri, self.dlq, "text/csv")
        else:
            store.delete(self.dlq_uri)
        for uri, body in self.catalogs.items():
            store.put(uri, body, "application/vnd.apache.parquet")
        store.put(self.report, self.report_body(), "application/json")

    def _archive(self, store: OutputStore, out: ManifestOutputs) -> None:
        # A stale index from an earlier run must never sit beside a different archive.
        store.delete(out.index_uri)
        if self.index is not None:
            assert self.upload is not None
            self.upload.complete()
            store.put(out.index_uri, self.index, "text/csv")
        else:
            if self.upload is not None:
                self.upload.abort()
            store.delete(out.archive_uri)
        # The same manifest archived earlier with another compression setting.
        for key in out.other_archive_keys:
            store.delete(S3Uri(out.archive_bucket, key))
