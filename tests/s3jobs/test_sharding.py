"""submitmanifest.py --shards: N grouper tasks (ECS) or processes (--local) per inventory, one
job that --wait follows to the end, a failed shard reported as an incomplete job."""

from __future__ import annotations

import dataclasses
import uuid

import boto3

from s3bundler.report import ManifestReport
from s3common.s3uri import parse_s3_uri
from s3common.sizes import MiB
from s3common.submanifest import JobSummary
from s3jobs import inventory_report as fx
from s3jobs.demo import deploy_core_stack, seed_source, write_inventory
from s3jobs.follow import Job, JobFollower
from tests.s3jobs.test_follow import _report, _summary
from tests.s3jobs.test_submitmanifest import submit


def test_local_shards_wait_end_to_end(aws):
    """Two grouper processes (one shard each), two bundler workers; --wait sees one job and
    returns once every sub-manifest of both shards has its completion report."""
    run = uuid.uuid4().hex[:8]
    source, inventory, stack = f"src-{run}", f"inv-{run}", f"stk-{run}"
    objects = seed_source(source, 120, maxsize=MiB, bigs=2)
    out = deploy_core_stack(source, inventory, name=stack)
    manifest = write_inventory(inventory, source, objects)  # 4 data files
    big = sum(1 for o in objects.values() if o["Size"] > MiB)

    result = submit(
        "--stack", stack, "--local", "--shards", "2", "--workers", "2", "--bundler-args",
        "-s 1MB", "--wait", "--poll", "0.5", "--timeout", "150", "--no-progress", "--",
        "-c", "25", stdin=manifest + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"{manifest} shard 0/2 -> s3grouper: shard 0/2:" in result.stdout
    assert f"{manifest} shard 1/2 -> s3grouper: shard 1/2:" in result.stdout
    merged = [ln for ln in lines if "job merged: 2 shards" in ln]
    assert len(merged) == 1, result.stdout  # exactly one shard wrote the job summary
    assert "manifests: 6/6 done in 1 job(s)" in result.stdout, result.stdout
    expected = f"objects:   120/120 (archived {120 - big}, copied {big}, in DLQ index 0)"
    assert expected in result.stdout, result.stdout

    s3 = boto3.client("s3")
    summary_uri = parse_s3_uri(merged[0].split(" -> ")[-1])
    summary = JobSummary.from_json(
        s3.get_object(Bucket=summary_uri.bucket, Key=summary_uri.key)["Body"].read()
    )
    assert summary.shard_count == 2 and summary.objects == 120 and summary.manifests == 6
    assert summary.manifest_bucket == out["ManifestBucket"]
    reports = [
        ManifestReport.from_json(
            s3.get_object(Bucket=summary_uri.bucket, Key=k + ".done")["Body"].read()
        )
        for k in summary.manifest_keys()
    ]
    assert sum(r.counts.accounted for r in reports) == 120


def test_local_failed_shard_is_an_incomplete_job(s3, bucket):
    rows = [{"Key": f"k/{n:03d}", "Size": 10} for n in range(40)]
    uri = fx.put_inventory(s3, bucket, rows, files=4)
    victim = fx.read_manifest_json(s3, uri)["files"][3]["key"]
    s3.put_object(Bucket=bucket, Key=victim, Body=b"not the data file")
    result = submit("--local", "--shards", "2", "--", "-b", bucket, "-c", "5", stdin=uri + "\n")
    assert result.returncode == 3, result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "job incomplete, no job summary: 1 of 2 shards grouped" in errors[0]
    assert "does not match" in errors[0] or "size" in errors[0], errors[0]
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="s3grouper-output/").get("Contents", [])
    assert not any(o["Key"].endswith(".job.json") for o in listing)


def test_ecs_starts_one_task_per_shard_with_the_shard_in_its_command(fargate, s3, bucket):
    rows = [{"Key": f"k/{n:03d}", "Size": 10} for n in range(40)]
    auto_uri = fx.put_inventory(s3, bucket, rows, files=16, config_id="big")  # auto: 2 shards
    plain = "s3://inv/src/cfg/2024-01-31T00-00Z/manifest.json"
    common = ["-c", fargate["cluster"], "-t", fargate["task"], "--launch-type", "FARGATE",
              "--subnets", fargate["subnet"], "--security-groups", fargate["sg"]]  # fmt: skip
    result = submit(*common, "--shards", "3", "--", "-b", "work", "-s", "1GiB", stdin=plain)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [ln.split(" -> ")[0] for ln in lines] == [f"{plain} shard {i}/3" for i in range(3)]
    ecs = boto3.client("ecs")
    arns = [ln.split(" -> ")[1] for ln in lines]
    tasks = {t["taskArn"]: t for t in ecs.describe_tasks(cluster=fargate["cluster"],
                                                         tasks=arns)["tasks"]}  # fmt: skip
    for i, arn in enumerate(arns):
        override = tasks[arn]["overrides"]["containerOverrides"][0]
        assert override["name"] == "s3grouper"
        assert override["command"] == ["-m", plain, "-b", "work", "-s", "1GiB", "--shard", f"{i}/3"]

    auto = submit(*common, "--shards", "auto", "--dry-run", "--", "-b", bucket, stdin=auto_uri)
    assert auto.returncode == 0, auto.stderr
    assert [ln.split(" -> ")[0] for ln in auto.stdout.splitlines()] == [
        f"{auto_uri} shard 0/2", f"{auto_uri} shard 1/2"]  # fmt: skip
    assert "--shard 1/2" in auto.stdout

    mixed = submit(*common, "--shards", "2", "--", "-b", "w", "--shard", "0/2", stdin=plain)
    assert mixed.returncode == 2 and "give --shards to submitmanifest.py" in mixed.stderr


def test_auto_follows_an_existing_job_summary(s3, bucket):
    rows = [{"Key": f"k/{n:03d}", "Size": 10} for n in range(40)]
    uri = fx.put_inventory(s3, bucket, rows, files=16)
    first = submit("--local", "--shards", "3", "--", "-b", bucket, "-c", "5", stdin=uri)
    assert first.returncode == 0, first.stderr
    again = submit("-c", "c", "-t", "t", "--shards", "auto", "--dry-run", "--", "-b", bucket,
                   "-c", "5", stdin=uri)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert len(again.stdout.splitlines()) == 3 and "--shard 2/3" in again.stdout


def test_follow_counts_only_the_summary_s_submanifests(s3, bucket):
    """A report left by another grouping under the same name is not progress of this job."""
    summary = dataclasses.replace(_summary(bucket, 2), shards=[1, 1])
    s3.put_object(Bucket=bucket, Key="out/job.job.json", Body=summary.to_json())
    s3.put_object(Bucket=bucket, Key="out/job.0.index.done", Body=_report("old", 9, 1))
    s3.put_object(Bucket=bucket, Key="out/job.s0-of-2.0.index.done", Body=_report("a", 10, 0))
    follower = JobFollower(s3, [Job("s3://inv/m.json", bucket, "out", "job")])
    p = follower.poll()
    assert (p.manifests, p.manifests_done, p.objects_done) == (2, 1, 10) and not follower.done
    s3.put_object(Bucket=bucket, Key="out/job.s1-of-2.0.index.done", Body=_report("b", 20, 0))
    assert follower.poll().objects_done == 30 and follower.done
