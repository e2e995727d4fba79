"""The generated templates: they generate with no arguments and no AWS, pass cfn-lint, and say
what the code and the docs rely on (commands the CLIs accept, notification filter, queue
settings, log patterns that match the lines the worker writes, scaling, outputs)."""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cloudformation.cfn_common import SUPPRESSIONS, TEMPLATE_BODY_LIMIT
from s3bundler import events
from s3bundler.cli import build_parser as bundler_parser
from s3common.cli import LOG_FORMAT
from s3common.s3uri import S3Uri
from s3common.sizes import parse_size
from tests.cloudformation.cfn_eval import Evaluator
from tests.cloudformation.conftest import ATHENA, CORE, FLEET, generate, generate_text

REQUIRED = {"InventoryBucket": "inventory-bucket", "SourceBuckets": "src-a,src-b"}

CORE_OUTPUTS = {
    "ClusterName", "GrouperTaskDefinition", "BundlerTaskDefinition", "BundlerServiceName",
    "ArchiveBucket", "ArchivePrefix", "ManifestBucket", "ManifestPrefix", "QueueUrl",
    "QueueName", "DeadLetterQueueUrl", "DashboardName", "GrouperContainerName", "LaunchType",
    "Subnets", "SecurityGroup",
}  # fmt: skip

#: Resource types whose deletion loses state (cfn-lint I3011): each names its policies.
STATEFUL = ("AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::SQS::Queue")


def core_eval(template: dict[str, Any], **params: str) -> Evaluator:
    return Evaluator(template, {**REQUIRED, **params})


# --- generation ------------------------------------------------------------------------------


def test_generators_need_no_arguments(core_template, fleet_template, athena_template):
    for t in (core_template, fleet_template, athena_template):
        assert t["AWSTemplateFormatVersion"] == "2010-09-09"
        assert t["Resources"] and t["Parameters"] and t["Outputs"]
    # Every parameter but those that name the user's own buckets has a default.
    required = {n for n, p in core_template["Parameters"].items() if "Default" not in p}
    assert required == {"InventoryBucket", "SourceBuckets"}
    assert all("Default" in p for p in fleet_template["Parameters"].values())
    required = {n for n, p in athena_template["Parameters"].items() if "Default" not in p}
    assert required == {"SourceBuckets"}


@pytest.mark.parametrize(
    ("script", "module", "console_script"),
    [
        (CORE, "cloudformation.s3bundler_cfn", "s3bundler-cfn"),
        (FLEET, "cloudformation.s3bundler_spotfleet_cfn", "s3bundler-spotfleet-cfn"),
        # (no console script: pyproject.toml's [project.scripts] does not name it yet)
        (ATHENA, "cloudformation.s3bundler_athena_cfn", None),
    ],
)
def test_every_entry_point_prints_the_same_template(script, module, console_script):
    """``python cloudformation/<stack>.py`` (README, docs), ``python -m cloudformation.<stack>``
    and the console script print the same bytes."""
    args = ("--max-azs", "2") if script == FLEET else ("--indent", "1")
    as_file = generate_text([sys.executable, str(script)], *args)
    assert generate_text([sys.executable, "-m", module], *args) == as_file
    if console_script is None:
        return
    installed = Path(sys.executable).parent / console_script
    if not installed.exists():
        pytest.skip(f"{installed} not installed (make venv installs the project's scripts)")
    assert generate_text([str(installed)], *args) == as_file


def test_default_output_fits_cloudformations_inline_limit():
    """Compact JSON by default, so ``aws cloudformation deploy`` needs no S3 bucket."""
    for script in (CORE, FLEET, ATHENA):
        raw = json.dumps(generate(script), separators=(",", ":"), sort_keys=True)
        assert len(raw.encode()) < TEMPLATE_BODY_LIMIT * 0.9, script.name  # room to grow
    indented = generate(CORE, "--indent", "2")
    assert indented == generate(CORE)


