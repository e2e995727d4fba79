"""Helpers for tests: running the CLIs as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> CliResult:
    """Run ``python -m <module> args...`` as a subprocess with the current environment."""
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def metric_sum(name: str, reason: str | None = None) -> float:
    """Sum of an S3Bundler CloudWatch metric over the last hour on the current endpoint."""
    from datetime import UTC, datetime, timedelta

    import boto3

    now = datetime.now(UTC)
    stats = boto3.client("cloudwatch").get_metric_statistics(
        Namespace="S3Bundler",
        MetricName=name,
        Dimensions=[{"Name": "Reason", "Value": reason}] if reason else [],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(d["Sum"] for d in stats)
