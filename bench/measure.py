"""Run a command as a measured subprocess: wall time, user+system CPU and peak RSS of exactly
that process (and its waited-for children).

On Linux a child's ``ru_maxrss`` includes what it had before ``exec``, i.e. a copy of the
parent, so measuring a child of this (large, benchmark-holding) process directly would report
the parent's size. The command therefore runs under a small wrapper interpreter that starts
it, ``wait4``s it and prints its rusage.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_WRAPPER = """
import json, os, subprocess, sys, time
t0 = time.monotonic()
proc = subprocess.Popen(sys.argv[1:])
_pid, status, usage = os.wait4(proc.pid, 0)
wall = time.monotonic() - t0
print("\\n@@rusage " + json.dumps({"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime,
      "maxrss_kib": usage.ru_maxrss}), file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class Measured:
    """What one measured process did."""

    cmd: list[str]
    returncode: int
    wall: float  # seconds from start to exit (includes interpreter start-up)
    user: float  # CPU seconds
    sys: float
    maxrss_kib: int
    stdout: str
    stderr: str

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    @property
    def peak_rss_mib(self) -> float:
        return self.maxrss_kib / 1024

    def json_out(self) -> dict[str, object]:
        """The last line of stdout that is a JSON object (what bench.clients prints)."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        return {}


def run_measured(
    cmd: list[str], env: dict[str, str], *, check: bool = True, timeout: float | None = None
) -> Measured:
    """Run ``cmd`` under the rusage wrapper (cwd = the repository root)."""
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *cmd],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )
    stderr, _, tail = proc.stderr.rpartition("@@rusage ")
    if not tail:
        raise RuntimeError(f"measuring {cmd[:4]} failed: {proc.stderr[-2000:]}")
    usage = json.loads(tail.splitlines()[0])
    m = Measured(
        cmd=cmd,
        returncode=proc.returncode,
        wall=usage["wall"],
        user=usage["user"],
        sys=usage["sys"],
        maxrss_kib=int(usage["maxrss_kib"]),
        stdout=proc.stdout,
        stderr=stderr.rstrip("\n"),
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:6])} ... exited with {proc.returncode}: {m.stderr[-2000:]}"
        )
    return m
