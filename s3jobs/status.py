"""``submitmanifest.py --status``: what the fleet has done lately (CloudWatch metrics in
namespace S3Bundler) and what is waiting (queue attributes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from s3common.aws import AWS_ERRORS, api_failed
from s3common.metrics import NAMESPACE
from s3common.sizes import format_size

METRICS = (
    "ObjectsGrouped",
    "ManifestsWritten",
    "ManifestsCompleted",
    "ObjectsArchived",
    "BytesArchived",
    "ObjectsCopied",
    "BytesCopied",
    "ObjectErrors",
)


def metric_sums(cloudwatch: Any, since: timedelta) -> dict[str, float]:
    end = datetime.now(UTC) + timedelta(minutes=1)
    start = end - since
    period = max(60, int(since.total_seconds()) // 60 * 60)
    sums = {}
    for name in METRICS:
        try:
            points = cloudwatch.get_metric_statistics(
                Namespace=NAMESPACE,
                MetricName=name,
                StartTime=start,
                EndTime=end,
                Period=period,
                Statistics=["Sum"],
            )["Datapoints"]
        except AWS_ERRORS as exc:
            raise api_failed(f"CloudWatch {NAMESPACE}/{name}", exc) from exc
        sums[name] = sum(p["Sum"] for p in points)
    return sums


def status_lines(
    cloudwatch: Any, sqs: Any, queue_url: str, dlq_url: str, since: timedelta
) -> list[str]:
    s = metric_sums(cloudwatch, since)
    minutes = since.total_seconds() / 60
    lines = [
        f"last {minutes:.0f} min (CloudWatch {NAMESPACE}):",
        f"  grouped   {s['ObjectsGrouped']:.0f} objects into {s['ManifestsWritten']:.0f} "
        "sub-manifests",
        f"  bundled   {s['ManifestsCompleted']:.0f} sub-manifests: archived "
        f"{s['ObjectsArchived']:.0f} objects ({format_size(s['BytesArchived'])}), copied "
        f"{s['ObjectsCopied']:.0f} ({format_size(s['BytesCopied'])}), "
        f"{s['ObjectErrors']:.0f} in DLQ indexes",
        f"  rate      {s['ObjectsArchived'] / max(since.total_seconds(), 1):.1f} objects/s",
    ]
    for label, url in (("queue", queue_url), ("dead-letter queue", dlq_url)):
        if not url or sqs is None:
            continue
        try:
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        except AWS_ERRORS as exc:
            raise api_failed(f"queue {url}", exc) from exc
        lines.append(
            f"{label}: {attrs.get('ApproximateNumberOfMessages', '?')} waiting, "
            f"{attrs.get('ApproximateNumberOfMessagesNotVisible', '?')} in flight ({url})"
        )
    return lines
