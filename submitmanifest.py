#!/usr/bin/env python3
"""submitmanifest.py: start an s3grouper task per inventory manifest, and follow the job.

    submitmanifest.py [options] [-- <s3grouper arguments>] < manifests.txt

Manifest URIs (s3://.../manifest.json) come one per line from stdin or -f FILE. For each one an
s3grouper ECS task is started with its command overridden to ``-m <manifest> <s3grouper
arguments>`` (``--local``: the grouper runs in this process instead). With ``--shards N`` each
inventory gets N tasks, ``--shard 0/N`` .. ``--shard N-1/N``, each grouping its share of the
data files; the job is still one job with one job summary. ``--stack NAME`` takes cluster,
task definition, network, buckets and queue from the core stack's outputs. ``--wait`` follows
the job until every sub-manifest is done.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from s3common.aws import make_client, make_session
from s3common.cli import Parser, configure_logging, run
from s3common.errors import S3BundlerError, UsageError
from s3common.queues import resolve_queue_url
from s3common.s3uri import parse_s3_uri
from s3jobs.ecs import GrouperTaskTarget, TaskRefused, start_grouper_task, task_status
from s3jobs.follow import Job, JobFollower, follow
from s3jobs.local import LocalWorkers, check_shards, job_of, run_grouper_here, run_grouper_shards
from s3jobs.plan import AUTO, GrouperTask, grouper_tasks, shard_count, shards_arg
from s3jobs.stack import Settings, read_stack
from s3jobs.status import status_lines

PROG = "submitmanifest.py"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG,
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  echo s3://inv/src/cfg/2024-01-31T00-00Z/manifest.json | "
            "submitmanifest.py --stack s3bundler --wait\n"
            "  submitmanifest.py -c my-cluster -t s3grouper -f manifests.txt -- -b bkt -s 1GiB\n"
            "  submitmanifest.py --local --workers 4 --queue q --archive-bucket arch -f m.txt "
            "--wait -- -b arch\n"
            "  submitmanifest.py --stack s3bundler --shards auto -f manifests.txt --wait\n"
            "  submitmanifest.py --stack s3bundler --status\n"
            "exit codes: 0 ok, 2 usage, 3/4/5 grouper failures (--local), 7 ECS refused a task"
        ),
    )
    p.add_argument("--region", help="AWS region (default: the boto3 chain)")
    p.add_argument("--profile", help="AWS profile (default: the boto3 chain)")
    p.add_argument("-f", "--file", help="read manifest URIs from FILE (default: stdin)")
    _add_ecs_args(p)
    p.add_argument("--stack", metavar="NAME", help="take settings from this core stack's outputs")
    p.add_argument(
        "--shards",
        type=shards_arg,
        default=1,
        metavar="N|auto",
        help="group each inventory in N shards (N grouper tasks, or processes with --local), "
        f"each taking a fixed share of its data files; '{AUTO}': the existing job's count, else "
        "one per 8 data files, at most 16 (default: 1)",
    )
    _add_local_args(p)
    _add_follow_args(p)
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-d", "--debug", action="store_true")
    return p


def _add_ecs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--task", help="grouper task definition (family[:revision] or ARN)")
    p.add_argument("-c", "--cluster", help="ECS cluster")
    p.add_argument("--container", help="grouper container name (default: s3grouper)")
    p.add_argument(
        "--launch-type",
        choices=["EC2", "FARGATE", "FARGATE_SPOT"],
        help="how to run the task (default: the stack's, else the cluster's default)",
    )
    p.add_argument("--subnets", help="comma-separated subnets for awsvpc tasks")
    p.add_argument("--security-groups", help="comma-separated security groups for awsvpc tasks")


def _add_local_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--local", action="store_true", help="run the grouper in this process instead of on ECS"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="with --local: also run N s3bundler workers locally until the job is done",
    )
    p.add_argument("--queue", help="manifest queue name or URL (default: the stack's)")
    p.add_argument("--archive-bucket", help="archive bucket for --workers (default: the stack's)")
    p.add_argument(
        "--archive-prefix", help="archive prefix for --workers (default: the stack's, or archives)"
    )
    p.add_argument(
        "--bundler-args", default="", help="extra s3bundler arguments for --workers, e.g. '-c'"
    )


def _add_follow_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wait", action="store_true", help="follow the job until every sub-manifest is done"
    )
    p.add_argument(
        "--poll", type=float, default=5.0, metavar="SECONDS", help="--wait poll interval"
    )
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="give up waiting")
    p.add_argument("--no-progress", action="store_true", help="no progress bar with --wait")
    p.add_argument("--dry-run", action="store_true", help="show what would be submitted")
    p.add_argument(
        "--status",
        action="store_true",
        help="show recent throughput (CloudWatch) and queue depth, then exit",
    )
    p.add_argument("--since", type=float, default=60, metavar="MINUTES", help="--status window")


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Our arguments, and the s3grouper arguments after ``--``."""
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def read_manifests(path: str | None) -> list[str]:
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror}") from None
        source = path
    else:
        if sys.stdin.isatty():
            print(
                "reading manifest URIs from stdin (one per line, end with Ctrl-D)", file=sys.stderr
            )
        lines = sys.stdin.read().splitlines()
        source = "stdin"
    manifests = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    for n, uri in enumerate(manifests, start=1):
        try:
            parse_s3_uri(uri)
        except ValueError as exc:
            raise UsageError(f"{source} line {n}: {exc}") from None
    if not manifests:
        raise UsageError(f"no manifest URIs on {source}")
    return manifests


