"""Running the pipeline on this machine: the grouper in-process and bundler workers as local
processes. Talks to whatever the boto3 chain points at -- the embedded moto server in the demo,
real AWS when ``AWS_ENDPOINT_URL`` is unset."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

from s3common.local_endpoint import stop_process
from s3common.running import StartStop
from s3common.submanifest import base_name
from s3grouper.cli import build_parser, make_clients, options_from_args
from s3grouper.grouper import GrouperOptions, GrouperResult, run_grouper
from s3jobs.follow import Job

log = logging.getLogger(__name__)


def grouper_options(command: list[str]) -> GrouperOptions:
    """s3grouper's own argument parsing (raises UsageError on bad arguments)."""
    return options_from_args(build_parser().parse_args(command))


def job_of(command: list[str]) -> Job:
    """Where the grouper run described by ``command`` writes its job."""
    opts = grouper_options(command)
    return Job(
        inventory=str(opts.manifest),
        bucket=opts.bucket,
        prefix=opts.prefix.strip("/"),
        base=base_name(opts.manifest.key, opts.output_name),
    )


def run_grouper_here(command: list[str]) -> GrouperResult:
    """The grouper run described by ``command``, in this process (its clients made here from
    the command's --region/--profile, as s3grouper's own CLI makes them)."""
    options = grouper_options(command)
    return run_grouper(options, make_clients(options))


class LocalWorkers(StartStop):
    """``with LocalWorkers(n, queue, bucket, prefix, extra) as workers:`` -- n ``s3bundler -q``
    processes; on exit they get SIGTERM (they release any manifest in flight) and are waited
    for."""

    def __init__(
        self,
        count: int,
        queue: str,
        archive_bucket: str,
        archive_prefix: str = "archives",
        extra_args: list[str] | None = None,
        log_dir: str | None = None,
    ) -> None:
        self.count = count
        self.cmd = [
            sys.executable, "-m", "s3bundler", "-q", queue, "-b", archive_bucket,
            "-p", archive_prefix, *(extra_args or []),
        ]  # fmt: skip
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[object] = []

    def start(self) -> LocalWorkers:
        for i in range(self.count):
            if self.log_dir:
                out = open(os.path.join(self.log_dir, f"bundler-{i}.log"), "wb")  # noqa: SIM115
                self._logs.append(out)
            else:
                out = subprocess.DEVNULL  # type: ignore[assignment]
            self.procs.append(subprocess.Popen(self.cmd, stdout=out, stderr=out))
        log.info("started %d bundler workers: %s", self.count, " ".join(self.cmd[1:]))
        return self

    def exited(self) -> list[int]:
        """Return codes of workers that have exited with an error."""
        return [p.returncode for p in self.procs if p.poll() not in (None, 0)]

    def stop(self, timeout: float = 30) -> list[int]:
        for p in self.procs:  # all at once: each releases its manifest within seconds
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = [stop_process(p, timeout) for p in self.procs]
        for f in self._logs:
            f.close()  # type: ignore[attr-defined]
        return codes
