"""submitmanifest.py against the moto server: ECS task submission with the right overrides,
refusals reported, --stack, --dry-run, and --local --wait end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from s3bundler.report import ManifestReport
from s3common.errors import UsageError
from s3common.s3uri import parse_s3_uri
from s3common.sizes import MiB
from s3common.submanifest import JobSummary
from s3jobs import inventory_report
from s3jobs.demo import deploy_core_stack, seed_source, write_inventory
from s3jobs.ecs import GrouperTaskTarget, TaskRefused, start_grouper_task
from s3jobs.stack import Settings, StackOutputs
from tests.helpers import CliResult

SCRIPT = str(Path(__file__).resolve().parents[2] / "submitmanifest.py")


def submit(*args: str, stdin: str = "", timeout: float = 180) -> CliResult:
    proc = subprocess.run(
        [sys.executable, SCRIPT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def test_starts_one_grouper_task_per_manifest_with_command_override(fargate, tmp_path):
    manifests = [
        "s3://inv/src/cfg/2024-01-31T00-00Z/manifest.json",
        "s3://inv/other/cfg/2024-02-01T00-00Z/manifest.json",
    ]
    listing = tmp_path / "manifests.txt"
    listing.write_text("# two inventories\n" + "\n".join(manifests) + "\n\n")
    result = submit(
        "-c", fargate["cluster"], "-t", fargate["task"], "--launch-type", "FARGATE",
        "--subnets", fargate["subnet"], "--security-groups", fargate["sg"],
        "-f", str(listing), "--", "-b", "work-bucket", "-s", "1GiB",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [ln.split(" -> ")[0] for ln in lines] == manifests
    ecs = boto3.client("ecs")
    arns = [ln.split(" -> ")[1] for ln in lines]
    tasks = ecs.describe_tasks(cluster=fargate["cluster"], tasks=arns)["tasks"]
    commands = {t["taskArn"]: t["overrides"]["containerOverrides"][0]["command"] for t in tasks}
    for manifest, arn in zip(manifests, arns, strict=True):
        assert commands[arn] == ["-m", manifest, "-b", "work-bucket", "-s", "1GiB"]
    assert all(t["overrides"]["containerOverrides"][0]["name"] == "s3grouper" for t in tasks)


def test_refused_task_names_the_manifest_and_exits_nonzero(fargate):
    manifest = "s3://inv/src/cfg/2024-01-31T00-00Z/manifest.json"
    result = submit(
        "-c", "no-such-cluster", "-t", fargate["task"], "--", "-b", "work-bucket",
        stdin=manifest + "\n",
    )  # fmt: skip
    assert result.returncode == 7
    assert manifest in result.stderr and "ClusterNotFound" in result.stderr
    assert result.stdout == ""


def test_ecs_failures_entries_are_reported_not_swallowed():
    class RefusingEcs:
        def run_task(self, **kwargs):
            return {
                "tasks": [],
                "failures": [
                    {"arn": "arn:aws:ecs:x:1:container-instance/a", "reason": "RESOURCE:MEMORY"}
                ],
            }

    target = GrouperTaskTarget(cluster="c", task_definition="t")
    with pytest.raises(TaskRefused, match=r"s3://inv/m.json: .*RESOURCE:MEMORY"):
        start_grouper_task(RefusingEcs(), target, "s3://inv/m.json", ["-m", "s3://inv/m.json"])


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["-c", "c", "-t", "t"], "not-a-uri\n", "stdin line 1"),
        (["-c", "c", "-t", "t"], "", "no manifest URIs"),
        (["--", "-b", "x"], "s3://inv/m/manifest.json\n", "needs -c CLUSTER and -t TASK"),
        (["-c", "c", "-t", "t", "--", "--size-threshold", "lots"], "s3://i/m.json\n", "size"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(aws, args, stdin, message):
    result = submit(*args, stdin=stdin)
    assert result.returncode == 2
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and message in errors[0], result.stderr


def test_stack_local_wait_end_to_end(aws, tmp_path):
    """--stack supplies buckets, prefix and queue; --local runs the grouper here and two local
    workers; --wait returns once every sub-manifest has its completion report."""
    run = uuid.uuid4().hex[:8]
    source, inventory, stack = f"src-{run}", f"inv-{run}", f"stk-{run}"
    objects = seed_source(source, 120, maxsize=MiB, bigs=2)
    out = deploy_core_stack(source, inventory, name=stack)
    manifest = write_inventory(inventory, source, objects)
    s3 = boto3.client("s3")
    gone = sorted(objects)[5]
    s3.delete_object(Bucket=source, Key=gone)
    big = sum(1 for k, o in objects.items() if o["Size"] > MiB and k != gone)

    dry = submit("--stack", stack, "--dry-run", "--", "-c", "25", stdin=manifest + "\n")
    assert dry.returncode == 0, dry.stderr
    assert out["ClusterName"] in dry.stdout and out["GrouperTaskDefinition"] in dry.stdout
    assert f"-b {out['ManifestBucket']} -p {out['ManifestPrefix']}" in dry.stdout

    result = submit(
        "--stack", stack, "--local", "--workers", "2", "--bundler-args", "-s 1MB",
        "--wait", "--poll", "0.5", "--timeout", "150", "--no-progress", "--", "-c", "25",
        stdin=manifest + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "job done:" in result.stdout
    expected = f"objects:   120/120 (archived {119 - big}, copied {big}, in DLQ index 1)"
    assert expected in result.stdout, result.stdout

    summary_uri = parse_s3_uri(result.stdout.split(" -> ")[-1].splitlines()[0])
    summary = JobSummary.from_json(
        s3.get_object(Bucket=summary_uri.bucket, Key=summary_uri.key)["Body"].read()
    )
    assert summary.manifests == 5 and summary.objects == 120
    reports = [
        ManifestReport.from_json(
            s3.get_object(Bucket=summary_uri.bucket, Key=k + ".done")["Body"].read()
        )
        for k in summary.manifest_keys()
    ]
    assert sum(r.counts.accounted for r in reports) == 120
    assert inventory_report  # the report writer the demo and this test use


def test_settings_are_the_flag_else_the_stack_output_else_the_default():
    stack = StackOutputs("core", {"QueueUrl": "https://q", "Subnets": "s-1,s-2", "X": "x"})
    with_stack, without = Settings(stack), Settings()
    assert with_stack.pick("flag", "QueueUrl") == "flag"
    assert with_stack.pick(None, "QueueUrl") == "https://q"
    assert with_stack.pick("", "Missing", "dflt") == "dflt"
    with pytest.raises(UsageError, match="stack core has no output 'Missing'"):
        with_stack.pick(None, "Missing")  # no default: the stack must have it
    assert without.pick(None, "QueueUrl") is None and without.pick(None, "X", "d") == "d"
    assert with_stack.pick_list("a,b", "Subnets") == ["a", "b"]
    assert with_stack.pick_list(None, "Subnets") == ["s-1", "s-2"]
    assert without.pick_list(None, "Subnets") == []


def test_grouper_args_and_ecs_target_are_completed_from_the_stack():
    import submitmanifest

    outputs = {
        "ManifestBucket": "mb", "ManifestPrefix": "mp", "ManifestDelivery": "queue",
        "QueueUrl": "https://q", "ClusterName": "cl", "GrouperTaskDefinition": "td",
        "Subnets": "s-1", "SecurityGroup": "sg-1", "AssignPublicIp": "ENABLED",
    }  # fmt: skip
    settings = Settings(StackOutputs("core", outputs))
    assert submitmanifest.grouper_args(["-p", "mine"], settings) == [
        "-p", "mine", "-b", "mb", "--queue", "https://q"]  # fmt: skip
    assert submitmanifest.grouper_args(["-c", "5"], Settings()) == ["-c", "5"]
    opts = submitmanifest.build_parser().parse_args(["-c", "flag-cluster"])
    target = submitmanifest.ecs_target(opts, settings)
    assert (target.cluster, target.task_definition, target.container) == (
        "flag-cluster", "td", "s3grouper")  # fmt: skip
    assert (target.subnets, target.security_groups, target.assign_public_ip) == (
        ["s-1"], ["sg-1"], "ENABLED")  # fmt: skip
