"""Following a job to completion.

A job is one grouper run (or the shards of one, merged into one job summary): its job summary
(``<prefix>/<name>.job.json``) gives the number of sub-manifests, objects and bytes, and names
every sub-manifest (``JobSummary.manifest_keys``); each finished sub-manifest has a completion
report (``<sub-manifest>.done``) with exact counts. Reports of sub-manifests the summary does
not name (another grouping's, left under the same name) are not counted. Progress is the sum
of the reports against the summaries; the queue's attributes tell how many manifests are
waiting and in flight. This works the same against AWS and the local endpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from s3bundler.counts import Counts
from s3bundler.report import REPORT_SUFFIX, ManifestReport
from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, describe, error_code, read_failed
from s3common.errors import S3BundlerError
from s3common.s3uri import S3Uri
from s3common.sizes import format_size
from s3common.submanifest import INDEX_SUFFIX, JobSummary, job_summary_key

log = logging.getLogger(__name__)


@dataclass
class Job:
    """Where one grouper run writes: ``s3://bucket/prefix/base.*``."""

    inventory: str
    bucket: str
    prefix: str
    base: str
    summary: JobSummary | None = None
    reports: dict[str, ManifestReport] = field(default_factory=dict)  # by sub-manifest key
    _keys: frozenset[str] = frozenset()  # the summary's sub-manifests

    def expects(self, manifest_key: str) -> bool:
        """Whether ``manifest_key`` is one of the job summary's sub-manifests."""
        if self.summary is None:
            return False
        if not self._keys:
            self._keys = frozenset(self.summary.manifest_keys())
        return manifest_key in self._keys

    @property
    def summary_uri(self) -> S3Uri:
        return S3Uri(self.bucket, job_summary_key(self.prefix, self.base))

    @property
    def list_prefix(self) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/{self.base}." if prefix else f"{self.base}."

    @property
    def done(self) -> bool:
        return self.summary is not None and len(self.reports) >= self.summary.manifests


@dataclass
class Progress:
    """The jobs' totals (from their summaries) and what their finished sub-manifests did
    (``done``: the sum of their completion reports)."""

    jobs: int = 0
    jobs_grouped: int = 0
    manifests: int = 0
    manifests_done: int = 0
    objects: int = 0
    bytes: int = 0
    done: Counts = field(default_factory=Counts)
    queued: int | None = None
    in_flight: int | None = None

    @property
    def objects_done(self) -> int:
        return self.done.accounted

    def summary_lines(self) -> list[str]:
        d = self.done
        errors = ", ".join(f"{k} {v}" for k, v in sorted(d.errors.items())) or "none"
        return [
            f"manifests: {self.manifests_done}/{self.manifests} done in {self.jobs} job(s)",
            f"objects:   {self.objects_done}/{self.objects} "
            f"(archived {d.archived}, copied {d.copied}, in DLQ index {d.failed})",
            f"bytes:     archived {format_size(d.archived_bytes)}, "
            f"copied {format_size(d.copied_bytes)} of {format_size(self.bytes)}",
            f"DLQ reasons: {errors}",
        ]


class JobFollower:
    """Polls S3 (and the queue) and keeps a Progress for a set of jobs."""

    def __init__(self, s3: Any, jobs: list[Job], sqs: Any = None, queue_url: str = "") -> None:
        self.s3 = s3
        self.jobs = jobs
        self.sqs = sqs
        self.queue_url = queue_url

    def poll(self) -> Progress:
        for job in self.jobs:
            if job.summary is None:
                job.summary = self._summary(job)
            if job.summary is not None and not job.done:
                self._collect_reports(job)
        return self.progress()

    def progress(self) -> Progress:
        p = Progress(jobs=len(self.jobs))
        for job in self.jobs:
            if job.summary is not None:
                p.jobs_grouped += 1
                p.manifests += job.summary.manifests
                p.objects += job.summary.objects
                p.bytes += job.summary.bytes
            for r in job.reports.values():
                p.manifests_done += 1
                p.done.add(r.counts)
        if self.sqs is not None and self.queue_url:
            p.queued, p.in_flight = self._queue_depth()
        return p

    @property
    def done(self) -> bool:
        return all(job.done for job in self.jobs)

    def _summary(self, job: Job) -> JobSummary | None:
        uri = job.summary_uri
        try:
            data = self.s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        except AWS_ERRORS as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise read_failed(uri, exc) from exc
        return JobSummary.from_json(data, source=str(uri))

    def _collect_reports(self, job: Job) -> None:
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=job.bucket, Prefix=job.list_prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if not key.endswith(INDEX_SUFFIX + REPORT_SUFFIX):
                        continue
                    manifest_key = key[: -len(REPORT_SUFFIX)]
                    if manifest_key not in job.reports and job.expects(manifest_key):
                        job.reports[manifest_key] = self._report(job.bucket, key)
        except AWS_ERRORS as exc:
            raise read_failed(f"s3://{job.bucket}/{job.list_prefix}", exc) from exc

    def _report(self, bucket: str, key: str) -> ManifestReport:
        try:
            data = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            return ManifestReport.from_json(data)
        except AWS_ERRORS as exc:
            raise read_failed(S3Uri(bucket, key), exc) from exc
        except (ValueError, TypeError) as exc:
            raise S3BundlerError(f"s3://{bucket}/{key}: unreadable report: {exc}") from exc

    def _queue_depth(self) -> tuple[int | None, int | None]:
        try:
            attrs = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
        except AWS_ERRORS as exc:
            log.warning("cannot read queue attributes: %s", describe(exc))
            return None, None
        return (
            int(attrs.get("ApproximateNumberOfMessages", 0)),
            int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        )


def follow(
    follower: JobFollower,
    *,
    poll_seconds: float = 5.0,
    timeout: float | None = None,
    show_bar: bool = True,
    check: Callable[[], None] | None = None,
) -> Progress:
    """Poll until every job is done; a tqdm bar shows objects done out of the summaries' totals
    with throughput and ETA. ``check`` may raise to abandon (e.g. a grouper task failed)."""
    from tqdm import tqdm

    started = time.monotonic()
    bar = tqdm(total=0, unit="obj", unit_scale=True, disable=not show_bar, dynamic_ncols=True)
    try:
        while True:
            progress = follower.poll()
            bar.total = max(progress.objects, progress.objects_done)
            bar.n = progress.objects_done
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.set_postfix_str(
                f"manifests {progress.manifests_done}/{progress.manifests}"
                f" | queued {_opt(progress.queued)} in flight {_opt(progress.in_flight)}"
                f" | DLQ {progress.done.failed}"
                f" | {format_size(progress.done.bytes_done / elapsed)}/s",
                refresh=False,
            )
            bar.refresh()
            if follower.done:
                return progress
            if check is not None:
                check()
            if timeout is not None and time.monotonic() - started > timeout:
                raise S3BundlerError(
                    f"gave up after {timeout:.0f}s: {progress.manifests_done}/"
                    f"{progress.manifests} sub-manifests done"
                )
            time.sleep(poll_seconds)
    finally:
        bar.close()


def _opt(value: int | None) -> str:
    return "?" if value is None else str(value)
