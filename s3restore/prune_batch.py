"""One batch of ``s3bundler prune``: up to ``--batch-size`` candidates HEADed (source, and the
copy of a copied object), checked (s3restore/prune_rules.py), and -- with ``--yes`` -- the
verified ones logged in the archive bucket, then deleted with one DeleteObjects, then the
answer logged (s3restore/prune_log.py). The HEADs come just before the delete, so what is
deleted is what was checked a moment ago; the ETag condition (versionless rows) or the
VersionId (versioned rows) covers the moment in between (docs/prune.md, "The race")."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from s3bundler.catalog import COPIED
from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, describe, error_code, is_transient
from s3common.errors import AwsApiError, DownloadError
from s3common.s3uri import S3Uri, parse_s3_uri
from s3restore.prune_log import Prior, batch_key, log_body, put_log, result_body
from s3restore.prune_report import Report
from s3restore.prune_rules import (
    CHANGED_SINCE_ARCHIVED,
    DELETE,
    DELETED,
    DONE_BEFORE,
    FAILED_DELETE,
    GONE,
    KEPT,
    Row,
    Verdict,
    check_source,
    delete_entry,
    evidence,
)

_CHANGED_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})


def head(s3: Any, bucket: str, key: str, version_id: str = "") -> dict[str, Any] | None:
    """HEAD an object (a version): its response, or None when it is not there; any other
    failure ends the run (DownloadError naming it)."""
    args = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
    try:
        return dict(s3.head_object(**args))
    except AWS_ERRORS as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        version = f" (version {version_id})" if version_id else ""
        raise DownloadError(
            f"cannot HEAD s3://{bucket}/{key}{version}: {describe(exc)}",
            transient=is_transient(exc),
        ) from None


@dataclass
class BatchSettings:
    bucket: str  # the source bucket
    log_bucket: str
    log_prefix: str  # <archive-prefix>/prune/<job>/<sub-manifest>/
    delete: bool  # --yes
    conditional: bool  # send the ETag condition with versionless deletes


class Batches:
    """Checks and deletes one sub-manifest's candidates, batch by batch."""

    def __init__(
        self,
        s3: Any,
        pool: ThreadPoolExecutor,
        settings: BatchSettings,
        prior: Prior,
        report: Report,
    ) -> None:
        self.s3 = s3
        self.pool = pool
        self.settings = settings
        self.prior = prior
        self.report = report

    def process(self, rows: Sequence[Row]) -> None:
        """HEAD, check, and (with --yes) log and delete the verified ones."""
        verdicts = list(self.pool.map(self._check, rows))
        ready: list[tuple[Row, Verdict]] = []
        for row, verdict in zip(rows, verdicts, strict=True):
            if verdict.action == DELETE and self.settings.delete:
                ready.append((row, verdict))
            else:
                self.report.row(row, verdict)
        if ready:
            self._send(ready)

    def _check(self, row: Row) -> Verdict:
        found = head(self.s3, row.bucket, row.key, row.version_id)
        verdict = check_source(row, found)
        if verdict is None and found is not None:
            copy_head = None
            if row.status == COPIED:
                copy = parse_s3_uri(row.copy)
                copy_head = head(self.s3, copy.bucket, copy.key)
            verdict = evidence(row, found, copy_head)
        assert verdict is not None
        batch = self.prior.unsure.get(row.ident)
        if verdict.action == GONE and batch is not None:
            return Verdict(
                DONE_BEFORE,
                detail=f"in batch {batch:06d}, whose answer was not "
                "logged (the run stopped); gone now",
            )
        return verdict

    def _send(self, ready: list[tuple[Row, Verdict]]) -> None:
        settings = self.settings
        self.prior.batches += 1
        number = self.prior.batches
        log = S3Uri(settings.log_bucket, batch_key(settings.log_prefix, number))
        put_log(self.s3, log, log_body(row for row, _ in ready))  # before anything is sent
        self.report.tally.batches += 1
        objects = [delete_entry(row, settings.conditional) for row, _ in ready]
        try:
            answer = self.s3.delete_objects(
                Bucket=settings.bucket, Delete={"Objects": objects, "Quiet": False}
            )
        except AWS_ERRORS as exc:
            raise AwsApiError(
                f"DeleteObjects of {log} failed: {describe(exc)}; some of it may be deleted: "
                "a rerun checks every object it lists again"
            ) from None
        results = outcomes([row for row, _ in ready], answer)
        failed = []
        for (row, verdict), (_, outcome, code, detail) in zip(ready, results, strict=True):
            self.report.row(row, _verdict(verdict, outcome, code, detail), number)
            if outcome == FAILED_DELETE:
                failed.append(f"s3://{row.bucket}/{row.key}: {code}")
        put_log(
            self.s3,
            S3Uri(settings.log_bucket, batch_key(settings.log_prefix, number, True)),
            result_body(results),
        )
        if failed:
            raise AwsApiError(
                f"S3 refused {len(failed)} deletes of {log} (first: {failed[0]}); "
                "stopped; see the report"
            )


def _verdict(checked: Verdict, outcome: str, code: str, detail: str) -> Verdict:
    if outcome == DELETED:
        return Verdict(DELETED, evidence=checked.evidence)
    if outcome == KEPT:
        return Verdict(KEPT, CHANGED_SINCE_ARCHIVED, f"{code}: {detail}", checked.evidence)
    return Verdict(outcome, detail=f"{code}: {detail}".strip(": "), evidence=checked.evidence)


def outcomes(rows: list[Row], answer: dict[str, Any]) -> list[tuple[Row, str, str, str]]:
    """(row, outcome, code, detail) per row from a DeleteObjects answer: ``deleted``; ``kept``
    when the ETag condition failed; ``gone`` when it was not there; else ``failed``."""
    done = {(d["Key"], d.get("VersionId") or "") for d in answer.get("Deleted", [])}
    errors = {(e.get("Key", ""), e.get("VersionId") or ""): e for e in answer.get("Errors", [])}
    out = []
    for row in rows:
        ident = (row.key, row.version_id)
        error = errors.get(ident) or errors.get((row.key, ""))
        if error is not None:
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))
            outcome = (
                KEPT
                if code in _CHANGED_CODES
                else GONE
                if code in NOT_FOUND_CODES
                else FAILED_DELETE
            )
            out.append((row, outcome, code, message))
        elif ident in done or (row.key, "") in done:
            out.append((row, DELETED, "", ""))
        else:
            out.append((row, FAILED_DELETE, "NoAnswer", "not in DeleteObjects' answer"))
    return out
