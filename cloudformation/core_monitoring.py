"""Watching the core stack: log groups, metric filters on the tasks' ERROR lines, the
dead-letter-queue alarm and the dashboard."""

from __future__ import annotations

import json
from typing import Any

from troposphere import GetAtt, If, NoValue, Ref, Sub, Template
from troposphere.cloudwatch import Alarm, Dashboard
from troposphere.cloudwatch import MetricDimension as CwDimension
from troposphere.ecs import Cluster, Service
from troposphere.logs import Dimension as LogDimension
from troposphere.logs import LogGroup, MetricFilter, MetricTransformation
from troposphere.sns import Subscription, Topic
from troposphere.sqs import Queue

from cloudformation.cfn_common import lint_metadata
from cloudformation.core_iam import METRICS_NAMESPACE

DLQ_ALARM_NAME = "${AWS::StackName}-manifests-in-dead-letter-queue"
#: CloudWatch namespace of the metric-filter counts (per stack: filters take no fixed dimension).
LOGS_NAMESPACE = "S3Bundler/Logs/${AWS::StackName}"

#: Lines the worker and grouper log (s3common.cli.LOG_FORMAT: date time LEVEL logger message)
#: counted by metric filters: (logical id, log group, pattern, metric, dimensions).
_FIELDS = "[date, time, level=ERROR, logger"
LOG_METRICS: tuple[tuple[str, str, str, str, dict[str, str] | None], ...] = (
    ("BundlerErrorLines", "bundler", _FIELDS + ", ...]", "BundlerErrorLines", None),
    ("ObjectFailedLines", "bundler", _FIELDS + ", event=object_failed, reason, ...]",
     "ObjectFailedLines", {"Reason": "$reason"}),
    ("ManifestFailedLines", "bundler", _FIELDS + ", event=manifest_failed, ...]",
     "ManifestFailedLines", None),
    ("MessageFailedLines", "bundler", _FIELDS + ", event=message_failed, ...]",
     "MessageFailedLines", None),
    ("BundlerExitLines", "bundler", '"s3bundler: error:"', "BundlerExitLines", None),
    ("GrouperErrorLines", "grouper", _FIELDS + ", ...]", "GrouperErrorLines", None),
    ("GrouperExitLines", "grouper", '"s3grouper: error:"', "GrouperExitLines", None),
)  # fmt: skip


def add_log_groups(t: Template) -> tuple[LogGroup, LogGroup]:
    def group(logical_id: str, tool: str) -> LogGroup:
        return t.add_resource(
            LogGroup(
                logical_id,
                # Delete, on purpose: the lines are diagnostics, already bounded by
                # LogRetentionDays (what a job did stays in the bucket: indexes, .done, .dlq),
                # and the group's name comes from the stack's, so a retained group would make a
                # new stack of that name fail with "already exists". The same on replacement,
                # which the fixed name rules out anyway.
                DeletionPolicy="Delete",
                UpdateReplacePolicy="Delete",
                Metadata=lint_metadata(logical_id),
                LogGroupName=Sub("/s3bundler/${AWS::StackName}/" + tool),
                RetentionInDays=Ref("LogRetentionDays"),
            )
        )

    return group("BundlerLogGroup", "bundler"), group("GrouperLogGroup", "grouper")


def add_alarms(t: Template, dlq: Queue) -> Alarm:
    topic = t.add_resource(
        Topic(
            "AlarmTopic",
            Condition="HasAlarmEmail",
            Metadata=lint_metadata("AlarmTopic"),
            Subscription=[Subscription(Protocol="email", Endpoint=Ref("AlarmEmail"))],
        )
    )
    actions = If("HasAlarmEmail", [Ref(topic)], NoValue)
    return t.add_resource(
        Alarm(
            "DeadLetterQueueAlarm",
            AlarmName=Sub(DLQ_ALARM_NAME),
            AlarmDescription="Manifests in the dead-letter queue: they failed MaxReceiveCount "
            "times. Read the bundler log (manifest_failed/message_failed), fix, then redrive "
            "the DLQ to the manifest queue.",
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[CwDimension(Name="QueueName", Value=GetAtt(dlq, "QueueName"))],
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=actions,
            OKActions=actions,
        )
    )


def add_metric_filters(t: Template, bundler_logs: LogGroup, grouper_logs: LogGroup) -> None:
    groups = {"bundler": bundler_logs, "grouper": grouper_logs}
    for logical_id, group, pattern, metric, dims in LOG_METRICS:
        transform: dict[str, Any] = {
            "MetricNamespace": Sub(LOGS_NAMESPACE),
            "MetricName": metric,
            "MetricValue": "1",
        }
        if dims:
            transform["Dimensions"] = [LogDimension(Key=k, Value=v) for k, v in dims.items()]
        else:
            transform["DefaultValue"] = 0
        t.add_resource(
            MetricFilter(
                logical_id + "Filter",
                LogGroupName=Ref(groups[group]),
                FilterPattern=pattern,
                MetricTransformations=[MetricTransformation(**transform)],
            )
        )


