"""IAM of the core stack: the task execution role and the two task roles, each allowed only
the calls the code makes (see s3bundler/ and s3grouper/) on only the ARNs it makes them on."""

from __future__ import annotations

from typing import Any

from troposphere import (
    AccountId,
    Equals,
    GetAtt,
    If,
    Join,
    NoValue,
    Partition,
    Ref,
    Split,
    Sub,
    Template,
)
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup
from troposphere.sqs import Queue

from s3common.metrics import NAMESPACE

#: Namespace of the metrics the worker and the grouper publish (PutMetricData is limited to it).
METRICS_NAMESPACE = NAMESPACE


def s3_arn(bucket: Any, path: str | None = None) -> Sub:
    """arn:<partition>:s3:::<bucket>[/<path>] (``path`` may hold ${Var} of the template)."""
    tail = "" if path is None else "/" + path
    return Sub("arn:${AWS::Partition}:s3:::${Bucket}" + tail, Bucket=bucket)


PARTITIONS = {"aws": "", "aws-cn": "ChinaPartition", "aws-us-gov": "GovCloudPartition"}


def add_partition_conditions(t: Template) -> None:
    for partition, condition in PARTITIONS.items():
        if condition:
            t.add_condition(condition, Equals(Partition, partition))


def list_arns(buckets: Any, suffix: str = "") -> If:
    """One S3 ARN per bucket of a CommaDelimitedList (bucket ARNs, or objects with "/*").

    Fn::Join takes only a literal delimiter, so the partition is chosen by a condition."""

    def arns(partition: str) -> Split:
        head = f"arn:{partition}:s3:::"
        return Split(",", Join("", [head, Join(f"{suffix},{head}", buckets), suffix]))

    return If(
        "ChinaPartition", arns("aws-cn"), If("GovCloudPartition", arns("aws-us-gov"), arns("aws"))
    )


def statement(sid: str, actions: list[str], resources: Any, **extra: Any) -> dict[str, Any]:
    st: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    st.update(extra)
    return st


def task_trust_policy() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": AccountId}},
            }
        ],
    }