def test_flags_set_parameter_defaults(tmp_path: Path):
    out = tmp_path / "core.json"
    core = generate(
        CORE, "--bundler-max-tasks", "50", "--source-buckets", "a,b",
        "--inventory-bucket", "inv", "--launch-type", "FARGATE_SPOT", "-o", str(out),
    )  # fmt: skip
    assert core == {}  # written to the file instead of stdout
    written = json.loads(out.read_text())
    params = written["Parameters"]
    assert params["BundlerMaxTasks"]["Default"] == "50"
    assert params["SourceBuckets"]["Default"] == "a,b"
    assert params["InventoryBucket"]["Default"] == "inv"
    assert params["LaunchType"]["Default"] == "FARGATE_SPOT"

    fleet = generate(FLEET, "--max-azs", "2", "--max-instances", "9")
    assert fleet["Parameters"]["AzCount"]["AllowedValues"] == ["1", "2"]
    assert fleet["Parameters"]["MaxInstances"]["Default"] == "9"
    assert "PublicSubnet1" in fleet["Resources"] and "PublicSubnet2" not in fleet["Resources"]


#: Linted beside the generated templates: exactly one informational finding (I1022, Fn::Join
#: with an empty delimiter), which proves cfn-lint ran, with the informational rules, and that
#: its output was parsed.
CFN_LINT_CANARY = {
    "Resources": {
        "Topic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": {"Fn::Join": ["", [{"Ref": "AWS::StackName"}, "-t"]]}},
        }
    }
}


def _lint_variants(tmp_path: Path, core: dict[str, Any], fleet: dict[str, Any]) -> list[Path]:
    """The three templates as generated by default, and the spot fleet with other generator
    flags."""
    variants = {
        "core.json": core,
        "spotfleet.json": fleet,
        "spotfleet-2az.json": generate(FLEET, "--max-azs", "2", "--tasks-per-instance", "4"),
        "athena.json": generate(ATHENA),
    }
    for name, template in variants.items():
        (tmp_path / name).write_text(json.dumps(template, indent=1))
    return [tmp_path / name for name in variants]


