"""Deploy the core stack into the moto server's CloudFormation over HTTP, then run the worker
against what it created: bucket, queue, dead-letter queue, notification, task definition.

moto's CloudFormation skips resource types it does not implement (with a warning) and creates
the rest; which ones it skips is asserted below, so the list stays honest. It also creates the
bucket without its NotificationConfiguration (and without public-access block, lifecycle and
ownership settings), so the test applies the template's notification itself, resolved against
the deployed queue, before putting a sub-manifest.
"""

from __future__ import annotations

import ast
import json
import time
import uuid
from typing import Any
from urllib.parse import unquote

import boto3

from s3bundler.index import read_index
from s3bundler.layout import manifest_outputs
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry, encode_manifest
from tests.cloudformation.cfn_eval import Evaluator
from tests.helpers import run_cli

#: Resource types of the core template that moto 5.2's CloudFormation does not create.
MOTO_SKIPS = {
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Logs::MetricFilter",
    "AWS::CloudWatch::Alarm",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
}


def _deploy(cf: Any, template: dict[str, Any], stack: str, params: dict[str, str]) -> None:
    cf.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(template, separators=(",", ":")),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    cf.get_waiter("stack_create_complete").wait(
        StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def _queue_depth(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_core_stack_deploys_and_bundles(aws, core_template):
    cf, s3, sqs = boto3.client("cloudformation"), boto3.client("s3"), boto3.client("sqs")
    ecs, logs = boto3.client("ecs"), boto3.client("logs")
    run = uuid.uuid4().hex[:8]
    stack, source, inventory = f"s3b-{run}", f"src-{run}", f"inv-{run}"
    for name in (source, inventory):
        s3.create_bucket(Bucket=name)
    params = {"InventoryBucket": inventory, "SourceBuckets": source}
    _deploy(cf, core_template, stack, params)

    described = cf.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    out = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    assert out["ManifestBucket"] == out["ArchiveBucket"]
    assert out["ArchiveBucket"].startswith("s3bundler-archive-")
    assert (out["ArchivePrefix"], out["ManifestPrefix"]) == ("archives", "s3grouper-output")

    # What moto created, and what it skipped: exactly the types it lacks.
    created = {
        r["LogicalResourceId"]
        for r in cf.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        if r.get("LogicalResourceId")
    }
    pseudo = {"AWS::StackName": stack, "AWS::StackId": described["StackId"]}
    ev = Evaluator(core_template, params, pseudo=pseudo)
    wanted = {lid for lid in core_template["Resources"] if ev.resource_exists(lid)}
    skipped = wanted - created
    assert {core_template["Resources"][lid]["Type"] for lid in skipped} == MOTO_SKIPS
    assert created <= wanted

    # Queue: visibility for the heartbeat, 14-day retention, redrive to the DLQ.
    attrs = sqs.get_queue_attributes(QueueUrl=out["QueueUrl"], AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=out["DeadLetterQueueUrl"], AttributeNames=["QueueArn", "MessageRetentionPeriod"]
    )["Attributes"]
    assert attrs["VisibilityTimeout"] == "900"
    assert attrs["MessageRetentionPeriod"] == dlq_arn["MessageRetentionPeriod"] == "1209600"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 10
    assert out["QueueName"] == out["QueueUrl"].rsplit("/", 1)[1]

    # Bucket encryption, log groups, ECS.
    sse = s3.get_bucket_encryption(Bucket=out["ArchiveBucket"])
    rule = sse["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    groups = logs.describe_log_groups(logGroupNamePrefix=f"/s3bundler/{stack}/")["logGroups"]
    # (moto hands the retention back as the string the template passed)
    assert {g["logGroupName"]: int(g["retentionInDays"]) for g in groups} == {
        f"/s3bundler/{stack}/bundler": 30,
        f"/s3bundler/{stack}/grouper": 30,
    }
    service = ecs.describe_services(
        cluster=out["ClusterName"], services=[out["BundlerServiceName"]]
    )["services"][0]
    assert service["desiredCount"] == 0
    task_def = ecs.describe_task_definition(taskDefinition=out["BundlerTaskDefinition"])
    (container,) = task_def["taskDefinition"]["containerDefinitions"]
    # moto keeps an AWS::NoValue list element (the absent -c) as null; CloudFormation drops it.
    assert container["command"][-1] is None
    command = [arg for arg in container["command"] if arg is not None]
    assert command[:2] == ["-q", out["QueueUrl"]]
    grouper = ecs.describe_task_definition(taskDefinition=out["GrouperTaskDefinition"])
    grouper_container = grouper["taskDefinition"]["containerDefinitions"][0]
    assert grouper_container["name"] == out["GrouperContainerName"]

    # The dashboard body is valid JSON after substitution; the role's S3 ARNs resolved per bucket.
    dashboard = boto3.client("cloudwatch").get_dashboard(DashboardName=out["DashboardName"])
    assert len(json.loads(dashboard["DashboardBody"])["widgets"]) >= 7
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cf.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        if r.get("LogicalResourceId")
    }
    policy = boto3.client("iam").get_role_policy(
        RoleName=physical["BundlerTaskRole"], PolicyName="s3bundler-worker"
    )["PolicyDocument"]
    if isinstance(policy, str):  # moto 5.2 stores a CloudFormation role policy as a repr()
        policy = ast.literal_eval(unquote(policy))
    statements = {st["Sid"]: st for st in policy["Statement"] if st}  # (and NoValue as None)
    assert statements["ReadSourceObjects"]["Resource"] == [f"arn:aws:s3:::{source}/*"]
    assert statements["ListSourceBuckets"]["Resource"] == [f"arn:aws:s3:::{source}"]

    # moto's CloudFormation ignores NotificationConfiguration: apply the template's own,
    # resolved against the deployed queue.
    queue_arn = sqs.get_queue_attributes(QueueUrl=out["QueueUrl"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    ev = Evaluator(
        core_template,
        params,
        pseudo=pseudo,
        attrs={("ManifestQueue", "Arn"): queue_arn},
    )
    bucket_props = ev.value(core_template["Resources"]["ArchiveBucket"]["Properties"])
    assert bucket_props["BucketName"] == out["ArchiveBucket"]
    (notification,) = bucket_props["NotificationConfiguration"]["QueueConfigurations"]
    s3.put_bucket_notification_configuration(
        Bucket=out["ArchiveBucket"],
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": notification["Queue"],
                    "Events": [notification["Event"]],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": r["Name"], "Value": r["Value"]}
                                for r in notification["Filter"]["S3Key"]["Rules"]
                            ]
                        }
                    },
                }
            ]
        },
    )

    # Configuring a notification sends an s3:TestEvent (as S3 does when CloudFormation
    # configures it); the worker would ignore it, but --max-messages 1 would count it.
    for message in sqs.receive_message(
        QueueUrl=out["QueueUrl"], MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", []):
        assert json.loads(message["Body"]).get("Event") == "s3:TestEvent", message["Body"]
        sqs.delete_message(QueueUrl=out["QueueUrl"], ReceiptHandle=message["ReceiptHandle"])

    # A small end-to-end run through the deployed pieces.
    bodies = {"a.txt": b"hello\n", "dir/b.bin": bytes(range(256)) * 4}
    for key, body in bodies.items():
        s3.put_object(Bucket=source, Key=key, Body=body)
    entries = [ManifestEntry(source, key, len(body)) for key, body in bodies.items()]
    bucket = out["ArchiveBucket"]
    prefix = out["ManifestPrefix"]
    s3.put_object(Bucket=bucket, Key=f"{prefix}/job.job.json", Body=b"{}")  # not queued
    s3.put_object(Bucket=bucket, Key="elsewhere/x.0.index", Body=b"")  # not queued
    manifest = S3Uri(bucket, f"{prefix}/test-manifest.0.index")
    s3.put_object(Bucket=bucket, Key=manifest.key, Body=encode_manifest(entries))
    assert _queue_depth(sqs, out["QueueUrl"]) == (1, 0)  # the notification queued exactly it

    result = run_cli("s3bundler", *command, "--max-messages", "1", "--idle-exit", "5", timeout=60)
    assert result.returncode == 0, result.stderr

    outputs = manifest_outputs(manifest, source, bucket, out["ArchivePrefix"], compress="")
    archive = s3.get_object(Bucket=bucket, Key=outputs.archive_key)["Body"].read()
    rows = list(read_index(s3.get_object(Bucket=bucket, Key=outputs.index_key)["Body"].read()))
    assert [r.key for r in rows] == list(bodies)
    for row in rows:
        assert archive[row.offset : row.offset + row.size] == bodies[row.key]
    # The worker's own .index (under ArchivePrefix) and .done/.dlq did not queue anything,
    # and the message was deleted.
    time.sleep(0.5)
    assert _queue_depth(sqs, out["QueueUrl"]) == (0, 0)
    assert _queue_depth(sqs, out["DeadLetterQueueUrl"]) == (0, 0)
