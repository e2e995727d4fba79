"""A real small job for reconcile and catalog rebuild tests: source objects, an S3 Inventory
report of them, the grouper, and the bundler on every sub-manifest (all in this process)."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import pyarrow.parquet as pq

from s3bundler.archiver import BundlerConfig, ManifestJob
from s3bundler.report import ManifestReport, report_key
from s3common.s3uri import S3Uri, parse_s3_uri
from s3common.submanifest import JobSummary, job_summary_key
from s3grouper.filters import FilterOptions
from s3grouper.grouper import GrouperClients, GrouperOptions, run_grouper
from s3grouper.grouping import Thresholds
from s3grouper.shards import Shard
from s3jobs import inventory_report
from tests.s3bundler.sources import seed

MAXSIZE = 4000  # bigger objects are copied, not archived
PREFIX = "archives"


@dataclass
class Job:
    summary_uri: S3Uri
    summary: JobSummary
    source: str
    archive_bucket: str
    reports: list[ManifestReport]

    @property
    def manifests(self) -> list[S3Uri]:
        return [S3Uri(self.summary.manifest_bucket, k) for k in self.summary.manifest_keys()]

    def catalog_uri(self, n: int) -> S3Uri:
        (uri,) = self.reports[n].catalog
        return parse_s3_uri(uri)


def make_job(
    s3, buckets, *, objects: int = 45, count: int = 15, gone: int = 2, shards: int = 1
) -> Job:
    """``objects`` objects (every 10th bigger than MAXSIZE: copied), an inventory of them plus
    two it filters out, ``gone`` of them deleted before bundling (DLQ'd as NoSuchKey), grouped
    ``count`` per sub-manifest (by ``shards`` grouper runs), each bundled."""
    source, archive_bucket, manifest_bucket = buckets
    sizes = {f"data/{i:03d}.bin": (MAXSIZE + 10 + i if i % 10 == 3 else 10 + i * 7)
             for i in range(objects)}  # fmt: skip
    seed(s3, source, sizes, meta_every=5, tag_every=7)
    rows = [{"Key": k, "Size": v} for k, v in sizes.items()]
    rows += [{"Key": "skip/me.tmp", "Size": 1}, {"Key": "data/folder/", "Size": 0}]
    inventory = inventory_report.put_inventory(
        s3, manifest_bucket, rows, source_bucket=source, files=3
    )
    for key in list(sizes)[5 : 5 + gone]:
        s3.delete_object(Bucket=source, Key=key)
    options = GrouperOptions(
        manifest=parse_s3_uri(inventory),
        bucket=manifest_bucket,
        thresholds=Thresholds(count=count),
        filters=FilterOptions(exclude=("*.tmp",)),
        metrics=False,
    )
    if shards == 1:
        result = run_grouper(options, GrouperClients(s3=s3))
        summary_uri, summary = result.summary_uri, result.summary
    else:
        for i in range(shards):
            result = run_grouper(replace(options, shard=Shard(i, shards)), GrouperClients(s3=s3))
        assert result.merged is not None and result.merged.job is not None
        summary = result.merged.job
        summary_uri = S3Uri(manifest_bucket, job_summary_key(summary.manifest_prefix,
                                                             summary.base_name))  # fmt: skip
    config = BundlerConfig(archive_bucket=archive_bucket, archive_prefix=PREFIX, maxsize=MAXSIZE)
    reports = []
    for key in summary.manifest_keys():
        manifest = S3Uri(manifest_bucket, key)
        ManifestJob(s3, config, manifest).run()
        body = s3.get_object(Bucket=manifest_bucket, Key=report_key(key))["Body"].read()
        reports.append(ManifestReport.from_json(body))
    return Job(summary_uri, summary, source, archive_bucket, reports)


def read_catalog(s3, uri: S3Uri):
    body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    return pq.read_table(io.BytesIO(body))


def put_catalog(s3, uri: S3Uri, rows: list[dict]) -> None:
    from s3bundler.catalog import encode

    s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=encode(rows))