def add_dashboard(
    t: Template, queue: Queue, dlq: Queue, cluster: Cluster, service: Service, dlq_alarm: Alarm
) -> Dashboard:
    """Widgets as JSON with ${...} placeholders resolved by Fn::Sub."""

    def search(metric: str, stat: str = "Sum", ns: str = METRICS_NAMESPACE) -> str:
        return f"SEARCH('Namespace=\"{ns}\" MetricName=\"{metric}\"', '{stat}', 300)"

    def total(qid: str, metric: str, label: str, stat: str = "Sum") -> list[dict[str, Any]]:
        return [
            {"expression": search(metric, stat), "id": qid + "s", "visible": False},
            {"expression": f"SUM({qid}s)", "id": qid, "label": label},
        ]

    def widget(x: int, y: int, title: str, metrics: list[Any], **props: Any) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": "${AWS::Region}",  # view timeSeries, not stacked: the defaults
                "period": 60 if "Queue" in title else 300,
                "metrics": metrics,
                **props,
            },
        }

    logs_ns = LOGS_NAMESPACE
    # fmt: off
    widgets = [
        widget(0, 0, "Queue depth (manifests)", [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${QueueName}",
             {"stat": "Maximum", "label": "waiting"}],
            [".", "ApproximateNumberOfMessagesNotVisible", ".", ".",
             {"stat": "Maximum", "label": "in progress"}],
            [".", "ApproximateNumberOfMessagesVisible", ".", "${DlqName}",
             {"stat": "Maximum", "label": "dead-letter queue"}],
        ]),
        widget(12, 0, "Bundler tasks", [
            ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", "${Cluster}",
             "ServiceName", "${ServiceName}", {"stat": "Maximum", "label": "running"}],
            [".", "DesiredTaskCount", ".", ".", ".", ".", {"stat": "Maximum", "label": "desired"}],
            [".", "PendingTaskCount", ".", ".", ".", ".", {"stat": "Maximum", "label": "pending"}],
        ]),
        widget(0, 6, "Archive throughput: objects per 5 min",
               total("oa", "ObjectsArchived", "archived")
               + total("oc", "ObjectsCopied", "copied (big objects)")
               + total("og", "ObjectsGrouped", "grouped")),
        widget(12, 6, "Archive throughput: bytes per 5 min",
               total("ba", "BytesArchived", "archived")
               + total("bc", "BytesCopied", "copied (big objects)")
               + total("bg", "BytesGrouped", "grouped")),
        widget(0, 12, "Object errors by reason (DLQ index rows)", [
            [{"expression": search("ObjectErrors"), "id": "e1"}],
            [{"expression": search("ObjectFailedLines", ns=logs_ns), "id": "e2",
              "label": "log lines"}],
        ]),
        widget(12, 12, "Manifests",
               total("mc", "ManifestsCompleted", "completed")
               + total("mw", "ManifestsWritten", "sub-manifests written")
               + [{"expression": search("ManifestSeconds", "Average"), "id": "ms",
                   "yAxis": "right"}]),
        widget(0, 18, "Error log lines per 5 min", [
            [logs_ns, "BundlerErrorLines", {"stat": "Sum", "label": "bundler ERROR"}],
            [".", "ManifestFailedLines", {"stat": "Sum", "label": "manifest_failed"}],
            [".", "MessageFailedLines", {"stat": "Sum", "label": "message_failed"}],
            [".", "BundlerExitLines", {"stat": "Sum", "label": "bundler exits with error"}],
            [".", "GrouperErrorLines", {"stat": "Sum", "label": "grouper ERROR"}],
            [".", "GrouperExitLines", {"stat": "Sum", "label": "grouper exits with error"}],
        ]),
        {
            "type": "alarm",
            "x": 12,
            "y": 18,
            "width": 12,
            "height": 6,
            "properties": {"title": "Alarms", "alarms": [
                "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
                + DLQ_ALARM_NAME]},
        },
    ]
    # fmt: on
    body = json.dumps({"widgets": _fix_totals(widgets)}, separators=(",", ":"))
    return t.add_resource(
        Dashboard(
            "Dashboard",
            DependsOn=[dlq_alarm],
            DashboardName=Sub("${AWS::StackName}-s3bundler"),
            DashboardBody=Sub(
                body,
                QueueName=GetAtt(queue, "QueueName"),
                DlqName=GetAtt(dlq, "QueueName"),
                Cluster=Ref(cluster),
                ServiceName=GetAtt(service, "Name"),
            ),
        )
    )


def _fix_totals(widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Metric widgets take each expression as a one-element row: [{expression...}]."""
    for w in widgets:
        if w["type"] != "metric":
            continue
        rows = w["properties"]["metrics"]
        w["properties"]["metrics"] = [[r] if isinstance(r, dict) else r for r in rows]
    return widgets
