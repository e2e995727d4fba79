"""Sharding one inventory over several grouper runs (``s3grouper --shard i/S``).

Shard ``i`` of ``S`` takes a deterministic, disjoint subset of the report's data files
(:func:`assign`: largest first, each to the shard with the fewest bytes so far), groups only
those, and names its sub-manifests ``<base>.s<i>-of-<S>.<N>.index``
(:func:`s3common.submanifest.shard_base`). Instead of the job summary it writes a *shard
summary* ``<base>.s<i>-of-<S>.shard.json``; the shards' summaries are merged into the one job
summary by the last shard to finish (:mod:`s3grouper.merge`).
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from s3common import submanifest
from s3common.errors import InputDataError
from s3grouper.inventory import DataFile

SHARD_FORMAT = "s3grouper-shard/1"
SHARD_SUFFIX = ".shard.json"
#: ``--shards auto``: one shard per this many data files ...
FILES_PER_SHARD = 8
#: ... and at most this many shards.
MAX_AUTO_SHARDS = 16

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_LAYOUT_RE = re.compile(r"^(?:(\d+)|s(\d+)-of-(\d+))\.")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (from 0) of ``count`` (at least 2: one shard is an unsharded run)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 2 or not 0 <= self.index < self.count:
            raise ValueError(f"no shard {self.index} of {self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard | None:
        """``"i/S"`` -> Shard; ``"0/1"`` -> None (unsharded). ValueError if malformed."""
        match = _SHARD_RE.match(text)
        if not match:
            raise ValueError(f"expected i/S (e.g. 0/4), got {text!r}")
        index, count = int(match.group(1)), int(match.group(2))
        if count == 1 and index == 0:
            return None
        if count < 1 or index >= count:
            raise ValueError(f"shard {index} of {count}: i must be in 0..S-1")
        return cls(index, count)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def base(self, job_base: str) -> str:
        """The name part of this shard's sub-manifests and shard summary."""
        return submanifest.shard_base(job_base, self.index, self.count)

    def summary_key(self, prefix: str, job_base: str) -> str:
        return shard_summary_key(prefix, job_base, self.index, self.count)

    def files(self, files: Sequence[DataFile]) -> tuple[DataFile, ...]:
        """This shard's data files, in manifest order."""
        return tuple(files[j] for j in assign(files, self.count)[self.index])


def shard_summary_key(prefix: str, job_base: str, index: int, count: int) -> str:
    leaf = submanifest.shard_base(job_base, index, count) + SHARD_SUFFIX
    prefix = prefix.strip("/")
    return f"{prefix}/{leaf}" if prefix else leaf


def layout(rest: str) -> int | None:
    """The shard count of the grouping a key under ``<prefix>/<base>.`` belongs to, from
    ``rest``, the part after that: 1 for ``<N>.index...`` (unsharded), S for
    ``s<i>-of-<S>....``, None for anything else (the job summary)."""
    match = _LAYOUT_RE.match(rest)
    if not match:
        return None
    return 1 if match.group(1) is not None else int(match.group(3))


def assign(files: Sequence[DataFile], count: int) -> list[list[int]]:
    """The data files (their indexes in manifest.json, ascending) of each of ``count`` shards.

    Deterministic from manifest.json alone: files are dealt largest first (``size``, then key),
    each to the shard with the fewest bytes so far (then the fewest files, then the lowest
    number), so shards get about the same number of bytes to read. A file without a size
    counts as 0 bytes, so without sizes this is round robin in key order."""
    order = sorted(range(len(files)), key=lambda j: (-(files[j].size or 0), files[j].key))
    loads = [(0, 0, shard) for shard in range(count)]  # (bytes, files, shard): a heap
    shards: list[list[int]] = [[] for _ in range(count)]
    for j in order:
        size, nfiles, shard = heapq.heappop(loads)
        shards[shard].append(j)
        heapq.heappush(loads, (size + (files[j].size or 0), nfiles + 1, shard))
    return [sorted(members) for members in shards]


def auto_shards(files: int) -> int:
    """``--shards auto``: one shard per FILES_PER_SHARD data files, 1 to MAX_AUTO_SHARDS."""
    return max(1, min(MAX_AUTO_SHARDS, files // FILES_PER_SHARD))


@dataclass
class ShardSummary:
    """What one shard produced (``<base>.s<i>-of-<S>.shard.json``): a job summary's fields for
    its part of the inventory, plus which shard, the run identity (inventory + options) and
    the data files it read. Not a job summary: :meth:`JobSummary.from_json` refuses it."""

    inventory: str
    source_bucket: str
    manifest_bucket: str
    manifest_prefix: str
    base_name: str  # the job's
    options: dict[str, object]
    shard: int
    shards: int
    run: str
    data_files: list[str] = field(default_factory=list)
    manifests: int = 0
    objects: int = 0
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    created: str = ""
    format: str = SHARD_FORMAT

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str, source: str = "shard summary") -> ShardSummary:
        try:
            raw = json.loads(data)
            if raw.get("format") != SHARD_FORMAT:
                raise ValueError(f"unknown format {raw.get('format')!r}")
            return cls(**raw)
        except (ValueError, TypeError, AttributeError) as exc:
            raise InputDataError(f"{source}: not an s3grouper shard summary: {exc}") from None


def merge(parts: Sequence[ShardSummary], created: str) -> submanifest.JobSummary:
    """The job summary of a complete set of shard summaries (shard 0 to S-1, in order, one run):
    the sums of their counts, and the sub-manifests of each shard."""
    first = parts[0]
    if [p.shard for p in parts] != list(range(first.shards)) or any(
        p.shards != first.shards or p.run != first.run for p in parts
    ):
        raise ValueError("not one complete set of shard summaries")
    skipped: dict[str, int] = {}
    for part in parts:
        for reason, n in part.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
    return submanifest.JobSummary(
        inventory=first.inventory,
        source_bucket=first.source_bucket,
        manifest_bucket=first.manifest_bucket,
        manifest_prefix=first.manifest_prefix,
        base_name=first.base_name,
        options=first.options,
        manifests=sum(p.manifests for p in parts),
        objects=sum(p.objects for p in parts),
        bytes=sum(p.bytes for p in parts),
        skipped=skipped,
        created=created,
        shards=[p.manifests for p in parts],
    )
