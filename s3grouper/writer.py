"""Writing sub-manifests and the job summary to S3, idempotently.

Sub-manifests that already exist are left alone unless ``force``; each carries the run identity
(a digest of the inventory URI and the options) as user metadata so a rerun can tell whether
they were made with the same options even when the job summary was never written.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from s3common import submanifest
from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, error_code, read_failed, write_failed
from s3common.errors import UsageError
from s3common.s3uri import S3Uri
from s3common.submanifest import JobSummary

log = logging.getLogger(__name__)

RUN_METADATA = "s3grouper-run"
SPOOL_BYTES = 64 * 1024 * 1024
PUT_LIMIT = 512 * 1024 * 1024  # above this, a multipart upload
CONTENT_TYPE = "text/csv; charset=utf-8"


def run_id(inventory: str, options: dict[str, object]) -> str:
    """Identity of a grouping: same inventory and options -> same sub-manifests."""
    text = json.dumps({"inventory": inventory, "options": options}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# --- rows ------------------------------------------------------------------------------------


def table_rows(table: pa.Table) -> Iterator[tuple[str, ...]]:
    """Sub-manifest cells (:data:`s3common.submanifest.COLUMNS` order) of a normalized table."""
    n = table.num_rows
    size = table.column("size")
    modified = table.column("last_modified_date")
    multipart = table.column("is_multipart_uploaded")
    return zip(
        _cells(table.column("bucket"), n),
        _cells(table.column("key"), n),
        _cells(size if size.null_count == n else pc.cast(size, pa.string()), n),
        _cells(table.column("version_id"), n),
        _cells(table.column("e_tag"), n),
        _cells(
            modified if modified.null_count == n else pc.strftime(modified, "%Y-%m-%dT%H:%M:%SZ"),
            n,
        ),
        _cells(table.column("storage_class"), n),
        _cells(
            multipart if multipart.null_count == n else pc.if_else(multipart, "true", "false"), n
        ),
        strict=True,
    )


def _cells(col: pa.Array | pa.ChunkedArray, n: int) -> Sequence[str] | Iterator[str]:
    if col.null_count == n:
        return itertools.repeat("", n)
    if col.null_count:
        col = pc.fill_null(col, "")
    return col.to_pylist()


# --- previous runs ---------------------------------------------------------------------------


def option_changes(old: dict[str, object], new: dict[str, object]) -> list[str]:
    """``name: old -> new`` for every option that differs."""
    return [
        f"{name}: {old.get(name)!r} -> {new.get(name)!r}"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


class SubmanifestWriter:
    """Sub-manifests ``<prefix>/<base>.<N>.index`` and ``<prefix>/<base>.job.json`` in a bucket."""

    def __init__(
        self, s3: Any, bucket: str, prefix: str, base: str, run: str, force: bool = False
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.base = base
        self.run = run
        self.force = force
        self.summary_key = submanifest.job_summary_key(prefix, base)
        self.existing: set[int] = set()
        self.has_summary = False
        self.written: list[str] = []
        self.kept: list[str] = []

    def key(self, number: int) -> str:
        return submanifest.submanifest_key(self.prefix, self.base, number)

    def uri(self, key: str) -> S3Uri:
        return S3Uri(self.bucket, key)

    def check_bucket(self) -> None:
        """The output bucket exists and answers (else UploadError)."""
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except AWS_ERRORS as exc:
            raise write_failed(f"s3://{self.bucket}", exc) from None

    def scan(self) -> None:
        """List what a previous run left (one listing, no HEAD per sub-manifest)."""
        first = self.key(0)
        listing_prefix = first[: len(first) - len("0" + submanifest.INDEX_SUFFIX)]
        pattern = re.compile(re.escape(listing_prefix) + r"(\d+)" + re.escape(".index") + "$")
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=listing_prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    match = pattern.match(obj["Key"])
                    if match:
                        self.existing.add(int(match.group(1)))
                    elif obj["Key"] == self.summary_key:
                        self.has_summary = True
        except AWS_ERRORS as exc:
            raise read_failed(self.uri(listing_prefix), exc) from None

    def previous_summary(self) -> JobSummary | None:
        if not self.has_summary:
            return None
        uri = self.uri(self.summary_key)
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=self.summary_key)["Body"].read()
        except AWS_ERRORS as exc:
            raise read_failed(uri, exc) from None
        return JobSummary.from_json(data, str(uri))

    def check_previous(self, inventory: str, options: dict[str, object]) -> JobSummary | None:
        """Refuse (UsageError) to mix with output of a different grouping unless ``force``."""
        previous = self.previous_summary()
        if self.force:
            return previous
        if previous is not None:
            changes = option_changes(previous.options, options)
            if previous.inventory != inventory:
                changes.insert(0, f"inventory: {previous.inventory} -> {inventory}")
            if changes:
                raise UsageError(
                    f"{self.uri(self.summary_key)}: made with different options "
                    f"({'; '.join(changes)}); use --force to regroup"
                )
        elif self.existing:
            key = self.key(min(self.existing))
            if self._run_of(key) != self.run:
                raise UsageError(
                    f"{self.uri(key)}: exists but was not made by s3grouper with these options; "
                    "use --force to regroup"
                )
        return previous

    def _run_of(self, key: str) -> str | None:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except AWS_ERRORS as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise read_failed(self.uri(key), exc) from None
        return head.get("Metadata", {}).get(RUN_METADATA)

    def exists(self, number: int) -> bool:
        """True if sub-manifest ``number`` is there and is to be left alone."""
        return not self.force and number in self.existing

    def write(self, number: int, rows: Iterable[Iterable[str]]) -> str:
        """Write sub-manifest ``number``; return its key."""
        key = self.key(number)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as spool:
            text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
            submanifest.write_rows(text, rows)
            text.flush()
            text.detach()
            size = spool.tell()
            spool.seek(0)
            self._put(key, spool, size)
        self.written.append(key)
        return key

    def keep(self, number: int) -> str:
        key = self.key(number)
        self.kept.append(key)
        return key

    def _put(self, key: str, body: Any, size: int) -> None:
        extra = {"ContentType": CONTENT_TYPE, "Metadata": {RUN_METADATA: self.run}}
        try:
            if size <= PUT_LIMIT:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
            else:
                self.s3.upload_fileobj(body, self.bucket, key, ExtraArgs=extra)
        except AWS_ERRORS as exc:
            raise write_failed(self.uri(key), exc) from None

    def delete_stale(self, count: int) -> list[str]:
        """With ``force``: remove sub-manifests numbered ``count`` and up (a previous grouping
        made more), so the prefix holds exactly this grouping."""
        stale = [self.key(n) for n in sorted(self.existing) if n >= count]
        for key in stale:
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
            except AWS_ERRORS as exc:
                raise write_failed(self.uri(key), exc) from None
            log.warning("%s: deleted, left over from a previous grouping", self.uri(key))
        return stale

    def write_summary(self, summary: JobSummary, previous: JobSummary | None) -> bool:
        """Write the job summary (last); leave an identical one alone. True if written."""
        if previous is not None and _same(previous, summary):
            return False
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=self.summary_key,
                Body=summary.to_json(),
                ContentType="application/json",
                Metadata={RUN_METADATA: self.run},
            )
        except AWS_ERRORS as exc:
            raise write_failed(self.uri(self.summary_key), exc) from None
        return True


def _same(a: JobSummary, b: JobSummary) -> bool:
    left, right = asdict(a), asdict(b)
    left.pop("created", None)
    right.pop("created", None)
    return left == right
