"""What a job left in S3, read back for ``reconcile`` and ``catalog rebuild``: its job summary,
the completion report of each sub-manifest, and where its archives (and catalog) live."""

from __future__ import annotations

import argparse
import posixpath
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from s3bundler.report import ManifestReport, report_key
from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, error_code, read_failed
from s3common.errors import InputDataError
from s3common.s3uri import S3Uri, parse_s3_uri
from s3common.submanifest import JobSummary

T = TypeVar("T")
R = TypeVar("R")

_CATALOG_DIR = "/catalog/bucket="


def get_object(s3: Any, uri: S3Uri) -> bytes | None:
    """The object's bytes, or None when it does not exist (any other failure: DownloadError
    naming ``uri``)."""
    try:
        return s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except AWS_ERRORS as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise read_failed(uri, exc) from None


def exists(s3: Any, uri: S3Uri) -> bool:
    """HEAD ``uri``: True, False when it does not exist, else DownloadError naming it."""
    try:
        s3.head_object(Bucket=uri.bucket, Key=uri.key)
    except AWS_ERRORS as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return False
        raise read_failed(uri, exc) from None
    return True


def load_job(s3: Any, uri: S3Uri) -> JobSummary:
    """The job summary at ``uri`` (DownloadError if it cannot be read, InputDataError if it
    is not one)."""
    try:
        data = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except AWS_ERRORS as exc:
        raise read_failed(uri, exc) from None
    return JobSummary.from_json(data, str(uri))


def job_manifests(job: JobSummary) -> list[S3Uri]:
    """The job's sub-manifests, in number order."""
    return [S3Uri(job.manifest_bucket, key) for key in job.manifest_keys()]


@dataclass(frozen=True)
class ReportState:
    """A sub-manifest's completion report: ``report`` when it exists and reads as one, else
    ``problem`` says why not (``"no completion report"``, ``"not a completion report: ..."``)."""

    manifest: S3Uri
    report: ManifestReport | None
    problem: str = ""

    @property
    def uri(self) -> S3Uri:
        return S3Uri(self.manifest.bucket, report_key(self.manifest.key))


def read_report(s3: Any, manifest: S3Uri) -> ReportState:
    uri = S3Uri(manifest.bucket, report_key(manifest.key))
    data = get_object(s3, uri)
    if data is None:
        return ReportState(manifest, None, "no completion report")
    try:
        return ReportState(manifest, ManifestReport.from_json(data))
    except ValueError as exc:
        return ReportState(manifest, None, str(exc))


def read_reports(s3: Any, manifests: Sequence[S3Uri], concurrency: int) -> list[ReportState]:
    """The completion report of each sub-manifest, in order, read concurrently."""
    with ThreadPoolExecutor(concurrency, thread_name_prefix="report") as pool:
        return list(pool.map(lambda m: read_report(s3, m), manifests))


def archive_root(reports: Sequence[ReportState]) -> S3Uri | None:
    """``s3://<archive-bucket>/<archive-prefix>`` as the completion reports tell it: from a
    catalog file they list (``<root>/catalog/bucket=...``), else from an archive
    (``<root>/<hash6>/<bucket>/<name>.tar``); None when no report names either."""
    for state in reports:
        for text in state.report.catalog if state.report else ():
            uri = parse_s3_uri(text)
            if _CATALOG_DIR in "/" + uri.key:
                root = ("/" + uri.key).rsplit(_CATALOG_DIR, 1)[0].strip("/")
                return S3Uri(uri.bucket, root)
    for state in reports:
        if state.report and state.report.archive:
            uri = parse_s3_uri(state.report.archive)
            parts = uri.key.split("/")
            if len(parts) >= 3:
                return S3Uri(uri.bucket, "/".join(parts[:-3]))
    return None


def catalog_root_arg(text: str) -> S3Uri:
    """argparse ``type=``: ``s3://BUCKET[/PREFIX]`` as given on the command line (no trailing
    slash kept)."""
    try:
        uri = parse_s3_uri(text, require_key=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return S3Uri(uri.bucket, uri.key.strip("/"))


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under ``prefix``."""
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                yield obj["Key"], obj["Size"]
    except AWS_ERRORS as exc:
        raise read_failed(S3Uri(bucket, prefix), exc) from None


def leaf(key: str) -> str:
    return posixpath.basename(key)


def bounded_map(
    pool: ThreadPoolExecutor, fn: Any, items: Sequence[T], window: int
) -> Iterator[tuple[T, Any]]:
    """(item, fn(item)) in order, at most ``window`` calls running or done ahead of the
    consumer (so results wait in memory only that far ahead)."""
    pending: list[tuple[T, Future[Any]]] = []
    it = iter(items)
    for item in it:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= window:
            first, future = pending.pop(0)
            yield first, future.result()
    for item, future in pending:
        yield item, future.result()


def not_a_catalog(uri: S3Uri, exc: BaseException) -> InputDataError:
    text = str(exc).strip().splitlines()
    return InputDataError(f"{uri}: not a readable catalog file: {text[0] if text else exc!r}")