def _has(args: list[str], *flags: str) -> bool:
    return any(
        a in flags or any(a.startswith(f + "=") for f in flags if f.startswith("--")) for a in args
    )


def grouper_args(extra: list[str], settings: Settings) -> list[str]:
    """s3grouper arguments: what the user gave after ``--``, completed from the stack."""
    args = list(extra)
    if settings.stack is None:
        return args
    completions = [(("-b", "--bucket"), "ManifestBucket"), (("-p", "--prefix"), "ManifestPrefix")]
    if settings.pick(None, "ManifestDelivery", "notification") == "queue":
        completions.append((("--queue",), "QueueUrl"))
    for flags, output in completions:
        if _has(args, *flags):
            continue
        value = settings.pick(None, output)
        if value is not None:
            args += [flags[0], value]
    return args


def ecs_target(opts: argparse.Namespace, settings: Settings) -> GrouperTaskTarget:
    cluster = settings.pick(opts.cluster, "ClusterName", "")
    task = settings.pick(opts.task, "GrouperTaskDefinition", "")
    if not cluster or not task:
        raise UsageError("ECS needs -c CLUSTER and -t TASK (or --stack NAME, or --local)")
    return GrouperTaskTarget(
        cluster=cluster,
        task_definition=task,
        container=settings.pick(opts.container, "GrouperContainerName", "s3grouper"),
        launch_type=settings.pick(opts.launch_type, "LaunchType", ""),
        subnets=settings.pick_list(opts.subnets, "Subnets"),
        security_groups=settings.pick_list(opts.security_groups, "SecurityGroup"),
        assign_public_ip=settings.pick(None, "AssignPublicIp", "DISABLED"),
    )


def main(argv: Sequence[str] | None = None) -> int:
    ours, extra = split_argv(sys.argv[1:] if argv is None else argv)
    return run(PROG, lambda: _main(ours, extra))


def _main(ours: list[str], extra: list[str]) -> int:
    opts = build_parser().parse_args(ours)
    configure_logging(opts.verbose, opts.debug)
    if opts.workers and not opts.local:
        raise UsageError("--workers needs --local")
    session = make_session(opts.region, opts.profile)
    stack = read_stack(make_client(session, "cloudformation"), opts.stack) if opts.stack else None
    settings = Settings(stack)
    queue = settings.pick(opts.queue, "QueueUrl")

    if opts.status:
        for line in status_lines(
            make_client(session, "cloudwatch"),
            make_client(session, "sqs"),
            _queue_url(session, queue) if queue else "",
            settings.pick(None, "DeadLetterQueueUrl", ""),
            timedelta(minutes=opts.since),
        ):
            print(line)
        return 0

    manifests = read_manifests(opts.file)
    args = grouper_args(extra, settings)
    if _has(args, "--shard"):
        raise UsageError("give --shards to submitmanifest.py, not --shard to s3grouper")
    jobs = [job_of(["-m", m, *args]) for m in manifests]  # also validates the grouper arguments
    s3 = make_client(session, "s3") if opts.shards == AUTO else None
    counts = [shard_count(s3, job, opts.shards) for job in jobs]
    plans = [grouper_tasks(m, args, n) for m, n in zip(manifests, counts, strict=True)]
    if opts.local:
        return _run_local(opts, session, settings, queue, plans, jobs)
    return _run_ecs(opts, session, settings, queue, plans, jobs)