def put_metric_statement() -> dict[str, Any]:
    """PutMetricData has no resource type: '*' limited by the namespace condition."""
    return statement(
        "PublishMetrics",
        ["cloudwatch:PutMetricData"],
        "*",
        Condition={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
    )


def kms_statement() -> Any:
    return If(
        "HasKmsKey",
        statement("UseArchiveKey", ["kms:Decrypt", "kms:GenerateDataKey"], Ref("KmsKeyArn")),
        NoValue,
    )


def add_roles(
    t: Template, bucket_name: Any, queue: Queue, bundler_logs: LogGroup, grouper_logs: LogGroup
) -> tuple[Role, Role, Role]:
    """Least privilege: each action the code calls, on only the ARNs it calls it on."""
    manifest_objects = Sub(
        "arn:${AWS::Partition}:s3:::${Bucket}/${Prefix}/*",
        Bucket=bucket_name,
        Prefix=Ref("ManifestPrefix"),
    )

    def beside_manifests(suffix: str) -> Sub:
        """<manifest>.dlq (DLQ index) and <manifest>.done (completion report) keys."""
        return Sub(
            "arn:${AWS::Partition}:s3:::${Bucket}/${Prefix}/*" + suffix,
            Bucket=bucket_name,
            Prefix=Ref("ManifestPrefix"),
        )

    archive_objects = Sub(
        "arn:${AWS::Partition}:s3:::${Bucket}/${Prefix}/*",
        Bucket=bucket_name,
        Prefix=Ref("ArchivePrefix"),
    )
    queue_arn = GetAtt(queue, "Arn")

    def log_stream_arn(group: LogGroup) -> Sub:
        return Sub(
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${G}:*",
            G=Ref(group),
        )

    execution = t.add_resource(
        Role(
            "TaskExecutionRole",
            AssumeRolePolicyDocument=task_trust_policy(),
            Policies=[
                Policy(
                    PolicyName="pull-images-and-write-logs",
                    PolicyDocument={
                        "Version": "2012-10-17",
                        "Statement": [
                            # GetAuthorizationToken has no resource type: '*' is the only form.
                            statement("EcrLogin", ["ecr:GetAuthorizationToken"], "*"),
                            statement(
                                "PullImages",
                                [
                                    "ecr:BatchCheckLayerAvailability",
                                    "ecr:BatchGetImage",
                                    "ecr:GetDownloadUrlForLayer",
                                ],
                                Sub(
                                    "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}"
                                    ":repository/*"
                                ),
                            ),
                            statement(
                                "WriteLogs",
                                ["logs:CreateLogStream", "logs:PutLogEvents"],
                                [log_stream_arn(bundler_logs), log_stream_arn(grouper_logs)],
                            ),
                        ],
                    },
                )
            ],
        )
    )
    bundler = t.add_resource(
        Role(
            "BundlerTaskRole",
            AssumeRolePolicyDocument=task_trust_policy(),
            Policies=[
                Policy(
                    PolicyName="s3bundler-worker",
                    PolicyDocument={
                        "Version": "2012-10-17",
                        "Statement": [
                            statement(
                                "ReadSourceObjects",
                                [
                                    "s3:GetObject",
                                    "s3:GetObjectTagging",
                                    "s3:GetObjectVersion",
                                    "s3:GetObjectVersionTagging",
                                ],
                                list_arns(Ref("SourceBuckets"), "/*"),
                            ),
                            # 404 instead of 403 for missing objects (NoSuchKey in the DLQ).
                            statement(
                                "ListSourceBuckets",
                                ["s3:ListBucket"],
                                list_arns(Ref("SourceBuckets")),
                            ),
                            statement(
                                "WriteArchives",
                                [
                                    "s3:AbortMultipartUpload",
                                    "s3:DeleteObject",
                                    "s3:ListMultipartUploadParts",
                                    "s3:PutObject",
                                    "s3:PutObjectTagging",
                                ],
                                archive_objects,
                            ),
                            statement("ReadManifests", ["s3:GetObject"], manifest_objects),
                            statement(
                                "WriteDlqIndexes",
                                ["s3:DeleteObject", "s3:PutObject"],
                                beside_manifests(".dlq"),
                            ),
                            statement(
                                "WriteCompletionReports",
                                ["s3:PutObject"],
                                beside_manifests(".done"),
                            ),
                            # ListBucketMultipartUploads: the uploads a killed worker left.
                            statement(
                                "ListArchiveBucket",
                                ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                                s3_arn(bucket_name),
                            ),
                            statement(
                                "ServeManifestQueue",
                                [
                                    "sqs:ChangeMessageVisibility",
                                    "sqs:DeleteMessage",
                                    "sqs:GetQueueAttributes",
                                    "sqs:GetQueueUrl",
                                    "sqs:ReceiveMessage",
                                ],
                                queue_arn,
                            ),
                            put_metric_statement(),
                            kms_statement(),
                        ],
                    },
                )
            ],
        )
    )
    grouper = t.add_resource(
        Role(
            "GrouperTaskRole",
            AssumeRolePolicyDocument=task_trust_policy(),
            Policies=[
                Policy(
                    PolicyName="s3grouper",
                    PolicyDocument={
                        "Version": "2012-10-17",
                        "Statement": [
                            statement(
                                "ReadInventories",
                                ["s3:GetObject"],
                                s3_arn(Ref("InventoryBucket"), "*"),
                            ),
                            statement(
                                "ListInventoryBucket",
                                ["s3:ListBucket"],
                                s3_arn(Ref("InventoryBucket")),
                            ),
                            # HeadBucket, and the listing of earlier sub-manifests.
                            statement("ListManifestBucket", ["s3:ListBucket"], s3_arn(bucket_name)),
                            statement(
                                "WriteManifests",
                                [
                                    "s3:AbortMultipartUpload",
                                    "s3:DeleteObject",
                                    "s3:GetObject",
                                    "s3:PutObject",
                                ],
                                manifest_objects,
                            ),
                            statement(
                                "SendToManifestQueue",
                                ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],
                                queue_arn,
                            ),
                            put_metric_statement(),
                            kms_statement(),
                        ],
                    },
                )
            ],
        )
    )
    return execution, bundler, grouper
