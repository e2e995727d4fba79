"""A sharded job's one job summary, merged from its shards' summaries (docs/s3grouper.md,
"Sharding").

Each shard writes its shard summary once its sub-manifests are published, then reads all S
shard summaries: if every one is there and of the same run (inventory + options), it merges
them and writes the job summary. The shard whose summary is written last sees all of them (S3
lists and reads after a completed write are strongly consistent), so some shard always merges;
two shards finishing together may both merge, and the write is conditional
(``If-None-Match: *``): one creates the job summary, the other finds it there and checks that it
is the same document (the merge is a pure function of the S shard summaries). A shard that
fails writes no shard summary, so no job summary claims a job that is not complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, error_code, read_failed, write_failed
from s3common.errors import UploadError, UsageError
from s3common.s3uri import S3Uri
from s3common.submanifest import JobSummary, job_summary_key
from s3grouper import shards
from s3grouper.shards import Shard, ShardSummary
from s3grouper.writer import RUN_METADATA, option_changes, same_summary

log = logging.getLogger(__name__)

READERS = 8  # shard summaries read at once
DELETERS = 16  # another grouping's keys deleted at once (--force)
#: A conditional write lost to another: 412, or 409 while the other's write is in flight.
CONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


@dataclass
class Merged:
    """The outcome of a merge attempt: the job summary, or the shards it still waits for."""

    job: JobSummary | None
    waiting: list[int]
    written: bool = False


class JobMerge:
    """The job-level side of one shard's run: checks against the job and the other shards
    before anything is written, and the merge at the end."""

    def __init__(
        self, s3: Any, bucket: str, prefix: str, job_base: str, shard: Shard, run: str,
        force: bool = False,
    ) -> None:  # fmt: skip
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.job_base = job_base
        self.shard = shard
        self.run = run
        self.force = force
        self.job_key = job_summary_key(self.prefix, job_base)
        self.previous: JobSummary | None = None  # the job summary found by check()
        self._want: tuple[str, dict[str, object]] = ("", {})  # this run's inventory, options
        self._stale: list[str] = []  # other groupings' key prefixes (deleted with --force)

    def uri(self, key: str) -> S3Uri:
        return S3Uri(self.bucket, key)

    # -- before anything is written ------------------------------------------------------------
    def check(self, inventory: str, options: dict[str, object]) -> None:
        """Refuse (UsageError) to mix this shard's output with another grouping of the same
        name: a job summary, another shard's summary or sub-manifests made with other options
        or another shard count. With ``force`` they are noted, and replaced once this shard
        has published (:meth:`clear_stale`)."""
        problems = []
        self._want = (inventory, options)
        self.previous = self._read(self.job_key, JobSummary.from_json)
        if self.previous is not None:
            why = _differences(self.previous.inventory, self.previous.options, inventory, options)
            if not why and self.previous.shard_count != self.shard.count:
                why = [f"shards: {self.previous.shard_count} -> {self.shard.count}"]
            if why:
                problems.append(f"{self.uri(self.job_key)}: made with different options ({why})")
        for index, other in enumerate(self.shard_summaries()):
            if index == self.shard.index or other is None:
                continue  # this shard's own summary: the writer checks it
            why = _differences(other.inventory, other.options, inventory, options)
            if why:
                key = self.shard_key(index)
                problems.append(f"{self.uri(key)}: made with different options ({why})")
        self._stale = self._other_groupings()
        if self._stale:
            problems.append(
                f"{self.uri(self._stale[0])}*: sub-manifests of a grouping with another shard "
                f"count (this run is shard {self.shard.label})"
            )
        if problems and not self.force:
            raise UsageError(f"{problems[0]}; use --force to regroup")

    def shard_key(self, index: int) -> str:
        return shards.shard_summary_key(self.prefix, self.job_base, index, self.shard.count)

    def shard_summaries(self) -> list[ShardSummary | None]:
        """Every shard's summary (None where there is none), in shard order."""
        keys = [self.shard_key(i) for i in range(self.shard.count)]
        with ThreadPoolExecutor(min(READERS, len(keys)), thread_name_prefix="shards") as pool:
            return list(pool.map(lambda k: self._read(k, ShardSummary.from_json), keys))

    def _read(self, key: str, parse: Callable[[bytes, str], Any]) -> Any:
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except AWS_ERRORS as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise read_failed(self.uri(key), exc) from None
        return parse(data, str(self.uri(key)))

    def _other_groupings(self) -> list[str]:
        """Key prefixes ``<base>.<N>.`` (unsharded) and ``<base>.s<i>-of-<T>.`` (T != this
        shard count) under the job's name: one delimited listing, a page in the usual case."""
        head = f"{self.prefix}/{self.job_base}." if self.prefix else f"{self.job_base}."
        found = []
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=head, Delimiter="."
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    count = shards.layout(common["Prefix"][len(head) :])
                    if count is not None and count != self.shard.count:
                        found.append(common["Prefix"])
        except AWS_ERRORS as exc:
            raise read_failed(self.uri(head), exc) from None
        return found

    # -- after publishing ----------------------------------------------------------------------
    def clear_stale(self) -> list[str]:
        """With ``force``, once this shard has published: delete the sub-manifests and shard
        summaries of groupings with another shard count, and a job summary that is not of this
        run (the merge writes this run's). Returns the keys deleted."""
        if not self.force:
            return []
        keys = []
        for head in self._stale:
            keys += [k for k in self._list(head) if k.endswith((".index", shards.SHARD_SUFFIX))]
        if self.previous is not None and (
            self.previous.shard_count != self.shard.count
            or _differences(self.previous.inventory, self.previous.options, *self._want)
        ):
            keys.append(self.job_key)
        if keys:
            with ThreadPoolExecutor(min(DELETERS, len(keys)), thread_name_prefix="stale") as pool:
                list(pool.map(self._delete, keys))  # the first failure, raised
        return keys

    def _delete(self, key: str) -> None:
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except AWS_ERRORS as exc:
            raise write_failed(self.uri(key), exc) from None
        log.warning("%s: deleted, left over from another grouping", self.uri(key))

    def _list(self, head: str) -> list[str]:
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=head
            )
            return [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        except AWS_ERRORS as exc:
            raise read_failed(self.uri(head), exc) from None

    def merge(self) -> Merged:
        """Merge the shard summaries into the job summary if all S are there and of this run;
        write it unless the same one is there already."""
        parts = self.shard_summaries()
        waiting = [
            i for i, p in enumerate(parts)
            if p is None or p.run != self.run or p.shards != self.shard.count
        ]  # fmt: skip
        if waiting:
            return Merged(None, waiting)
        created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        job = shards.merge([p for p in parts if p is not None], created)
        existing = self._read(self.job_key, JobSummary.from_json)
        if existing is not None and same_summary(existing, job):
            return Merged(existing, [])
        if existing is not None and not self.force:
            raise UploadError(f"{self.uri(self.job_key)}: another grouping's job summary is there")
        return Merged(*self._write(job, conditional=existing is None))

    def _write(self, job: JobSummary, conditional: bool) -> tuple[JobSummary, list[int], bool]:
        extra = {"IfNoneMatch": "*"} if conditional else {}
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=self.job_key, Body=job.to_json(),
                ContentType="application/json", Metadata={RUN_METADATA: self.run}, **extra,
            )  # fmt: skip
        except AWS_ERRORS as exc:
            if error_code(exc) not in CONDITION_CODES:
                raise write_failed(self.uri(self.job_key), exc) from None
            # Another shard merged first (or is writing now): it must be the same document.
            theirs = self._read(self.job_key, JobSummary.from_json)
            if theirs is None or not same_summary(theirs, job):
                raise UploadError(
                    f"{self.uri(self.job_key)}: written meanwhile by another run, and not this "
                    f"run's merge ({error_code(exc)}); rerun this shard"
                ) from None
            return theirs, [], False
        return job, [], True


def _differences(
    inventory: str, options: dict[str, object], want_inventory: str, want: dict[str, object]
) -> str:
    changes = option_changes(options, want)
    if inventory != want_inventory:
        changes.insert(0, f"inventory: {inventory} -> {want_inventory}")
    return "; ".join(changes)