def _run_ecs(
    opts: argparse.Namespace,
    session: Any,
    settings: Settings,
    queue: str | None,
    plans: list[list[GrouperTask]],
    jobs: list[Job],
) -> int:
    target = ecs_target(opts, settings)
    if opts.dry_run:
        for task in (t for plan in plans for t in plan):
            print(
                f"{task.label} -> would start {target.task_definition} on {target.cluster}: "
                f"s3grouper {' '.join(task.command)}"
            )
        return 0
    ecs = make_client(session, "ecs")
    started: list[tuple[GrouperTask, str, Job]] = []
    refused: list[TaskRefused] = []
    for plan, job in zip(plans, jobs, strict=True):
        for task in plan:
            try:
                arn = start_grouper_task(ecs, target, task.label, task.command)
            except TaskRefused as exc:
                print(f"{PROG}: error: {exc}", file=sys.stderr)
                refused.append(exc)
                continue
            started.append((task, arn, job))
            print(f"{task.label} -> {arn}", flush=True)
    if refused:
        return int(refused[0].exit_code)
    if opts.wait:

        def check() -> None:
            for task, arn, job in started:
                if job.summary is not None:
                    continue
                status, code, reason = task_status(ecs, target.cluster, arn)
                if status == "STOPPED" and code != 0:
                    incomplete = (
                        f"; the job is incomplete (no job summary): rerun shard "
                        f"{task.shard}/{task.shards}"
                        if task.shards > 1
                        else ""
                    )
                    raise S3BundlerError(
                        f"{task.label}: grouper task {arn} stopped (exit {code}): "
                        f"{reason}{incomplete}"
                    )

        _wait(opts, session, _queue_url(session, queue) if queue else "", jobs, check)
    return 0


def _run_local(
    opts: argparse.Namespace,
    session: Any,
    settings: Settings,
    queue: str | None,
    plans: list[list[GrouperTask]],
    jobs: list[Job],
) -> int:
    if opts.dry_run:
        for task in (t for plan in plans for t in plan):
            print(f"{task.label} -> would run here: s3grouper {' '.join(task.command)}")
        return 0
    queue_url = _queue_url(session, queue) if queue else ""  # looked up once
    workers = None
    if opts.workers:
        archive_bucket = settings.pick(opts.archive_bucket, "ArchiveBucket")
        if not queue or not archive_bucket:
            raise UsageError("--workers needs --queue and --archive-bucket (or --stack)")
        prefix = settings.pick(opts.archive_prefix, "ArchivePrefix", "archives")
        log_dir = tempfile.mkdtemp(prefix="s3bundler-workers-")
        workers = LocalWorkers(
            opts.workers, queue_url, archive_bucket, prefix,
            opts.bundler_args.split(), log_dir=log_dir,
        ).start()  # fmt: skip
        print(f"started {opts.workers} local s3bundler workers (logs in {log_dir})", flush=True)
    try:
        for plan in plans:
            _group_here(plan)
        if opts.wait:

            def check() -> None:
                if workers is not None and workers.exited():
                    raise S3BundlerError(
                        f"local bundler workers exited with {workers.exited()} "
                        f"(logs in {workers.log_dir})"
                    )

            _wait(opts, session, queue_url, jobs, check)
    finally:
        if workers is not None:
            workers.stop()
    return 0


def _group_here(plan: list[GrouperTask]) -> None:
    """One inventory's grouping on this machine: in this process, or one process per shard."""
    first = plan[0]
    if first.shards == 1:
        result = run_grouper_here(first.command)
        print(
            f"{first.manifest} -> {result.summary.manifests} sub-manifests, "
            f"{result.summary.objects} objects ({result.written} written, "
            f"{result.kept} existing) -> {result.summary_uri}",
            flush=True,
        )
        return
    runs = run_grouper_shards(first.unsharded_command, first.shards)
    for task, outcome in zip(plan, runs, strict=True):
        print(f"{task.label} -> {outcome.line}", flush=True)
    check_shards(first.manifest, runs)


def _queue_url(session: Any, queue: str) -> str:
    return resolve_queue_url(make_client(session, "sqs"), queue)


def _wait(
    opts: argparse.Namespace,
    session: Any,
    queue_url: str,
    jobs: list[Job],
    check: Callable[[], None],
) -> None:
    follower = JobFollower(
        make_client(session, "s3"),
        jobs,
        make_client(session, "sqs") if queue_url else None,
        queue_url,
    )
    progress = follow(
        follower,
        poll_seconds=opts.poll,
        timeout=opts.timeout,
        show_bar=not opts.no_progress,
        check=check,
    )
    print("job done:")
    for line in progress.summary_lines():
        print("  " + line)


if __name__ == "__main__":
    sys.exit(main())