def _lint(*templates: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [
            sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
            "--format", "json", "--include-checks", "I", "--", *map(str, templates),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # Exit codes are bit flags: 2 errors, 4 warnings, 8 informational; 1 is cfn-lint failing.
    assert not proc.returncode & 1, f"cfn-lint exit {proc.returncode}: {proc.stderr[-3000:]}"
    return json.loads(proc.stdout or "[]")


def test_cfn_lint_all_rule_classes(tmp_path: Path, core_template, fleet_template):
    """No error, warning or informational finding left (suppressions: SUPPRESSIONS)."""
    templates = _lint_variants(tmp_path, core_template, fleet_template)
    canary = tmp_path / "canary.json"
    canary.write_text(json.dumps(CFN_LINT_CANARY))
    findings = _lint(*templates, canary)
    found = {(Path(f["Filename"]).name, f["Rule"]["Id"]) for f in findings}
    assert found == {("canary.json", "I1022")}, json.dumps(findings, indent=1)


def _checkov(*templates: Path) -> dict[str, Any]:
    """checkov's JSON report; --skip-download: no guidelines or checks fetched from its
    platform, so it runs offline on the checks it ships."""
    args = ["--framework", "cloudformation", "--skip-download", "--output", "json"]
    for template in templates:
        args += ["--file", str(template)]
    proc = subprocess.run(
        [sys.executable, "-m", "checkov.main", *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode in (0, 1), f"checkov exit {proc.returncode}: {proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    (report,) = report if isinstance(report, list) else [report]
    assert report["check_type"] == "cloudformation"
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    return report


def test_checkov(tmp_path: Path, core_template, fleet_template):
    """No failed check; exactly the skips of SUPPRESSIONS, each with its reason."""
    report = _checkov(*_lint_variants(tmp_path, core_template, fleet_template))

    def checks(kind: str) -> set[tuple[str, str, str]]:
        return {
            (Path(c["file_path"]).name, c["resource"].split(".")[-1], c["check_id"])
            for c in report["results"][kind]
        }

    failed = report["results"]["failed_checks"]
    assert not failed, json.dumps([(c["check_id"], c["resource"]) for c in failed])
    expected = {
        ("core.json", resource, check)
        for resource, entries in SUPPRESSIONS.items()
        for linter, check, _ in entries
        if linter == "checkov"
    }
    assert checks("skipped_checks") == expected
    for c in report["results"]["skipped_checks"]:
        reasons = {why for _, check, why in SUPPRESSIONS[c["resource"].split(".")[-1]]}
        assert c["check_result"]["suppress_comment"] in reasons, c
    passed = checks("passed_checks")
    # It did check: e.g. the bucket's versioning (default Enabled), TLS-only policy, IAM roles.
    assert {("core.json", "ArchiveBucket", "CKV_AWS_21"),
            ("spotfleet.json", "InstanceLaunchTemplate", "CKV_AWS_79")} <= passed  # fmt: skip


def test_suppressions_are_in_the_templates_and_the_docs(
    core_template, fleet_template, athena_template
):
    """Each suppression sits on its resource's Metadata, and docs/deploy.md names it."""
    found: dict[str, set[tuple[str, str]]] = {}
    for template in (core_template, fleet_template, athena_template):
        for name, resource in template["Resources"].items():
            meta = resource.get("Metadata", {})
            for skip in meta.get("checkov", {}).get("skip", []):
                found.setdefault(name, set()).add(("checkov", skip["id"]))
            for check in meta.get("cfn-lint", {}).get("config", {}).get("ignore_checks", []):
                found.setdefault(name, set()).add(("cfn-lint", check))
    assert found == {
        name: {(linter, check) for linter, check, _ in entries}
        for name, entries in SUPPRESSIONS.items()
    }
    doc = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    for name, entries in SUPPRESSIONS.items():
        for linter, check, _ in entries:
            assert any(f"`{name}`" in r and f"`{check}`" in r and linter in r for r in rows), (
                name,
                check,
            )


def test_stateful_resources_say_what_deletion_does(core_template, fleet_template):
    for template in (core_template, fleet_template):
        for name, resource in template["Resources"].items():
            if resource["Type"] in STATEFUL:
                assert {"DeletionPolicy", "UpdateReplacePolicy"} <= set(resource), name
    res = core_template["Resources"]
    assert res["ArchiveBucket"]["DeletionPolicy"] == "Retain"
    for name in ("BundlerLogGroup", "GrouperLogGroup", "ManifestQueue", "DeadLetterQueue"):
        assert res[name]["DeletionPolicy"] == res[name]["UpdateReplacePolicy"] == "Delete"


def test_deploy_doc_names_every_parameter_and_output(
    core_template, fleet_template, athena_template
):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    for template in (core_template, fleet_template, athena_template):
        for name in [*template["Parameters"], *template["Outputs"]]:
            assert f"`{name}`" in doc, name


# --- core stack ------------------------------------------------------------------------------


def test_outputs_submitmanifest_reads(core_template):
    assert set(core_template["Outputs"]) >= CORE_OUTPUTS
    for name, output in core_template["Outputs"].items():
        assert output["Export"]["Name"] == {"Fn::Sub": "${AWS::StackName}-" + name}
    ev = core_eval(core_template)
    values = {n: ev.value(o["Value"]) for n, o in core_template["Outputs"].items()}
    assert values["ManifestBucket"] == values["ArchiveBucket"]
    assert values["ArchiveBucket"] == "s3bundler-archive-0f0e0d0c-1111-2222-3333-444455556666"
    assert values["ArchivePrefix"] == "archives"
    assert values["ManifestPrefix"] == "s3grouper-output"
    assert values["GrouperContainerName"] == "s3grouper"
    assert values["LaunchType"] == "EC2"
    # Network outputs exist only where tasks need an awsvpc configuration.
    assert core_template["Outputs"]["Subnets"]["Condition"] == "Fargate"
    fargate = core_eval(
        core_template, LaunchType="FARGATE_SPOT", Subnets="subnet-1,subnet-2",
        SecurityGroups="sg-1",
    )  # fmt: skip
    assert fargate.condition("Fargate")
    assert fargate.value(core_template["Outputs"]["Subnets"]["Value"]) == "subnet-1,subnet-2"


@pytest.mark.parametrize("compress", ["false", "true", "gzip", "zstd"])
def test_bundler_command_is_what_the_cli_accepts(core_template, compress):
    ev = core_eval(core_template, Compress=compress, MaxSize="512MiB", BundlerConcurrency="48")
    props = ev.value(core_template["Resources"]["BundlerTaskDefinition"]["Properties"])
    (container,) = props["ContainerDefinitions"]
    args = bundler_parser().parse_args(container["Command"])
    assert args.queue == "<Ref ManifestQueue>"  # Ref of a queue is its URL
    assert args.bucket == "s3bundler-archive-0f0e0d0c-1111-2222-3333-444455556666"
    assert args.prefix == "archives"
    assert args.maxsize == parse_size("512MiB")
    assert args.concurrency == 48
    assert args.compress == {"false": "", "true": "gzip"}.get(compress, compress)
    assert container["StopTimeout"] >= 30
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["Image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/s3bundler:latest"
    assert props["NetworkMode"] == "bridge" and props["RequiresCompatibilities"] == ["EC2"]

    fargate = core_eval(core_template, LaunchType="FARGATE_SPOT", BundlerImage="my/img:1")
    props = fargate.value(core_template["Resources"]["BundlerTaskDefinition"]["Properties"])
    assert props["NetworkMode"] == "awsvpc" and props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["ContainerDefinitions"][0]["Image"] == "my/img:1"


def test_bucket_queue_and_notification(core_template):
    res = core_template["Resources"]
    ev = core_eval(core_template)
    queue = ev.value(res["ManifestQueue"]["Properties"])
    assert queue["VisibilityTimeout"] == "900"  # the worker's heartbeat extends by this
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": "<DeadLetterQueue.Arn>",
        "maxReceiveCount": "10",
    }
    assert ev.value(res["DeadLetterQueue"]["Properties"])["MessageRetentionPeriod"] == 1209600

    policy = ev.value(res["ManifestQueuePolicy"]["Properties"]["PolicyDocument"])
    (st,) = policy["Statement"]
    arn = "arn:aws:s3:::s3bundler-archive-0f0e0d0c-1111-2222-3333-444455556666"
    assert st["Principal"] == {"Service": "s3.amazonaws.com"} and st["Action"] == "sqs:SendMessage"
    assert st["Condition"] == {
        "ArnLike": {"aws:SourceArn": arn},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }

    assert ev.resource_exists("ArchiveBucket")
    bucket = res["ArchiveBucket"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    props = ev.value(bucket["Properties"])
    (notification,) = props["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Queue"] == "<ManifestQueue.Arn>"
    assert notification["Filter"]["S3Key"]["Rules"] == [
        {"Name": "prefix", "Value": "s3grouper-output/"},
        {"Name": "suffix", "Value": ".index"},
    ]
    assert all(props["PublicAccessBlockConfiguration"].values())
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": "7"
    }
    # Versioning: overwritten/deleted archives and indexes stay recoverable for 30 days.
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    noncurrent = rules["expire-noncurrent-versions"]
    assert noncurrent["Status"] == "Enabled"
    assert noncurrent["NoncurrentVersionExpiration"] == {"NoncurrentDays": "30"}
    assert noncurrent["ExpiredObjectDeleteMarker"] is True
    assert set(rules) == {"abort-incomplete-multipart-uploads", "expire-noncurrent-versions"}
    # TransitionDays > 0: archives (tagged by the bundler, under ArchivePrefix) move colder.
    cold = core_eval(core_template, TransitionDays="90", TransitionStorageClass="GLACIER")
    rules = {
        r["Id"]: r for r in cold.value(bucket["Properties"])["LifecycleConfiguration"]["Rules"]
    }
    assert rules["transition-archives"]["Prefix"] == "archives/"
    assert rules["transition-archives"]["TagFilters"] == [{"Key": "s3bundler", "Value": "archive"}]
    assert rules["transition-archives"]["Transitions"] == [
        {"StorageClass": "GLACIER", "TransitionInDays": "90"}
    ]
    unversioned = core_eval(
        core_template, ArchiveBucketVersioning="Suspended", NoncurrentVersionDays="7"
    ).value(bucket["Properties"])
    assert unversioned["VersioningConfiguration"] == {"Status": "Suspended"}
    # The rule stays: versions kept while versioning was on still expire after it is suspended.
    (kept,) = [r for r in unversioned["LifecycleConfiguration"]["Rules"] if "Noncurrent" in str(r)]
    assert kept["NoncurrentVersionExpiration"] == {"NoncurrentDays": "7"}
    (sse,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}

    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    kms = core_eval(core_template, KmsKeyArn=key).value(bucket["Properties"])
    (sse,) = kms["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key,
    }

    tls = ev.value(res["ArchiveBucketPolicy"]["Properties"]["PolicyDocument"])["Statement"][0]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert tls["Resource"] == [arn, arn + "/*"]

    existing = core_eval(core_template, CreateArchiveBucket="false", ArchiveBucketName="mine")
    assert not existing.resource_exists("ArchiveBucket")
    assert not existing.resource_exists("ArchiveBucketPolicy")
    assert existing.value(core_template["Outputs"]["ArchiveBucket"]["Value"]) == "mine"
    assert existing.value(core_template["Outputs"]["ManifestDelivery"]["Value"]) == "queue"


def test_rules_refuse_bad_combinations(core_template):
    rules = core_template["Rules"]
    assert set(rules) == {"ExistingBucketNeedsName", "PrefixesDiffer", "FargateNeedsNetwork"}

    def holds(rule: dict[str, Any], **params: str) -> bool:
        ev = core_eval(core_template, **params)
        if "RuleCondition" in rule and not ev.value(rule["RuleCondition"]):
            return True
        return all(ev.value(a["Assert"]) for a in rule["Assertions"])

    assert holds(rules["PrefixesDiffer"])
    assert not holds(rules["PrefixesDiffer"], ArchivePrefix="x", ManifestPrefix="x")
    assert holds(
        rules["ExistingBucketNeedsName"], CreateArchiveBucket="false", ArchiveBucketName="b"
    )
    assert not holds(rules["ExistingBucketNeedsName"], CreateArchiveBucket="false")
    assert not holds(rules["FargateNeedsNetwork"], LaunchType="FARGATE_SPOT")
    assert holds(
        rules["FargateNeedsNetwork"], LaunchType="FARGATE_SPOT", Subnets="s-1", SecurityGroups="g"
    )


# --- log metric filters against the lines the code writes ------------------------------------


def _matches(pattern: str, line: str) -> bool:
    """The subset of CloudWatch Logs filter syntax the template uses: a quoted phrase, or
    space-delimited ``[name, name=value, ..., ...]``."""
    if pattern.startswith('"'):
        return pattern.strip('"') in line
    fields = [f.strip() for f in pattern.strip("[]").split(",")]
    words = line.split()
    rest = fields[-1] == "..."
    fields = fields[:-1] if rest else fields
    if len(words) < len(fields) or (not rest and len(words) != len(fields)):
        return False
    for field, word in zip(fields, words, strict=False):
        if "=" in field and field.split("=", 1)[1] != word:
            return False
    return True


def _log_line(level: int, logger: str, message: str) -> str:
    record = logging.LogRecord(logger, level, __file__, 1, message, None, None)
    return logging.Formatter(LOG_FORMAT).format(record)


def test_metric_filters_count_the_worker_error_lines(core_template):
    filters = {
        lid.removesuffix("Filter"): r["Properties"]
        for lid, r in core_template["Resources"].items()
        if r["Type"] == "AWS::Logs::MetricFilter"
    }
    manifest = S3Uri("bucket", "s3grouper-output/x.0.index")
    lines = {
        "object_failed": _log_line(
            logging.ERROR, "s3bundler.events",
            events.line("object_failed", {"reason": "NoSuchKey", "object": "s3://src/k",
                                          "version_id": "", "manifest": manifest,
                                          "detail": "gone now"}),
        ),
        "manifest_failed": _log_line(
            logging.ERROR, "s3bundler.events",
            events.line("manifest_failed", {"manifest": manifest, "reason": "PoisonMessage",
                                            "detail": "bad"}),
        ),
        "message_failed": _log_line(
            logging.ERROR, "s3bundler.events",
            events.line("message_failed", {"message_id": "m-1", "reason": "PoisonMessage",
                                           "detail": "not json"}),
        ),
        "done": _log_line(
            logging.INFO, "s3bundler.events",
            events.line("manifest_done", {"manifest": manifest, "objects": 1}),
        ),
        "exit": "s3bundler: error: cannot write s3://a/b: AccessDenied",
        "grouper_exit": "s3grouper: error: cannot read s3://inv/manifest.json: NoSuchKey",
    }  # fmt: skip
    expect = {
        "BundlerErrorLines": {"object_failed", "manifest_failed", "message_failed"},
        "ObjectFailedLines": {"object_failed"},
        "ManifestFailedLines": {"manifest_failed"},
        "MessageFailedLines": {"message_failed"},
        "BundlerExitLines": {"exit"},
        "GrouperErrorLines": {"object_failed", "manifest_failed", "message_failed"},
        "GrouperExitLines": {"grouper_exit"},
    }
    assert set(filters) == set(expect)
    for name, props in filters.items():
        matched = {k for k, line in lines.items() if _matches(props["FilterPattern"], line)}
        assert matched == expect[name], (name, props["FilterPattern"])
    dims = filters["ObjectFailedLines"]["MetricTransformations"][0]["Dimensions"]
    assert dims == [{"Key": "Reason", "Value": "$reason"}]
    reason_field = lines["object_failed"].split()[5]
    assert reason_field == "reason=NoSuchKey"  # the dimension's value


# --- scaling, alarms, dashboard --------------------------------------------------------------


def _check_steps(steps: list[dict[str, Any]], per_unit: int, maximum: Any) -> None:
    assert steps[0]["MetricIntervalLowerBound"] == 0  # relative to the threshold of 1 message
    for prev, step in itertools.pairwise(steps):
        assert step["MetricIntervalLowerBound"] == prev["MetricIntervalUpperBound"]
    for step in steps[:-1]:
        most_messages = step["MetricIntervalUpperBound"]  # + 1 (threshold) - 1 (exclusive)
        assert step["ScalingAdjustment"] * per_unit >= most_messages
    assert "MetricIntervalUpperBound" not in steps[-1]
    assert steps[-1]["ScalingAdjustment"] == maximum
    assert len(steps) <= 20


def test_bundler_service_scales_with_the_queue(core_template):
    res = core_template["Resources"]
    target = res["BundlerScalableTarget"]["Properties"]
    assert target["MinCapacity"] == 0 and target["MaxCapacity"] == {"Ref": "BundlerMaxTasks"}
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    out = res["BundlerScaleOutPolicy"]["Properties"]["StepScalingPolicyConfiguration"]
    assert out["AdjustmentType"] == "ExactCapacity"
    _check_steps(out["StepAdjustments"], 1, {"Ref": "BundlerMaxTasks"})
    idle = res["BundlerScaleInPolicy"]["Properties"]["StepScalingPolicyConfiguration"]
    assert idle["StepAdjustments"] == [{"MetricIntervalUpperBound": 0, "ScalingAdjustment": 0}]
    for alarm_id in ("BundlerQueueNotEmptyAlarm", "BundlerQueueEmptyAlarm"):
        alarm = res[alarm_id]["Properties"]
        metrics = {m["Id"]: m for m in alarm["Metrics"]}
        assert metrics["total"]["Expression"] == "FILL(visible, 0) + FILL(inflight, 0)"
        names = {
            m["MetricStat"]["Metric"]["MetricName"] for m in metrics.values() if "MetricStat" in m
        }
        assert names == {
            "ApproximateNumberOfMessagesVisible",
            "ApproximateNumberOfMessagesNotVisible",
        }
    assert res["BundlerService"]["Properties"]["DesiredCount"] == 0


def test_dead_letter_alarm_and_dashboard(core_template):
    res = core_template["Resources"]
    ev = core_eval(core_template, AlarmEmail="ops@example.com")
    alarm = ev.value(res["DeadLetterQueueAlarm"]["Properties"])
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "<DeadLetterQueue.QueueName>"}]
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"] == ["<Ref AlarmTopic>"]
    assert (
        "AlarmActions"
        not in core_eval(core_template).value(res["DeadLetterQueueAlarm"])["Properties"]
    )
    body = json.loads(ev.value(res["Dashboard"]["Properties"]["DashboardBody"]))
    text = json.dumps(body)
    for metric in (
        "ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible",
        "ObjectsArchived", "BytesArchived", "ObjectsCopied", "BytesCopied", "ObjectErrors",
        "ManifestsCompleted", "ManifestSeconds", "ObjectsGrouped", "BytesGrouped",
        "ManifestsWritten", "RunningTaskCount", "ObjectFailedLines",
    ):  # fmt: skip
        assert metric in text, metric
    assert (
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:s3b-manifests-in-dead-letter-queue" in text
    )
    assert alarm["AlarmName"] == "s3b-manifests-in-dead-letter-queue"


# --- capacity stack --------------------------------------------------------------------------


def test_spot_fleet(fleet_template):
    res = fleet_template["Resources"]
    params = fleet_template["Parameters"]
    assert params["ImageId"]["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert params["ImageId"]["Default"].endswith("/amazon-linux-2023/recommended/image_id")
    assert "InstanceType" not in json.dumps(res)  # chosen by attributes, nothing hard-coded
    assert "ami-" not in json.dumps(fleet_template)

    ev = Evaluator(fleet_template)
    config = ev.value(res["SpotFleet"]["Properties"]["SpotFleetRequestConfigData"])
    assert config["AllocationStrategy"] == "capacityOptimized"
    (ltc,) = config["LaunchTemplateConfigs"]
    assert [o["SubnetId"] for o in ltc["Overrides"]] == [
        "<Ref PublicSubnet0>", "<Ref PublicSubnet1>", "<Ref PublicSubnet2>",
    ]  # fmt: skip
    req = ltc["Overrides"][0]["InstanceRequirements"]
    assert set(req) >= {"VCpuCount", "MemoryMiB", "NetworkBandwidthGbps"}
    azs = [ev.value(res[f"PublicSubnet{i}"]["Properties"]["AvailabilityZone"]) for i in range(3)]
    assert azs == ["us-east-1a", "us-east-1b", "us-east-1c"]
    cidrs = {ev.value(res[f"PublicSubnet{i}"]["Properties"]["CidrBlock"]) for i in range(6)}
    assert len(cidrs) == 6

    six = Evaluator(fleet_template, {"AzCount": "6"})
    assert all(six.condition(f"UseSubnet{i}") for i in range(6))
    existing = Evaluator(fleet_template, {"Subnets": "subnet-a,subnet-b", "VpcId": "vpc-1"})
    assert not existing.condition("CreateVpc") and not existing.resource_exists("Vpc")
    config = existing.value(res["SpotFleet"]["Properties"]["SpotFleetRequestConfigData"])
    subnets = [o["SubnetId"] for o in config["LaunchTemplateConfigs"][0]["Overrides"]]
    assert subnets == ["subnet-a", "subnet-b"]

    lt = ev.value(res["InstanceLaunchTemplate"]["Properties"]["LaunchTemplateData"])
    script = lt["UserData"]
    assert "ECS_CLUSTER=<import s3bundler-ClusterName>" in script
    assert "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true" in script
    assert "/var/lib/docker" in script and "Instance Storage" in script
    assert lt["MetadataOptions"]["HttpTokens"] == "required"
    bash = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert bash.returncode == 0, bash.stderr

    sg = ev.value(res["InstanceSecurityGroup"]["Properties"])
    assert "SecurityGroupIngress" not in sg
    assert not [r for r in res.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"]

    steps = res["FleetScaleOutPolicy"]["Properties"]["StepScalingPolicyConfiguration"]
    _check_steps(steps["StepAdjustments"], 2, {"Ref": "MaxInstances"})
    target = ev.value(res["FleetScalableTarget"]["Properties"])
    assert target["ResourceId"] == "spot-fleet-request/<Ref SpotFleet>"
    alarm = ev.value(res["FleetQueueNotEmptyAlarm"]["Properties"])
    dims = alarm["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"]
    assert dims == [{"Name": "QueueName", "Value": "<import s3bundler-QueueName>"}]
