"""Running the pipeline on this machine: the grouper in-process and bundler workers as local
processes. Talks to whatever the boto3 chain points at -- the embedded moto server in the demo,
real AWS when ``AWS_ENDPOINT_URL`` is unset."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from s3common.errors import ExitCode, S3BundlerError
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


@dataclass
class ShardRun:
    """One ``s3grouper --shard i/S`` process run here: its exit code and output."""

    index: int
    count: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def line(self) -> str:
        """Its one line: the result on success, the error otherwise."""
        text = self.stdout if self.returncode == 0 else self.stderr
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit {self.returncode}"


def run_grouper_shards(command: list[str], count: int, parallel: int = 0) -> list[ShardRun]:
    """Shards 0..count-1 of the grouper run ``command`` as ``s3grouper --shard i/count``
    processes, ``parallel`` at a time (default: one per CPU, at least 2); each inherits this
    environment (endpoint, credentials). Returns every shard's outcome, in shard order; the
    last shard to finish merges the job summary (s3grouper.merge)."""
    workers = min(count, parallel or max(2, os.cpu_count() or 1))
    env = shard_env(workers)

    def one(index: int) -> ShardRun:
        cmd = [sys.executable, "-m", "s3grouper", *command, "--shard", f"{index}/{count}"]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env
        )
        return ShardRun(index, count, proc.returncode, proc.stdout, proc.stderr)

    with ThreadPoolExecutor(workers, thread_name_prefix="shard") as pool:
        return list(pool.map(one, range(count)))


def shard_env(processes: int) -> dict[str, str]:
    """This environment for one of ``processes`` groupers sharing this machine: Arrow's CPU
    thread pool (sized by ``OMP_NUM_THREADS``) gets this machine's CPUs divided among them,
    unless set already. Two groupers with a pool of every CPU each on 2 CPUs spent ~40 % more
    CPU on 3M rows than one grouper did (8.9 CPU-s with one thread each, 7.9 alone)."""
    env = dict(os.environ)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    env.setdefault("OMP_NUM_THREADS", str(max(1, (cpus or 1) // max(1, processes))))
    return env


def check_shards(manifest: str, runs: list[ShardRun]) -> None:
    """S3BundlerError (the first failed shard's exit code) if any shard failed: the job is
    then incomplete and has no job summary."""
    failed = [r for r in runs if r.returncode != 0]
    if not failed:
        return
    first = failed[0]
    names = " ".join(f"{r.index}/{r.count}" for r in failed)
    try:
        code = ExitCode(first.returncode)
    except ValueError:
        code = ExitCode.AWS
    raise S3BundlerError(
        f"{manifest}: job incomplete, no job summary: {len(runs) - len(failed)} of "
        f"{len(runs)} shards grouped; shard(s) {names} failed, rerun them with "
        f"--shard I/{first.count} (shard {first.index}: {first.line})",
        code,
    )


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
