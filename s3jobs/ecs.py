"""Starting s3grouper tasks on ECS: one ``run_task`` per inventory manifest, the container's
command overridden with the grouper's arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from s3common.aws import AWS_ERRORS, describe
from s3common.errors import AwsApiError


@dataclass(frozen=True)
class GrouperTaskTarget:
    cluster: str
    task_definition: str
    container: str = "s3grouper"
    launch_type: str = ""  # "", "EC2", "FARGATE" or "FARGATE_SPOT" (a capacity provider)
    subnets: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)
    assign_public_ip: str = "DISABLED"

    def run_task_args(self, command: list[str]) -> dict[str, Any]:
        args: dict[str, Any] = {
            "cluster": self.cluster,
            "taskDefinition": self.task_definition,
            "count": 1,
            "startedBy": "submitmanifest",
            "overrides": {"containerOverrides": [{"name": self.container, "command": command}]},
        }
        if self.launch_type == "FARGATE_SPOT":
            args["capacityProviderStrategy"] = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
        elif self.launch_type:
            args["launchType"] = self.launch_type
        if self.subnets:
            net: dict[str, Any] = {"subnets": self.subnets, "assignPublicIp": self.assign_public_ip}
            if self.security_groups:
                net["securityGroups"] = self.security_groups
            args["networkConfiguration"] = {"awsvpcConfiguration": net}
        return args


class TaskRefused(AwsApiError):
    """ECS did not start the task (an API error or a ``failures`` entry)."""


def start_grouper_task(
    ecs: Any, target: GrouperTaskTarget, manifest: str, command: list[str]
) -> str:
    """Start one grouper task; returns its ARN. Raises TaskRefused naming the manifest."""
    try:
        resp = ecs.run_task(**target.run_task_args(command))
    except AWS_ERRORS as exc:
        raise TaskRefused(f"{manifest}: ECS refused the grouper task: {describe(exc)}") from exc
    failures = resp.get("failures") or []
    tasks = resp.get("tasks") or []
    if failures or not tasks:
        why = "; ".join(
            f"{f.get('reason', '?')}{' (' + f['detail'] + ')' if f.get('detail') else ''}"
            f"{' ' + f['arn'] if f.get('arn') else ''}"
            for f in failures
        )
        raise TaskRefused(f"{manifest}: ECS refused the grouper task: {why or 'no task started'}")
    return str(tasks[0]["taskArn"])


def task_status(ecs: Any, cluster: str, task_arn: str) -> tuple[str, int | None, str]:
    """(lastStatus, grouper exit code or None, stopped reason) of a task."""
    try:
        tasks = ecs.describe_tasks(cluster=cluster, tasks=[task_arn]).get("tasks") or []
    except AWS_ERRORS:
        return "UNKNOWN", None, ""
    if not tasks:
        return "UNKNOWN", None, ""
    task = tasks[0]
    code = None
    for container in task.get("containers") or []:
        if "exitCode" in container:
            code = int(container["exitCode"])
    return str(task.get("lastStatus", "UNKNOWN")), code, str(task.get("stoppedReason", ""))
