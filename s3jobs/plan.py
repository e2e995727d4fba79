"""What submitmanifest starts for each inventory: one grouper run, or S shards of it
(``--shards N|auto``, docs/s3grouper.md "Sharding")."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, error_code, read_failed
from s3common.cli import positive_int
from s3common.s3uri import parse_s3_uri
from s3common.submanifest import JobSummary
from s3grouper.download import load_manifest
from s3grouper.shards import auto_shards
from s3jobs.follow import Job

AUTO = "auto"


def shards_arg(text: str) -> int | str:
    """``--shards``: a whole number from 1, or ``auto``."""
    if text.strip().lower() == AUTO:
        return AUTO
    if not text.strip().lstrip("+-").isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number or 'auto': {text!r}")
    return positive_int(text)


@dataclass(frozen=True)
class GrouperTask:
    """One grouper run to start: the whole inventory, or shard ``shard`` of ``shards``."""

    manifest: str
    args: list[str]  # s3grouper's arguments but -m and --shard
    shard: int = 0
    shards: int = 1

    @property
    def unsharded_command(self) -> list[str]:
        return ["-m", self.manifest, *self.args]

    @property
    def command(self) -> list[str]:
        """s3grouper's arguments, ``--shard i/S`` last for a shard."""
        shard = ["--shard", f"{self.shard}/{self.shards}"] if self.shards > 1 else []
        return [*self.unsharded_command, *shard]

    @property
    def label(self) -> str:
        if self.shards == 1:
            return self.manifest
        return f"{self.manifest} shard {self.shard}/{self.shards}"


def grouper_tasks(manifest: str, args: list[str], shards: int) -> list[GrouperTask]:
    """The grouper runs of one inventory: one unsharded, or ``shards`` shards."""
    return [GrouperTask(manifest, args, i, shards) for i in range(shards)]


def shard_count(s3: Any, job: Job, wanted: int | str) -> int:
    """The shard count for ``job``: ``wanted``, or with ``auto`` the count its existing job
    summary was made with (so a rerun matches it), else one shard per
    :data:`s3grouper.shards.FILES_PER_SHARD` data files of the inventory (manifest.json read
    and checksum-verified here), at most :data:`s3grouper.shards.MAX_AUTO_SHARDS`."""
    if wanted != AUTO:
        return int(wanted)
    uri = job.summary_uri
    try:
        data = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except AWS_ERRORS as exc:
        if error_code(exc) not in NOT_FOUND_CODES:
            raise read_failed(uri, exc) from None
    else:
        return JobSummary.from_json(data, str(uri)).shard_count
    manifest = load_manifest(s3, parse_s3_uri(job.inventory))
    return auto_shards(len(manifest.files))
