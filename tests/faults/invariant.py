"""The promise, checked: every row of a sub-manifest ends in exactly one place -- archive +
index, big-object copy, or the DLQ index with a reason -- byte-exact, whatever happened.

:func:`check_invariant` reads only what a user would (the sub-manifests, the index, the DLQ
index, the completion report, ranged GETs of the archive, the copies) and compares it with
the source bytes the test put. It gathers every violation and raises one exception: the
violation's own class when there is one kind (so ``xfail(raises=OpenUploads)`` names a hole
exactly), :class:`InvariantViolation` itself when there are several.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from s3bundler.dlq import REASONS, DlqRow, read_dlq
from s3bundler.index import IndexRow, read_index
from s3bundler.layout import bigobject_key, manifest_outputs, metadata_key
from s3bundler.report import ManifestReport, report_key
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry, read_manifest


class InvariantViolation(AssertionError):
    """Some rows are not in exactly one place, byte-exact (several kinds at once)."""


class RowsNotPlaced(InvariantViolation):
    """A row in no place, or a place holding a row the sub-manifest does not list."""


class RowInTwoPlaces(InvariantViolation):
    """A row in more than one place (or twice in one)."""


class WrongBytes(InvariantViolation):
    """An archived member or a copy whose bytes (or index md5) differ from the source."""


class ReportMismatch(InvariantViolation):
    """No completion report, or one whose counts disagree with the outputs."""


class OpenUploads(InvariantViolation):
    """Multipart uploads left open in the archive bucket."""


Identity = tuple[str, str, str]  # bucket, key, version ("" when unversioned)


def identity(bucket: str, key: str, version: str | None) -> Identity:
    return bucket, key, "" if version in (None, "", "null") else str(version)


@dataclass
class Placed:
    """Where one sub-manifest's rows ended."""

    manifest: S3Uri
    entries: list[ManifestEntry]
    index: list[IndexRow] = field(default_factory=list)
    copies: dict[Identity, str] = field(default_factory=dict)  # -> copy key
    dlq: list[DlqRow] = field(default_factory=list)
    report: ManifestReport | None = None

    def reasons(self) -> dict[str, str]:
        return {r.key: r.reason for r in self.dlq}


class _S3:
    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def get(self, uri: S3Uri, range_: str = "") -> bytes | None:
        args = {"Bucket": uri.bucket, "Key": uri.key, **({"Range": range_} if range_ else {})}
        try:
            return self.s3.get_object(**args)["Body"].read()
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise

    def keys(self, bucket: str) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"] for page in pages for o in page.get("Contents", [])}


def check_invariant(
    s3: Any,
    manifests: Iterable[S3Uri],
    archive_bucket: str,
    sources: dict[tuple[str, str], bytes],
    prefix: str = "archives",
) -> list[Placed]:
    """Check every sub-manifest in ``manifests`` (``sources``: the bytes of each source
    object by (bucket, key); an object not in it must be in the DLQ index). ``s3`` should be
    a client no fault applies to. Returns where every row ended; raises InvariantViolation."""
    io = _S3(s3)
    archive_keys = io.keys(archive_bucket)
    problems: list[tuple[type[InvariantViolation], str]] = []
    placed = []
    for manifest in manifests:
        p = _gather(io, manifest, archive_bucket, prefix, archive_keys)
        placed.append(p)
        problems += _check_places(p)
        problems += _check_bytes(io, p, archive_bucket, prefix, sources)
        problems += _check_report(p)
    uploads = s3.list_multipart_uploads(Bucket=archive_bucket).get("Uploads", [])
    for u in uploads:
        problems.append((OpenUploads, f"open multipart upload {u['UploadId']} of {u['Key']}"))
    if problems:
        kinds = {kind for kind, _ in problems}
        cls = kinds.pop() if len(kinds) == 1 else InvariantViolation
        detail = "\n".join(f"{kind.__name__}: {text}" for kind, text in problems[:40])
        raise cls(f"{len(problems)} violation(s) of the invariant:\n{detail}")
    return placed


