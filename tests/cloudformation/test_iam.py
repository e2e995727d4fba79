"""Least privilege: the roles' policies, resolved for concrete parameters, allow exactly the
calls the code makes on exactly the ARNs it makes them on.

Three kinds of check: general rules over every role in both templates and several parameter
sets (no wildcard actions; '*' resources only for actions without resource types; S3 ARNs only
of the stack's buckets); the exact action -> resources map of each task role; and a scan of the
packages' boto3 calls, so a new call without a matching permission fails here first.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from tests.cloudformation.cfn_eval import Evaluator

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = "s3bundler-archive-0f0e0d0c-1111-2222-3333-444455556666"
REQUIRED = {"InventoryBucket": "inventory-bucket", "SourceBuckets": "src-a,src-b"}
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "kms": {"KmsKeyArn": KEY},
    "fargate": {"LaunchType": "FARGATE_SPOT", "Subnets": "subnet-1", "SecurityGroups": "sg-1"},
    "existing-bucket": {"CreateArchiveBucket": "false", "ArchiveBucketName": "my-archive"},
    "prefixes": {"ArchivePrefix": "a/b", "ManifestPrefix": "m"},
}

#: Actions with no resource type: '*' is the only way to grant them.
UNSCOPABLE = {"cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"}

#: boto3 method -> the IAM actions it needs (S3 object reads by version need the *Version*
#: variants too; those are checked in the exact maps below).
METHOD_ACTIONS: dict[str, set[str]] = {
    "get_object": {"s3:GetObject"},
    "head_object": {"s3:GetObject"},
    "get_object_tagging": {"s3:GetObjectTagging"},
    "put_object": {"s3:PutObject"},
    "delete_object": {"s3:DeleteObject"},
    "create_multipart_upload": {"s3:PutObject"},
    "upload_part": {"s3:PutObject"},
    "complete_multipart_upload": {"s3:PutObject"},
    "abort_multipart_upload": {"s3:AbortMultipartUpload"},
    "upload_part_copy": {"s3:PutObject", "s3:GetObject"},
    "copy_object": {"s3:PutObject", "s3:GetObject"},
    "list_parts": {"s3:ListMultipartUploadParts"},
    "list_multipart_uploads": {"s3:ListBucketMultipartUploads"},
    "head_bucket": {"s3:ListBucket"},
    "list_objects_v2": {"s3:ListBucket"},
    "upload_fileobj": {"s3:PutObject", "s3:AbortMultipartUpload"},
    "receive_message": {"sqs:ReceiveMessage"},
    "delete_message": {"sqs:DeleteMessage"},
    "change_message_visibility": {"sqs:ChangeMessageVisibility"},
    "get_queue_attributes": {"sqs:GetQueueAttributes"},
    "get_queue_url": {"sqs:GetQueueUrl"},
    "send_message": {"sqs:SendMessage"},
    "send_message_batch": {"sqs:SendMessage"},
    "put_metric_data": {"cloudwatch:PutMetricData"},
}
PACKAGE_ROLES = {"s3bundler": "BundlerTaskRole", "s3grouper": "GrouperTaskRole"}


def s3(path: str) -> str:
    return f"arn:aws:s3:::{path}"


SOURCES = {s3("src-a/*"), s3("src-b/*")}
QUEUE = {"<ManifestQueue.Arn>"}
BUNDLER_EXPECTED = {
    "s3:GetObject": SOURCES | {s3(f"{ARCHIVE}/s3grouper-output/*")},
    "s3:GetObjectVersion": SOURCES,
    "s3:GetObjectTagging": SOURCES,
    "s3:GetObjectVersionTagging": SOURCES,
    "s3:ListBucket": {s3("src-a"), s3("src-b"), s3(ARCHIVE)},
    "s3:ListBucketMultipartUploads": {s3(ARCHIVE)},  # stale uploads of a killed worker
    "s3:PutObject": {
        s3(f"{ARCHIVE}/archives/*"),
        s3(f"{ARCHIVE}/s3grouper-output/*.dlq"),
        s3(f"{ARCHIVE}/s3grouper-output/*.done"),
    },
    "s3:PutObjectTagging": {s3(f"{ARCHIVE}/archives/*")},
    "s3:DeleteObject": {s3(f"{ARCHIVE}/archives/*"), s3(f"{ARCHIVE}/s3grouper-output/*.dlq")},
    "s3:AbortMultipartUpload": {s3(f"{ARCHIVE}/archives/*")},
    "s3:ListMultipartUploadParts": {s3(f"{ARCHIVE}/archives/*")},
    "sqs:ReceiveMessage": QUEUE,
    "sqs:DeleteMessage": QUEUE,
    "sqs:ChangeMessageVisibility": QUEUE,
    "sqs:GetQueueAttributes": QUEUE,
    "sqs:GetQueueUrl": QUEUE,
    "cloudwatch:PutMetricData": {"*"},
}
MANIFESTS = {s3(f"{ARCHIVE}/s3grouper-output/*")}
GROUPER_EXPECTED = {
    "s3:GetObject": {s3("inventory-bucket/*")} | MANIFESTS,
    "s3:ListBucket": {s3("inventory-bucket"), s3(ARCHIVE)},
    "s3:PutObject": MANIFESTS,
    "s3:DeleteObject": MANIFESTS,
    "s3:AbortMultipartUpload": MANIFESTS,
    "sqs:SendMessage": QUEUE,
    "sqs:GetQueueUrl": QUEUE,
    "sqs:GetQueueAttributes": QUEUE,
    "cloudwatch:PutMetricData": {"*"},
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(ev: Evaluator, template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every role's Allow/Deny statements (inline policies and AWS::IAM::Policy resources)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lid, res in template["Resources"].items():
        if not ev.resource_exists(lid):
            continue
        props = ev.value(res.get("Properties", {}))
        if res["Type"] == "AWS::IAM::Role":
            out.setdefault(lid, [])  # a role without inline policies is still checked
            for policy in props.get("Policies", []):
                out[lid].extend(_as_list(policy["PolicyDocument"]["Statement"]))
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in props.get("Roles", []):
                out[role.removeprefix("<Ref ").removesuffix(">")].extend(
                    _as_list(props["PolicyDocument"]["Statement"])
                )
    return dict(out)


def action_map(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    granted: dict[str, set[str]] = defaultdict(set)
    for st in statements:
        if st["Effect"] != "Allow":
            continue
        for action in _as_list(st["Action"]):
            granted[action].update(_as_list(st["Resource"]))
    return dict(granted)


def core_eval(core_template: dict[str, Any], **params: str) -> Evaluator:
    return Evaluator(core_template, {**REQUIRED, **params})


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_general_rules(core_template, fleet_template, scenario):
    params = SCENARIOS[scenario]
    archive = params.get("ArchiveBucketName", ARCHIVE)
    buckets = {archive, "src-a", "src-b", "inventory-bucket"}
    for template, ev in (
        (core_template, core_eval(core_template, **params)),
        (fleet_template, Evaluator(fleet_template)),
    ):
        roles = role_statements(ev, template)
        assert roles
        for role, statements in roles.items():
            for st in statements:
                assert st["Effect"] == "Allow", (role, st)
                assert "NotAction" not in st and "NotResource" not in st, (role, st)
                actions = _as_list(st["Action"])
                resources = _as_list(st["Resource"])
                assert not any("*" in a for a in actions), (role, st)
                if "*" in resources:
                    assert resources == ["*"] and set(actions) <= UNSCOPABLE, (role, st)
                if "cloudwatch:PutMetricData" in actions:
                    assert st["Condition"] == {
                        "StringEquals": {"cloudwatch:namespace": "S3Bundler"}
                    }, (role, st)
                for arn in resources:
                    if arn.startswith("arn:aws:s3:::"):
                        bucket = arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
                        assert bucket in buckets, (role, arn)
                        assert "*" not in bucket, (role, arn)
                    assert arn == "*" or arn.startswith(("arn:aws:", "<")), (role, arn)


def test_task_roles_allow_exactly_what_the_code_calls(core_template):
    roles = role_statements(core_eval(core_template), core_template)
    assert set(roles) == {"TaskExecutionRole", "BundlerTaskRole", "GrouperTaskRole"}
    assert action_map(roles["BundlerTaskRole"]) == BUNDLER_EXPECTED
    assert action_map(roles["GrouperTaskRole"]) == GROUPER_EXPECTED
    execution = action_map(roles["TaskExecutionRole"])
    assert execution == {
        "ecr:GetAuthorizationToken": {"*"},
        "ecr:BatchCheckLayerAvailability": {"arn:aws:ecr:us-east-1:123456789012:repository/*"},
        "ecr:BatchGetImage": {"arn:aws:ecr:us-east-1:123456789012:repository/*"},
        "ecr:GetDownloadUrlForLayer": {"arn:aws:ecr:us-east-1:123456789012:repository/*"},
        "logs:CreateLogStream": {
            "arn:aws:logs:us-east-1:123456789012:log-group:<Ref BundlerLogGroup>:*",
            "arn:aws:logs:us-east-1:123456789012:log-group:<Ref GrouperLogGroup>:*",
        },
        "logs:PutLogEvents": {
            "arn:aws:logs:us-east-1:123456789012:log-group:<Ref BundlerLogGroup>:*",
            "arn:aws:logs:us-east-1:123456789012:log-group:<Ref GrouperLogGroup>:*",
        },
    }
    for lid in ("TaskExecutionRole", "BundlerTaskRole", "GrouperTaskRole"):
        role = core_template["Resources"][lid]["Properties"]
        assert "ManagedPolicyArns" not in role
        (trust,) = core_eval(core_template).value(role["AssumeRolePolicyDocument"])["Statement"]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_prefixes_and_kms_follow_the_parameters(core_template):
    ev = core_eval(core_template, ArchivePrefix="a/b", ManifestPrefix="m", KmsKeyArn=KEY)
    roles = role_statements(ev, core_template)
    bundler = action_map(roles["BundlerTaskRole"])
    assert s3(f"{ARCHIVE}/a/b/*") in bundler["s3:PutObject"]
    assert s3(f"{ARCHIVE}/m/*.dlq") in bundler["s3:PutObject"]
    for role in ("BundlerTaskRole", "GrouperTaskRole"):
        granted = action_map(roles[role])
        assert granted["kms:Decrypt"] == granted["kms:GenerateDataKey"] == {KEY}
    default = role_statements(core_eval(core_template), core_template)
    assert not any(a.startswith("kms:") for a in action_map(default["BundlerTaskRole"]))


def test_other_partitions(core_template):
    for partition in ("aws-cn", "aws-us-gov"):
        ev = Evaluator(core_template, REQUIRED, pseudo={"AWS::Partition": partition})
        roles = role_statements(ev, core_template)
        arns = {r for st in roles["BundlerTaskRole"] for r in _as_list(st["Resource"])}
        s3_arns = {a for a in arns if ":s3:::" in a}
        assert s3_arns and all(a.startswith(f"arn:{partition}:s3:::") for a in s3_arns)


def test_capacity_roles_use_only_aws_service_policies(fleet_template):
    res = fleet_template["Resources"]
    ev = Evaluator(fleet_template)
    roles = {
        lid: ev.value(r["Properties"]) for lid, r in res.items() if r["Type"] == "AWS::IAM::Role"
    }
    assert set(roles) == {"InstanceRole", "SpotFleetRole"}
    assert roles["InstanceRole"]["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
    ]
    assert roles["SpotFleetRole"]["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AmazonEC2SpotFleetTaggingRole"
    ]
    assert all("Policies" not in r for r in roles.values())


def _boto3_operations() -> set[str]:
    session = botocore.session.get_session()
    names = {"upload_fileobj", "upload_file", "download_fileobj", "download_file"}
    for service in ("s3", "sqs", "cloudwatch", "ecs", "sts", "kms"):
        model = session.get_service_model(service)
        names.update(xform_name(op) for op in model.operation_names)
    return names - OWN_METHODS


#: Methods of the project's own that share a name with an operation (KMS Verify).
OWN_METHODS = {"verify"}  # StreamCheck.verify (s3bundler/stream_check.py)


def test_every_aws_call_in_the_code_is_allowed(core_template):
    """Scan the packages for boto3 calls; each must map to actions the package's role has."""
    operations = _boto3_operations()
    roles = role_statements(core_eval(core_template), core_template)
    granted = {lid: set(action_map(st)) for lid, st in roles.items()}
    seen: dict[str, set[str]] = defaultdict(set)
    for package, role in PACKAGE_ROLES.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            calls = set(re.findall(r"\.([a-z_0-9]+)\(", text)) & operations
            calls |= set(re.findall(r"get_paginator\(\s*[\"']([a-z_0-9]+)[\"']", text))
            calls.discard("get_paginator")
            for call in calls:
                seen[package].add(call)
                assert call in METHOD_ACTIONS, f"{path}: {call}() has no IAM mapping in this test"
                missing = METHOD_ACTIONS[call] - granted[role]
                assert not missing, f"{path}: {call}() needs {missing} in {role}"
    # The scan found the calls it should (it is not silently matching nothing).
    assert {"get_object", "receive_message", "change_message_visibility"} <= seen["s3bundler"]
    assert {"put_object", "list_objects_v2"} <= seen["s3grouper"]
