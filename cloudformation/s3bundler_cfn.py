"""The s3bundler core stack: archive bucket, manifest queue + DLQ, IAM, logs, metric filters,
alarms, dashboard, ECS cluster, the two task definitions and the queue-scaled bundler service.

    python cloudformation/s3bundler_cfn.py > s3bundler.cfn.json
    python cloudformation/s3bundler_cfn.py --source-buckets my-src --inventory-bucket my-inv

Every template parameter has a generator flag that sets its default (``--help``). Needs no AWS
access. Capacity: ``LaunchType=EC2`` runs on the spot fleet of s3bundler_spotfleet_cfn.py,
``LaunchType=FARGATE_SPOT`` on Fargate Spot in the subnets given. See docs/deploy.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run as a file (python cloudformation/<stack>.py, as the docs show): import the package
    # beside this file, from the checkout this file is in, rather than any installed copy.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from troposphere import (
    AccountId,
    Equals,
    Export,
    GetAtt,
    If,
    Join,
    Not,
    NoValue,
    Output,
    Ref,
    Region,
    Select,
    Split,
    StackId,
    Sub,
    Tags,
    Template,
)
from troposphere import s3 as s3r
from troposphere.applicationautoscaling import ScalableTarget
from troposphere.cloudwatch import Dashboard
from troposphere.ecs import (
    AwsvpcConfiguration,
    CapacityProviderStrategyItem,
    Cluster,
    ClusterSetting,
    ContainerDefinition,
    DeploymentConfiguration,
    Environment,
    LogConfiguration,
    NetworkConfiguration,
    PlacementStrategy,
    Service,
    TaskDefinition,
)
from troposphere.iam import Role
from troposphere.logs import LogGroup
from troposphere.sqs import Queue, QueuePolicy, RedrivePolicy

from cloudformation.cfn_common import (
    Param,
    add_output_flags,
    add_param_flags,
    add_params,
    add_queue_scaling,
    lint_metadata,
    param_defaults,
    write_template,
)
from cloudformation.core_iam import add_partition_conditions, add_roles, s3_arn
from cloudformation.core_monitoring import (
    add_alarms,
    add_dashboard,
    add_log_groups,
    add_metric_filters,
)
from s3bundler.layout import ARCHIVE_TAG
from s3common.request_options import STORAGE_CLASSES

BUNDLER_CONTAINER = "s3bundler"
GROUPER_CONTAINER = "s3grouper"
FOURTEEN_DAYS = 14 * 24 * 3600
LOG_RETENTION_DAYS = (
    "1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545",
    "731", "1096", "1827", "2192", "2557", "2922", "3288", "3653",
)  # fmt: skip
PREFIX_PATTERN = r"^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*$"
PREFIX_CONSTRAINT = "letters, digits, _ . = - and inner '/'; no leading or trailing '/'"

PARAMS: tuple[Param, ...] = (
    Param("ArchiveBucketName", "String", "",
          "Archive bucket (archives, indexes, and the sub-manifests under ManifestPrefix). "
          "Empty: the stack creates s3bundler-archive-<stack uuid>.",
          pattern=r"^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
          constraint="empty, or a valid S3 bucket name"),
    Param("CreateArchiveBucket", "String", "true",
          "true: the stack creates the archive bucket (encrypted, private, TLS only, with the "
          "queue notification). false: ArchiveBucketName is an existing bucket; see "
          "docs/deploy.md for its notification.", allowed=("true", "false")),
    Param("ArchivePrefix", "String", "archives",
          "Key prefix of archives, indexes and big-object copies. Must not start with "
          "ManifestPrefix/.", pattern=PREFIX_PATTERN, constraint=PREFIX_CONSTRAINT),
    Param("ManifestPrefix", "String", "s3grouper-output",
          "Key prefix of the sub-manifests in the archive bucket; new <prefix>/*.index "
          "objects are queued for the bundler.", pattern=PREFIX_PATTERN,
          constraint=PREFIX_CONSTRAINT),
    Param("InventoryBucket", "String", None,
          "Bucket holding the S3 Inventory reports the grouper reads.",
          pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", constraint="an S3 bucket name"),
    Param("SourceBuckets", "CommaDelimitedList", None,
          "Comma-separated buckets whose objects the bundler may read (the inventories' "
          "source buckets)."),
    Param("GrouperImage", "String", "",
          "s3grouper image URI. Empty: <account>.dkr.ecr.<region>.<suffix>/s3grouper:latest."),
    Param("BundlerImage", "String", "",
          "s3bundler image URI. Empty: <account>.dkr.ecr.<region>.<suffix>/s3bundler:latest."),
    Param("MaxSize", "String", "2GB",
          "Objects above this are copied server-side instead of archived (s3bundler -s).",
          pattern=r"^[0-9]+ *([KkMmGgTt]([Ii]?[Bb])?|[Bb])?$", constraint="a size like 2GB"),
    Param("Compress", "String", "false", "Compress the archives: gzip (true: the same) or "
          "zstd (s3bundler --compress).", allowed=("false", "true", "gzip", "zstd")),
    Param("ArchiveStorageClass", "String", "STANDARD",
          "Storage class archives and big-object copies are written in (s3bundler "
          "--storage-class); indexes, catalog and reports stay STANDARD.",
          allowed=STORAGE_CLASSES),
    Param("TransitionDays", "Number", "0",
          "Days after which the lifecycle moves archives (objects tagged s3bundler=archive) "
          "to TransitionStorageClass; 0: no transition.", min_value=0, max_value=36500),
    Param("TransitionStorageClass", "String", "DEEP_ARCHIVE",
          "Where archives go after TransitionDays.",
          allowed=("STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER",
                   "DEEP_ARCHIVE")),
    Param("SourceBucketsOwner", "String", "",
          "Account that owns the source buckets: every request to them carries it (s3bundler "
          "--expected-source-owner). Empty: not checked.",
          pattern=r"^$|^[0-9]{12}$", constraint="empty or a 12-digit account id"),
    Param("BundlerConcurrency", "Number", "32",
          "Concurrent GETs per bundler task (s3bundler --concurrency).",
          min_value=1, max_value=512),
    Param("BundlerMaxTasks", "Number", "10",
          "Most bundler tasks the service scales out to.", min_value=1, max_value=5000),
    Param("ScaleInIdleMinutes", "Number", "10",
          "Minutes the queue must stay empty before the bundler service scales to zero.",
          min_value=1, max_value=60),
    Param("BundlerCpu", "String", "1024", "CPU units per bundler task.",
          allowed=("256", "512", "1024", "2048", "4096")),
    Param("BundlerMemory", "Number", "2048",
          "MiB per bundler task (a valid Fargate combination with BundlerCpu on Fargate).",
          min_value=512, max_value=30720),
    Param("GrouperCpu", "String", "1024", "CPU units per grouper task.",
          allowed=("256", "512", "1024", "2048", "4096")),
    Param("GrouperMemory", "Number", "4096", "MiB per grouper task.",
          min_value=512, max_value=30720),
    Param("KmsKeyArn", "String", "",
          "KMS key for the archive bucket's default encryption (empty: SSE-S3). The tasks get "
          "kms:Decrypt/GenerateDataKey on it.",
          pattern=r"^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$",
          constraint="empty or a KMS key ARN"),
    Param("ArchiveBucketVersioning", "String", "Enabled",
          "Versioning of the bucket the stack creates. Enabled: an archive, index or "
          "sub-manifest overwritten or deleted (a manifest redone) stays recoverable for "
          "NoncurrentVersionDays. Suspended: no old versions are kept.",
          allowed=("Enabled", "Suspended")),
    Param("NoncurrentVersionDays", "Number", "30",
          "Days the lifecycle keeps an overwritten or deleted object's old version before "
          "expiring it (expired delete markers are removed too).",
          min_value=1, max_value=3650),
    Param("AbortIncompleteUploadDays", "Number", "7",
          "Days after which the bucket's lifecycle aborts unfinished multipart uploads.",
          min_value=1, max_value=365),
    Param("VisibilityTimeout", "Number", "900",
          "Manifest queue visibility timeout, seconds; the worker's heartbeat extends it every "
          "third of it.", min_value=60, max_value=43200),
    Param("MaxReceiveCount", "Number", "10",
          "Receives of one manifest message before it moves to the dead-letter queue.",
          min_value=1, max_value=1000),
    Param("LogRetentionDays", "Number", "30", "Retention of the tasks' log groups.",
          allowed=LOG_RETENTION_DAYS),
    Param("LaunchType", "String", "EC2",
          "EC2: tasks run on the cluster's container instances (the spot-fleet stack). "
          "FARGATE_SPOT: tasks run on Fargate Spot in Subnets.",
          allowed=("EC2", "FARGATE_SPOT")),
    Param("Subnets", "CommaDelimitedList", "",
          "FARGATE_SPOT only: subnets for the tasks (they need a route to S3, SQS, ECR, "
          "CloudWatch)."),
    Param("SecurityGroups", "CommaDelimitedList", "",
          "FARGATE_SPOT only: security groups for the tasks (outbound only is enough)."),
    Param("AssignPublicIp", "String", "ENABLED",
          "FARGATE_SPOT only: give tasks a public IP (public subnets without NAT).",
          allowed=("ENABLED", "DISABLED")),
    Param("ContainerInsights", "String", "enabled",
          "ECS Container Insights (running-task graph on the dashboard; billed metrics).",
          allowed=("enabled", "disabled")),
    Param("AlarmEmail", "String", "",
          "Email subscribed to the alarms (empty: alarms without notification)."),
)  # fmt: skip

PARAM_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Buckets and prefixes", ("ArchiveBucketName", "CreateArchiveBucket", "ArchivePrefix",
                              "ManifestPrefix", "InventoryBucket", "SourceBuckets",
                              "KmsKeyArn", "ArchiveBucketVersioning",
                              "NoncurrentVersionDays", "AbortIncompleteUploadDays")),
    ("Bundler", ("BundlerImage", "MaxSize", "Compress", "ArchiveStorageClass", "TransitionDays",
                 "TransitionStorageClass", "SourceBucketsOwner", "BundlerConcurrency",
                 "BundlerMaxTasks", "ScaleInIdleMinutes", "BundlerCpu", "BundlerMemory")),
    ("Grouper", ("GrouperImage", "GrouperCpu", "GrouperMemory")),
    ("Queue", ("VisibilityTimeout", "MaxReceiveCount")),
    ("Capacity", ("LaunchType", "Subnets", "SecurityGroups", "AssignPublicIp")),
    ("Operations", ("LogRetentionDays", "ContainerInsights", "AlarmEmail")),
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Print the s3bundler core CloudFormation template (JSON) on stdout.",
    )
    add_output_flags(p)
    add_param_flags(p, PARAMS)
    return p


# --- the template --------------------------------------------------------------------------


def build_template(defaults: dict[str, str | None] | None = None) -> Template:
    """The core stack. ``defaults`` overrides parameter defaults by parameter name."""
    t = Template()
    t.set_version("2010-09-09")
    t.set_description(
        "s3bundler core: archive bucket, manifest queue and DLQ, IAM, logs, alarms, dashboard, "
        "ECS cluster, s3grouper/s3bundler task definitions, queue-scaled bundler service"
    )
    p = add_params(t, PARAMS, defaults)
    t.set_metadata(
        {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [
                    {"Label": {"default": label}, "Parameters": list(names)}
                    for label, names in PARAM_GROUPS
                ]
            }
        }
    )
    _conditions_and_rules(t)

    bucket_name = If(
        "HasArchiveBucketName",
        Ref(p["ArchiveBucketName"]),
        Join("-", ["s3bundler-archive", Select(2, Split("/", StackId))]),
    )
    archive_prefix = Ref(p["ArchivePrefix"])

    dlq, queue = _queues(t)
    _bucket(t, bucket_name, queue)
    bundler_logs, grouper_logs = add_log_groups(t)
    exec_role, bundler_role, grouper_role = add_roles(
        t, bucket_name, queue, bundler_logs, grouper_logs
    )
    cluster = t.add_resource(
        Cluster(
            "Cluster",
            ClusterSettings=[
                ClusterSetting(Name="containerInsights", Value=Ref("ContainerInsights"))
            ],
            CapacityProviders=If("Fargate", ["FARGATE", "FARGATE_SPOT"], NoValue),
            Tags=Tags(Application="s3bundler"),
        )
    )
    bundler_cmd = [
        "-q", Ref(queue),
        "-b", bucket_name,
        "-p", archive_prefix,
        "-s", Ref("MaxSize"),
        "--concurrency", Ref("BundlerConcurrency"),
        "--storage-class", Ref("ArchiveStorageClass"),
        "--expected-bucket-owner", Ref("AWS::AccountId"),
        If("CompressArchives", "--compress", NoValue),
        If("CompressArchives", If("Zstd", "zstd", "gzip"), NoValue),
        If("HasKmsKey", "--sse-kms-key-id", NoValue), If("HasKmsKey", Ref("KmsKeyArn"), NoValue),
        If("HasSourceOwner", "--expected-source-owner", NoValue),
        If("HasSourceOwner", Ref("SourceBucketsOwner"), NoValue),
    ]  # fmt: skip
    bundler_td = _task_definition(
        t, "BundlerTaskDefinition", BUNDLER_CONTAINER, "Bundler", bundler_cmd,
        exec_role, bundler_role, bundler_logs,
    )  # fmt: skip
    grouper_td = _task_definition(
        t, "GrouperTaskDefinition", GROUPER_CONTAINER, "Grouper", ["--help"],
        exec_role, grouper_role, grouper_logs,
    )  # fmt: skip
    service = _service(t, cluster, bundler_td)
    target = t.add_resource(
        ScalableTarget(
            "BundlerScalableTarget",
            ServiceNamespace="ecs",
            ScalableDimension="ecs:service:DesiredCount",
            ResourceId=Join("/", ["service", Ref(cluster), GetAtt(service, "Name")]),
            MinCapacity=0,
            MaxCapacity=Ref("BundlerMaxTasks"),
        )
    )
    add_queue_scaling(
        t, "Bundler", target, GetAtt(queue, "QueueName"), Ref("BundlerMaxTasks"),
        Ref("ScaleInIdleMinutes"), "the bundler service",
    )  # fmt: skip
    dlq_alarm = add_alarms(t, dlq)
    add_metric_filters(t, bundler_logs, grouper_logs)
    dashboard = add_dashboard(t, queue, dlq, cluster, service, dlq_alarm)
    _outputs(
        t, bucket_name, queue, dlq, cluster, service, bundler_td, grouper_td, dashboard,
        bundler_logs, grouper_logs,
        {"TaskExecutionRole": exec_role, "BundlerTaskRole": bundler_role,
         "GrouperTaskRole": grouper_role},
    )  # fmt: skip
    return t


def _conditions_and_rules(t: Template) -> None:
    t.add_condition("CreateBucket", Equals(Ref("CreateArchiveBucket"), "true"))
    add_partition_conditions(t)
    t.add_condition("HasArchiveBucketName", Not(Equals(Ref("ArchiveBucketName"), "")))
    t.add_condition("HasKmsKey", Not(Equals(Ref("KmsKeyArn"), "")))
    t.add_condition("CompressArchives", Not(Equals(Ref("Compress"), "false")))
    t.add_condition("Zstd", Equals(Ref("Compress"), "zstd"))
    t.add_condition("HasSourceOwner", Not(Equals(Ref("SourceBucketsOwner"), "")))
    t.add_condition("TransitionArchives", Not(Equals(Ref("TransitionDays"), "0")))
    t.add_condition("Fargate", Equals(Ref("LaunchType"), "FARGATE_SPOT"))
    t.add_condition("DefaultGrouperImage", Equals(Ref("GrouperImage"), ""))
    t.add_condition("DefaultBundlerImage", Equals(Ref("BundlerImage"), ""))
    t.add_condition("HasAlarmEmail", Not(Equals(Ref("AlarmEmail"), "")))
    t.add_rule(
        "ExistingBucketNeedsName",
        {
            "RuleCondition": Equals(Ref("CreateArchiveBucket"), "false"),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref("ArchiveBucketName"), "")),
                    "AssertDescription": "CreateArchiveBucket=false needs ArchiveBucketName",
                }
            ],
        },
    )
    t.add_rule(
        "PrefixesDiffer",
        {
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref("ArchivePrefix"), Ref("ManifestPrefix"))),
                    "AssertDescription": "ArchivePrefix and ManifestPrefix must differ (the "
                    "bundler's own .index files must not be queued as sub-manifests)",
                }
            ]
        },
    )
    t.add_rule(
        "FargateNeedsNetwork",
        {
            "RuleCondition": Equals(Ref("LaunchType"), "FARGATE_SPOT"),
            "Assertions": [
                {
                    "Assert": Not({"Fn::Contains": [Ref("Subnets"), ""]}),
                    "AssertDescription": "LaunchType=FARGATE_SPOT needs Subnets",
                },
                {
                    "Assert": Not({"Fn::Contains": [Ref("SecurityGroups"), ""]}),
                    "AssertDescription": "LaunchType=FARGATE_SPOT needs SecurityGroups",
                },
            ],
        },
    )


def _queues(t: Template) -> tuple[Queue, Queue]:
    # Delete, on purpose, on deletion and on replacement: a message only names a sub-manifest
    # in the (retained) archive bucket, where the ones without a .done report beside them are
    # the ones left to do, so the bucket holds all a queue would; a retained queue would be
    # orphaned, since no task of this stack reads it any more.
    dlq = t.add_resource(
        Queue(
            "DeadLetterQueue",
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
            Metadata=lint_metadata("DeadLetterQueue"),
            MessageRetentionPeriod=FOURTEEN_DAYS,
            SqsManagedSseEnabled=True,
        )
    )
    queue = t.add_resource(
        Queue(
            "ManifestQueue",
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
            Metadata=lint_metadata("ManifestQueue"),
            VisibilityTimeout=Ref("VisibilityTimeout"),
            MessageRetentionPeriod=FOURTEEN_DAYS,
            SqsManagedSseEnabled=True,
            RedrivePolicy=RedrivePolicy(
                deadLetterTargetArn=GetAtt(dlq, "Arn"),
                maxReceiveCount=Ref("MaxReceiveCount"),
            ),
        )
    )
    return dlq, queue


def _bucket(t: Template, bucket_name: Any, queue: Queue) -> None:
    """The archive bucket (when the stack creates it) and what lets it notify the queue."""
    bucket_arn = s3_arn(bucket_name)
    queue_policy = t.add_resource(
        QueuePolicy(
            "ManifestQueuePolicy",
            Queues=[Ref(queue)],
            PolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ArchiveBucketNotifications",
                        "Effect": "Allow",
                        "Principal": {"Service": "s3.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": GetAtt(queue, "Arn"),
                        "Condition": {
                            "ArnLike": {"aws:SourceArn": bucket_arn},
                            "StringEquals": {"aws:SourceAccount": AccountId},
                        },
                    }
                ],
            },
        )
    )
    encryption = If(
        "HasKmsKey",
        s3r.ServerSideEncryptionRule(
            ServerSideEncryptionByDefault=s3r.ServerSideEncryptionByDefault(
                SSEAlgorithm="aws:kms", KMSMasterKeyID=Ref("KmsKeyArn")
            ),
            BucketKeyEnabled=True,
        ),
        s3r.ServerSideEncryptionRule(
            ServerSideEncryptionByDefault=s3r.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
        ),
    )
    bucket = t.add_resource(
        s3r.Bucket(
            "ArchiveBucket",
            Condition="CreateBucket",
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
            DependsOn=[queue_policy],
            Metadata=lint_metadata("ArchiveBucket"),
            BucketName=bucket_name,
            VersioningConfiguration=s3r.VersioningConfiguration(
                Status=Ref("ArchiveBucketVersioning")
            ),
            BucketEncryption=s3r.BucketEncryption(ServerSideEncryptionConfiguration=[encryption]),
            PublicAccessBlockConfiguration=s3r.PublicAccessBlockConfiguration(
                BlockPublicAcls=True,
                BlockPublicPolicy=True,
                IgnorePublicAcls=True,
                RestrictPublicBuckets=True,
            ),
            OwnershipControls=s3r.OwnershipControls(
                Rules=[s3r.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
            ),
            LifecycleConfiguration=s3r.LifecycleConfiguration(
                Rules=[
                    s3r.LifecycleRule(
                        Id="abort-incomplete-multipart-uploads",
                        Status="Enabled",
                        Prefix="",
                        AbortIncompleteMultipartUpload=s3r.AbortIncompleteMultipartUpload(
                            DaysAfterInitiation=Ref("AbortIncompleteUploadDays")
                        ),
                    ),
                    # Enabled whatever ArchiveBucketVersioning says: versions kept while it was
                    # Enabled still expire after it is Suspended (no-op on a never-versioned
                    # bucket).
                    s3r.LifecycleRule(
                        Id="expire-noncurrent-versions",
                        Status="Enabled",
                        Prefix="",
                        NoncurrentVersionExpiration=s3r.NoncurrentVersionExpiration(
                            NoncurrentDays=Ref("NoncurrentVersionDays")
                        ),
                        ExpiredObjectDeleteMarker=True,
                    ),
                    If("TransitionArchives", _transition_rule(), NoValue),
                ]
            ),
            NotificationConfiguration=s3r.NotificationConfiguration(
                QueueConfigurations=[
                    s3r.QueueConfigurations(
                        Event="s3:ObjectCreated:*",
                        Queue=GetAtt(queue, "Arn"),
                        Filter=s3r.Filter(
                            S3Key=s3r.S3Key(
                                Rules=[
                                    s3r.Rules(Name="prefix", Value=Sub("${ManifestPrefix}/")),
                                    s3r.Rules(Name="suffix", Value=".index"),
                                ]
                            )
                        ),
                    )
                ]
            ),
            Tags=Tags(Application="s3bundler"),
        )
    )
    t.add_resource(
        s3r.BucketPolicy(
            "ArchiveBucketPolicy",
            Condition="CreateBucket",
            Bucket=Ref(bucket),
            PolicyDocument={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [bucket_arn, s3_arn(bucket_name, "*")],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                    {
                        "Sid": "DenyOutdatedTls",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [bucket_arn, s3_arn(bucket_name, "*")],
                        "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
                    },
                ],
            },
        )
    )


def _transition_rule() -> s3r.LifecycleRule:
    """Archives (tagged by the bundler) to TransitionStorageClass after TransitionDays; the
    indexes, catalog and reports beside them are untagged and stay where they are."""
    return s3r.LifecycleRule(
        Id="transition-archives",
        Status="Enabled",
        Prefix=Sub("${ArchivePrefix}/"),
        TagFilters=[s3r.TagFilter(Key=ARCHIVE_TAG[0], Value=ARCHIVE_TAG[1])],
        Transitions=[
            s3r.LifecycleRuleTransition(
                StorageClass=Ref("TransitionStorageClass"),
                TransitionInDays=Ref("TransitionDays"),
            )
        ],
    )


def _task_definition(
    t: Template,
    logical_id: str,
    container: str,
    kind: str,
    command: list[Any],
    exec_role: Role,
    task_role: Role,
    logs: LogGroup,
) -> TaskDefinition:
    image = If(
        f"Default{kind}Image",
        Sub("${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/" + container + ":latest"),
        Ref(f"{kind}Image"),
    )
    return t.add_resource(
        TaskDefinition(
            logical_id,
            Family=Sub("${AWS::StackName}-" + container),
            Cpu=Ref(f"{kind}Cpu"),
            Memory=Ref(f"{kind}Memory"),
            NetworkMode=If("Fargate", "awsvpc", "bridge"),
            RequiresCompatibilities=If("Fargate", ["FARGATE"], ["EC2"]),
            ExecutionRoleArn=GetAtt(exec_role, "Arn"),
            TaskRoleArn=GetAtt(task_role, "Arn"),
            ContainerDefinitions=[
                ContainerDefinition(
                    Name=container,
                    Image=image,
                    Essential=True,
                    Command=command,
                    # SIGTERM: the worker stops taking work, aborts its upload and makes the
                    # message visible again within seconds; this is the upper bound.
                    StopTimeout=60,
                    Environment=[
                        Environment(Name="AWS_DEFAULT_REGION", Value=Region),
                        Environment(Name="PYTHONUNBUFFERED", Value="1"),
                    ],
                    LogConfiguration=LogConfiguration(
                        LogDriver="awslogs",
                        Options={
                            "awslogs-group": Ref(logs),
                            "awslogs-region": Region,
                            "awslogs-stream-prefix": container,
                        },
                    ),
                )
            ],
            Tags=Tags(Application="s3bundler"),
        )
    )


def _service(t: Template, cluster: Cluster, task_def: TaskDefinition) -> Service:
    return t.add_resource(
        Service(
            "BundlerService",
            Metadata=lint_metadata("BundlerService"),
            Cluster=Ref(cluster),
            TaskDefinition=Ref(task_def),
            # Application Auto Scaling owns the count from here on (0 while the queue is empty).
            DesiredCount=0,
            LaunchType=If("Fargate", NoValue, "EC2"),
            CapacityProviderStrategy=If(
                "Fargate",
                [CapacityProviderStrategyItem(CapacityProvider="FARGATE_SPOT", Weight=1)],
                NoValue,
            ),
            NetworkConfiguration=If(
                "Fargate",
                NetworkConfiguration(
                    AwsvpcConfiguration=AwsvpcConfiguration(
                        Subnets=Ref("Subnets"),
                        SecurityGroups=Ref("SecurityGroups"),
                        AssignPublicIp=Ref("AssignPublicIp"),
                    )
                ),
                NoValue,
            ),
            PlacementStrategies=If(
                "Fargate", NoValue, [PlacementStrategy(Type="binpack", Field="memory")]
            ),
            # A deployment stops old tasks first (they release their manifests) rather than
            # needing room for two sets.
            DeploymentConfiguration=DeploymentConfiguration(
                MinimumHealthyPercent=0, MaximumPercent=100
            ),
            EnableECSManagedTags=True,
            PropagateTags="SERVICE",
            Tags=Tags(Application="s3bundler"),
        )
    )


def _outputs(
    t: Template,
    bucket_name: Any,
    queue: Queue,
    dlq: Queue,
    cluster: Cluster,
    service: Service,
    bundler_td: TaskDefinition,
    grouper_td: TaskDefinition,
    dashboard: Dashboard,
    bundler_logs: LogGroup,
    grouper_logs: LogGroup,
    roles: dict[str, Role],
) -> None:
    def out(name: str, value: Any, description: str, condition: str | None = None) -> None:
        kwargs: dict[str, Any] = {
            "Value": value,
            "Description": description,
            "Export": Export(Sub("${AWS::StackName}-" + name)),
        }
        if condition:
            kwargs["Condition"] = condition
        t.add_output(Output(name, **kwargs))

    out("ClusterName", Ref(cluster), "ECS cluster of the grouper and bundler tasks")
    out("GrouperTaskDefinition", Ref(grouper_td), "s3grouper task definition (ARN)")
    out("GrouperContainerName", GROUPER_CONTAINER, "container to override with s3grouper args")
    out("BundlerTaskDefinition", Ref(bundler_td), "s3bundler task definition (ARN)")
    out("BundlerContainerName", BUNDLER_CONTAINER, "container of the bundler task definition")
    out("BundlerServiceName", GetAtt(service, "Name"), "queue-scaled s3bundler ECS service")
    out("ArchiveBucket", bucket_name, "bucket of archives, indexes and sub-manifests")
    out("ArchivePrefix", Ref("ArchivePrefix"), "key prefix of archives (s3bundler -p)")
    out("ManifestBucket", bucket_name, "bucket the grouper writes sub-manifests to (-b)")
    out("ManifestPrefix", Ref("ManifestPrefix"), "key prefix of sub-manifests (s3grouper -p)")
    out(
        "ManifestDelivery",
        If("CreateBucket", "notification", "queue"),
        "notification: the bucket's S3 event notification queues new sub-manifests; queue: "
        "run s3grouper with --queue QueueUrl",
    )
    out("QueueUrl", Ref(queue), "manifest queue URL (s3bundler -q)")
    out("QueueName", GetAtt(queue, "QueueName"), "manifest queue name")
    out("DeadLetterQueueUrl", Ref(dlq), "manifests that failed MaxReceiveCount times")
    out("DashboardName", Ref(dashboard), "CloudWatch dashboard")
    out("BundlerLogGroup", Ref(bundler_logs), "bundler task logs")
    out("GrouperLogGroup", Ref(grouper_logs), "grouper task logs")
    for name, role in roles.items():
        # Whoever runs tasks (submitmanifest.py) needs iam:PassRole on these.
        out(name + "Arn", GetAtt(role, "Arn"), f"{name} (pass it to run tasks)")
    out(
        "LaunchType",
        Ref("LaunchType"),
        "EC2: run tasks with launchType EC2; FARGATE_SPOT: with capacityProviderStrategy "
        "FARGATE_SPOT and the network configuration below",
    )
    out("Subnets", Join(",", Ref("Subnets")), "awsvpc subnets of the tasks", "Fargate")
    out("SecurityGroup", Join(",", Ref("SecurityGroups")), "awsvpc security groups", "Fargate")
    out("AssignPublicIp", Ref("AssignPublicIp"), "awsvpc AssignPublicIp", "Fargate")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    template = build_template(param_defaults(args, PARAMS))
    write_template(template, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
