"""``s3bundler catalog rebuild``: the catalog files of sub-manifests bundled before the bundler
wrote a catalog (docs/reconcile.md).

For each finished sub-manifest (one with a completion report), its rows are read again and
each is found where the bundler put it: the archive's index (archived), the DLQ index
(failed), or a big object's ``.metadata`` beside its copy (copied; the copy's key follows from
the object's key, s3bundler/layout.py). The rows then go through the bundler's own
:class:`~s3bundler.catalog.CatalogFile` in the bundler's order (the ledger gives rejected rows
first, and the catalog is sorted by key with ties in that order), so the file is the one the
bundler would have written: same key, same rows.

Idempotent: a catalog file that exists with the same rows is left alone; one with other rows
is reported and replaced only with ``force``.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from s3bundler import dlq
from s3bundler.catalog import CatalogFile
from s3bundler.codecs import codec_of
from s3bundler.index import INDEX_COLUMNS, IndexRow, read_index
from s3bundler.layout import bigobject_key, dlq_uri, manifest_outputs, metadata_key
from s3bundler.manifest import LoadedManifest, parse_manifest
from s3bundler.report import ManifestReport
from s3common.aws import AWS_ERRORS, write_failed
from s3common.s3uri import S3Uri, parse_s3_uri
from s3common.submanifest import JOB_SUFFIX, LEGACY_FIELDS, ManifestEntry, manifest_name
from s3restore import job_outputs
from s3restore.job_outputs import get_object

REPORT_SUFFIX = ".done"
WRITTEN, UNCHANGED, WOULD_WRITE, DIFFERS, FAILED = (
    "written", "unchanged", "would write", "differs", "failed",
)  # fmt: skip
_REJECTED = frozenset({dlq.BAD_MANIFEST_ROW, dlq.DUPLICATE_ROW})


class RebuildProblem(Exception):
    """The sub-manifest's outputs do not say where every row went: no catalog for it."""


@dataclass(frozen=True)
class RebuildOptions:
    archive_bucket: str
    archive_prefix: str = "archives"
    dry_run: bool = False
    force: bool = False
    legacy_fields: tuple[str, ...] = LEGACY_FIELDS


