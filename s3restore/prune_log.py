"""The deletion log of ``s3bundler prune``, in the archive bucket (docs/prune.md)::

    <archive-prefix>/prune/<job name>/<sub-manifest name>/<NNNNNN>.csv         before the send
    <archive-prefix>/prune/<job name>/<sub-manifest name>/<NNNNNN>.result.csv  after the answer

A batch's log (``bucket,key,version_id,etag,size,archive,member``: what is about to be
deleted and where its bytes are kept) is written -- and must be written -- before its
DeleteObjects is sent; its result (``bucket,key,version_id,outcome,code,detail``) after S3
answered. A rerun reads them back (:func:`read_prior`): objects a result says were deleted are
done; objects of a log without a result (a run stopped between the two) are checked again;
everything else is verified afresh. Logs are written with ``If-None-Match: *``: never
overwritten, and a second prune of the same job at the same time fails rather than mixes in.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from s3common.aws import AWS_ERRORS, error_code, read_failed, write_failed
from s3common.csvrows import format_row
from s3common.errors import InputDataError, UploadError
from s3common.s3uri import S3Uri
from s3restore import job_outputs
from s3restore.prune_rules import Row

LOG_COLUMNS = ("bucket", "key", "version_id", "etag", "size", "archive", "member")
RESULT_COLUMNS = ("bucket", "key", "version_id", "outcome", "code", "detail")
_NAME = re.compile(r"(\d{6,})(\.result)?\.csv")

Ident = tuple[str, str, str]  # bucket, key, version ("" when none)


def log_prefix(root: S3Uri, job_name: str, manifest_name: str) -> str:
    """The key prefix of one sub-manifest's logs (ends with ``/``)."""
    return "/".join(p for p in (root.key.strip("/"), "prune", job_name, manifest_name) if p) + "/"


@dataclass
class Prior:
    """What earlier runs did to one sub-manifest's objects."""

    deleted: dict[Ident, int] = field(default_factory=dict)  # -> the batch that deleted it
    unsure: dict[Ident, int] = field(default_factory=dict)  # logged, no result: check again
    batches: int = 0  # the highest batch number used


def _csv(text: str) -> Iterable[list[str]]:
    rows = csv.reader(io.StringIO(text, newline=""))
    next(rows, None)  # header
    return rows


def read_prior(s3: Any, root: S3Uri, prefix: str) -> Prior:
    """The logs under ``prefix`` (one listing; a GET per log)."""
    prior = Prior()
    logs: dict[int, str] = {}
    results: dict[int, str] = {}
    for key, _size in job_outputs.list_keys(s3, root.bucket, prefix):
        match = _NAME.fullmatch(job_outputs.leaf(key))
        if match:
            (results if match.group(2) else logs)[int(match.group(1))] = key
    prior.batches = max([*logs, *results], default=0)
    for number in sorted(logs):
        if number not in results:
            for cells in _csv(_get_text(s3, S3Uri(root.bucket, logs[number]))):
                prior.unsure[_ident(cells, logs[number])] = number
    for number in sorted(results):
        for cells in _csv(_get_text(s3, S3Uri(root.bucket, results[number]))):
            ident = _ident(cells, results[number])
            if cells[3] == "deleted":
                prior.deleted[ident] = number
                prior.unsure.pop(ident, None)
    return prior


def _ident(cells: list[str], key: str) -> Ident:
    if len(cells) < 4:
        raise InputDataError(f"{key}: not a prune log (a row of {len(cells)} cells)")
    return (cells[0], cells[1], cells[2])


def _get_text(s3: Any, uri: S3Uri) -> str:
    data = job_outputs.get_object(s3, uri)
    if data is None:
        raise read_failed(uri, FileNotFoundError("listed, then not found"))
    return data.decode("utf-8")


def log_body(rows: Iterable[Row]) -> bytes:
    lines = [format_row(LOG_COLUMNS)]
    lines += [
        format_row([r.bucket, r.key, r.version_id, r.etag, str(r.size), r.location, r.member])
        for r in rows
    ]
    return "".join(lines).encode("utf-8")


def result_body(results: Iterable[tuple[Row, str, str, str]]) -> bytes:
    """(row, outcome, code, detail) rows."""
    lines = [format_row(RESULT_COLUMNS)]
    lines += [
        format_row([r.bucket, r.key, r.version_id, outcome, code, detail])
        for r, outcome, code, detail in results
    ]
    return "".join(lines).encode("utf-8")


def batch_key(prefix: str, number: int, result: bool = False) -> str:
    return f"{prefix}{number:06d}{'.result' if result else ''}.csv"


def put_log(s3: Any, uri: S3Uri, body: bytes) -> None:
    """Write a log that must not exist yet (UploadError, exit 4, when it cannot be written)."""
    try:
        s3.put_object(
            Bucket=uri.bucket, Key=uri.key, Body=body, ContentType="text/csv", IfNoneMatch="*"
        )
    except AWS_ERRORS as exc:
        if error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            raise UploadError(
                f"cannot write {uri}: it exists already (another prune of this job running?)"
            ) from None
        raise write_failed(uri, exc) from None