def _gather(
    io: _S3, manifest: S3Uri, archive_bucket: str, prefix: str, archive_keys: set[str]
) -> Placed:
    body = io.get(manifest)
    assert body is not None, f"sub-manifest {manifest} is gone"
    entries = list(read_manifest(body, source=str(manifest)))
    out = manifest_outputs(manifest, entries[0].bucket, archive_bucket, prefix, "")
    p = Placed(manifest, entries)
    if (index := io.get(out.index_uri)) is not None:
        p.index = list(read_index(index))
    if (dlq := io.get(out.dlq)) is not None:
        p.dlq = list(read_dlq(dlq))
    for e in entries:
        key = bigobject_key(prefix, e.bucket, e.key)
        if key in archive_keys:
            p.copies[identity(e.bucket, e.key, e.version_id)] = key
    if (report := io.get(S3Uri(manifest.bucket, report_key(manifest.key)))) is not None:
        p.report = ManifestReport.from_json(report)
    return p


def _check_places(p: Placed) -> list[tuple[type, str]]:
    where: dict[Identity, list[str]] = {}
    for row in p.index:
        where.setdefault(identity(row.bucket, row.key, row.version_id), []).append("archive")
    for ident in p.copies:
        where.setdefault(ident, []).append("copy")
    for d in p.dlq:
        where.setdefault(identity(d.bucket, d.key, d.version_id), []).append(f"dlq:{d.reason}")
    want = Counter(identity(e.bucket, e.key, e.version_id) for e in p.entries)
    out: list[tuple[type, str]] = []
    for ident in sorted(set(want) | set(where)):
        places = where.get(ident, [])
        if len(places) < want[ident]:
            out.append((RowsNotPlaced, f"{p.manifest}: {ident[1]!r} is in no place"))
        elif len(places) > want[ident] and want[ident]:
            out.append((RowInTwoPlaces, f"{p.manifest}: {ident[1]!r} is in {places}"))
        elif not want[ident]:
            out.append((RowsNotPlaced, f"{p.manifest}: {ident[1]!r} {places} is not listed"))
    for d in p.dlq:
        if d.reason not in REASONS or not d.detail:
            out.append((RowsNotPlaced, f"{p.manifest}: DLQ row {d.key!r} without a reason"))
    return out


def _check_bytes(
    io: _S3, p: Placed, bucket: str, prefix: str, sources: dict[tuple[str, str], bytes]
) -> list[tuple[type, str]]:
    out = manifest_outputs(p.manifest, p.entries[0].bucket, bucket, prefix, "")

    def member(row: IndexRow) -> str | None:
        src = sources.get((row.bucket, row.key))
        if src is None:
            return f"{row.key!r} archived but the test never put it"
        got = b"" if not row.size else io.get(out.archive_uri, _range(row.offset, row.size))
        if got != src:
            return f"{row.key!r}: archive bytes at {row.offset}+{row.size} differ from source"
        if row.md5 != hashlib.md5(src).hexdigest():
            return f"{row.key!r}: index md5 {row.md5} is not the source's"
        return None

    def copy(item: tuple[Identity, str]) -> str | None:
        (b, k, _), key = item
        if io.get(S3Uri(bucket, key)) != sources.get((b, k)):
            return f"copy {key!r} differs from its source"
        meta = io.get(S3Uri(bucket, metadata_key(key)))
        if meta is None or json.loads(meta).get("key") != k:
            return f"copy {key!r} has no .metadata naming its key"
        return None

    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(member, p.index)) + list(pool.map(copy, p.copies.items()))
    return [(WrongBytes, f"{p.manifest}: {text}") for text in found if text]


def _range(offset: int, size: int) -> str:
    return f"bytes={offset}-{offset + size - 1}"


def _check_report(p: Placed) -> list[tuple[type, str]]:
    if p.report is None:
        return [(ReportMismatch, f"{p.manifest}: no completion report")]
    c = p.report.counts
    got = (c.objects, c.archived, c.copied, c.failed, c.archived_bytes, dict(c.errors))
    want = (
        len(p.entries),
        len(p.index),
        len(p.copies),
        len(p.dlq),
        sum(r.size for r in p.index),
        dict(Counter(d.reason for d in p.dlq)),
    )
    if got != want:
        return [(ReportMismatch, f"{p.manifest}: report {got} != outputs {want}")]
    return []