@dataclass
class Rebuilt:
    """What became of one sub-manifest: ``files`` {catalog URI: action} and row counts."""

    manifest: S3Uri
    files: dict[S3Uri, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # by status
    problem: str = ""

    def lines(self) -> list[str]:
        if self.problem:
            return [f"{FAILED}: {self.manifest}: {self.problem}"]
        rows = ", ".join(f"{n} {s}" for s, n in sorted(self.rows.items()))
        return [f"{action}: {uri} ({rows})" for uri, action in self.files.items()]


def finished_manifests(s3: Any, source: S3Uri) -> list[S3Uri]:
    """The sub-manifests to rebuild: a job summary's, or every one with a completion report
    under a prefix (``s3://MANIFEST_BUCKET/PREFIX/``)."""
    if source.key.endswith(JOB_SUFFIX):
        return job_outputs.job_manifests(job_outputs.load_job(s3, source))
    return sorted(
        S3Uri(source.bucket, key[: -len(REPORT_SUFFIX)])
        for key, _ in job_outputs.list_keys(s3, source.bucket, source.key)
        if key.endswith(REPORT_SUFFIX)
    )


def rebuild_one(s3: Any, manifest: S3Uri, options: RebuildOptions) -> Rebuilt:
    """Rebuild (or check, with ``dry_run``) the catalog file(s) of one sub-manifest."""
    result = Rebuilt(manifest)
    try:
        files, result.rows = catalog_files(s3, manifest, options)
    except RebuildProblem as exc:
        result.problem = str(exc)
        return result
    for uri, body in files.items():
        result.files[uri] = _store(s3, uri, body, options)
    return result


def catalog_files(
    s3: Any, manifest: S3Uri, options: RebuildOptions
) -> tuple[dict[S3Uri, bytes], dict[str, int]]:
    """{catalog file URI: Parquet bytes} of one sub-manifest, and its rows by status."""
    state = job_outputs.read_report(s3, manifest)
    if state.report is None:
        raise RebuildProblem(f"{state.problem} ({state.uri}): not finished")
    report = state.report
    data = get_object(s3, manifest)
    if data is None:
        raise RebuildProblem("the sub-manifest does not exist")
    loaded = parse_manifest(data, str(manifest), options.legacy_fields)
    archive = _archive(manifest, loaded, report, options)
    index = _index_rows(s3, report, archive)
    failed = _dlq_rows(s3, manifest, report)
    copies = _copies(s3, loaded.entries, index, failed, options)
    if (len(index), len(copies), len(failed)) != (
        report.counts.archived, report.counts.copied, report.counts.failed,
    ):  # fmt: skip
        raise RebuildProblem(
            f"found {len(index)} archived, {len(copies)} copied, {len(failed)} failed; the "
            f"completion report says {report.counts.archived}, {report.counts.copied}, "
            f"{report.counts.failed}"
        )
    catalog = CatalogFile(manifest, archive)
    for row in failed:  # the ledger's order: rejected rows first, then as they happened
        catalog.on_failed(row)
    for index_row in index:
        catalog.on_archived(index_row)
    for index_row, target in copies:
        catalog.on_copied(index_row, target)
    files = catalog.files(options.archive_prefix, manifest_name(manifest.key))
    rows = {"archived": len(index), "copied": len(copies), "failed": len(failed)}
    return {S3Uri(options.archive_bucket, k): v for k, v in files.items()}, rows


def _archive(
    manifest: S3Uri, loaded: LoadedManifest, report: ManifestReport, options: RebuildOptions
) -> S3Uri | None:
    """The archive, as the report names it; it must be where the layout puts it."""
    if not report.archive:
        return None
    named = parse_s3_uri(report.archive)
    codec = codec_of(named.key)
    outputs = manifest_outputs(
        manifest, loaded.source_bucket, options.archive_bucket, options.archive_prefix,
        codec.name if codec is not None else "",
    )  # fmt: skip
    if named != outputs.archive_uri:
        raise RebuildProblem(
            f"the completion report names the archive {named}, not {outputs.archive_uri}: "
            "check --archive-bucket and --archive-prefix"
        )
    return named


def _index_rows(s3: Any, report: ManifestReport, archive: S3Uri | None) -> list[IndexRow]:
    if not report.counts.archived:
        return []
    if archive is None or not report.index:
        raise RebuildProblem("the completion report counts archived objects but names no archive")
    uri = parse_s3_uri(report.index)
    data = get_object(s3, uri)
    if data is None:
        raise RebuildProblem(f"the index {uri} does not exist")
    try:
        return list(read_index(data))
    except (ValueError, TypeError) as exc:
        raise RebuildProblem(f"{uri}: not an index ({INDEX_COLUMNS[0]},...): {exc}") from None


def _dlq_rows(s3: Any, manifest: S3Uri, report: ManifestReport) -> list[dlq.DlqRow]:
    if not report.counts.failed:
        return []
    uri = dlq_uri(manifest)
    data = get_object(s3, uri)
    if data is None:
        raise RebuildProblem(f"the DLQ index {uri} does not exist")
    try:
        return list(dlq.read_dlq(data))
    except ValueError as exc:
        raise RebuildProblem(f"{uri}: {exc}") from None


def _copies(
    s3: Any,
    entries: list[ManifestEntry],
    index: list[IndexRow],
    failed: list[dlq.DlqRow],
    options: RebuildOptions,
) -> list[tuple[IndexRow, S3Uri]]:
    """The rows neither archived nor failed, each found as a big-object copy by its
    ``.metadata`` (in sub-manifest order, as the bundler collects copies)."""
    archived: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in index:
        archived[(row.bucket, row.key)].add(row.version_id)
    dlq_ids = {(r.bucket, r.key, r.version_id) for r in failed if r.reason not in _REJECTED}
    copies = []
    for entry in entries:
        versions = archived.get((entry.bucket, entry.key), set())
        if versions and (not entry.version_id or entry.version_id in versions):
            continue
        if (entry.bucket, entry.key, entry.version_id) in dlq_ids:
            continue
        copies.append(_copy(s3, entry, options))
    return copies


def _copy(s3: Any, entry: ManifestEntry, options: RebuildOptions) -> tuple[IndexRow, S3Uri]:
    target = S3Uri(
        options.archive_bucket, bigobject_key(options.archive_prefix, entry.bucket, entry.key)
    )
    meta = S3Uri(target.bucket, metadata_key(target.key))
    data = get_object(s3, meta)
    if data is None:
        raise RebuildProblem(
            f"s3://{entry.bucket}/{entry.key} is in neither the index nor the DLQ index, and "
            f"there is no {meta}"
        )
    try:
        doc = json.loads(data)
        copy = S3Uri(doc.pop("copy_bucket"), doc.pop("copy_key"))
        row = IndexRow(**doc)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RebuildProblem(f"{meta}: not a big object's .metadata: {exc}") from None
    if entry.version_id and row.version_id != entry.version_id:
        raise RebuildProblem(f"{meta} is of version {row.version_id!r}, not {entry.version_id!r}")
    return row, copy


def _store(s3: Any, uri: S3Uri, body: bytes, options: RebuildOptions) -> str:
    existing = get_object(s3, uri)
    if existing is not None and (existing == body or _same_rows(existing, body)):
        return UNCHANGED
    if existing is not None and not options.force:
        return DIFFERS
    if options.dry_run:
        return WOULD_WRITE
    try:
        s3.put_object(
            Bucket=uri.bucket, Key=uri.key, Body=body, ContentType="application/vnd.apache.parquet"
        )
    except AWS_ERRORS as exc:
        raise write_failed(uri, exc) from exc
    return WRITTEN


def _same_rows(a: bytes, b: bytes) -> bool:
    try:
        return pq.read_table(io.BytesIO(a)).equals(pq.read_table(io.BytesIO(b)))
    except (OSError, pa.ArrowInvalid):
        return False  # not a readable catalog file: it differs
