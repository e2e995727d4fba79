"""The get-back half of ``make demo``: ``s3bundler find`` and ``s3bundler restore`` run as a
user would run them, and the restored bytes compared with the source."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """``s3bundler ARGS`` as a subprocess, echoed like a shell session."""
    print(f"$ s3bundler {shlex.join(args)}")
    proc = subprocess.run(
        [sys.executable, "-m", "s3bundler", *args], capture_output=True, text=True
    )
    for line in (proc.stdout + proc.stderr).splitlines()[:6]:
        print("  " + line)
    return proc


def find_and_restore(out: dict[str, str], source: str, keys: list[str]) -> bool:
    """Find one object, restore it to a file and a batch into S3; compare with the source."""
    s3 = boto3.client("s3")
    catalog = f"s3://{out['ArchiveBucket']}/{out['ArchivePrefix']}"
    key = keys[len(keys) // 2]
    ok = run("find", f"s3://{source}/{key}", "--catalog", catalog).returncode == 0
    original = s3.get_object(Bucket=source, Key=key)["Body"].read()
    with tempfile.TemporaryDirectory(prefix="demo-restore-") as tmp:
        target = Path(tmp) / "restored.bin"
        got = run("restore", f"s3://{source}/{key}", "--catalog", catalog, "-o", str(target))
        same = got.returncode == 0 and target.read_bytes() == original
        print(f"  restored file {'identical to' if same else 'DIFFERENT from'} the source")
        ok &= same
        listing = Path(tmp) / "wanted.csv"
        batch = keys[:50]
        listing.write_text("".join(f"{source},{k}\n" for k in batch))
        back = f"s3://{out['ArchiveBucket']}/restored/"
        got = run("restore", "--from-list", str(listing), "--catalog", catalog, "--to", back,
                  "--no-progress")  # fmt: skip
    ok &= got.returncode == 0 and _same(s3, source, out["ArchiveBucket"], "restored/", batch)
    return ok


def _same(s3: Any, source: str, bucket: str, prefix: str, keys: list[str]) -> bool:
    differ = [
        k for k in keys
        if s3.get_object(Bucket=bucket, Key=prefix + k)["Body"].read()
        != s3.get_object(Bucket=source, Key=k)["Body"].read()
    ]  # fmt: skip
    print(f"  {len(keys) - len(differ)} of {len(keys)} restored objects identical to the source")
    return not differ


def reconcile(out: dict[str, str], summary_key: str) -> bool:
    """``s3bundler reconcile`` of the job: every selected object accounted for."""
    job = f"s3://{out['ManifestBucket']}/{summary_key}"
    catalog = f"s3://{out['ArchiveBucket']}/{out['ArchivePrefix']}"
    with tempfile.TemporaryDirectory(prefix="demo-reconcile-") as tmp:
        report = str(Path(tmp) / "problems.csv")
        got = run("reconcile", job, "--catalog", catalog, "--report", report, "--no-progress")
    return got.returncode == 0
