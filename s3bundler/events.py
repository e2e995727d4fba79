"""The worker's structured log lines: one at the start and one at the end of each manifest,
and one ``ERROR`` line per failure, in ``key=value`` form so CloudWatch Logs metric filters can
count them. These are shown at the default verbosity; everything else is quiet unless -v/-d.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

from s3bundler.dlq import DlqRow
from s3bundler.index import IndexRow
from s3bundler.layout import ManifestOutputs
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry

log = logging.getLogger("s3bundler.events")
log.setLevel(logging.INFO)


def _fmt(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n\\'):
        return json.dumps(text, ensure_ascii=False)
    return text


def line(event: str, fields: Mapping[str, object]) -> str:
    return " ".join([event, *(f"{k}={_fmt(v)}" for k, v in fields.items())])


def manifest_start(
    manifest: S3Uri,
    outputs: ManifestOutputs | None,
    rows: int,
    entries: Sequence[ManifestEntry],
) -> None:
    total = sum(e.size or 0 for e in entries)
    log.info(
        line(
            "manifest_start",
            {
                "manifest": manifest,
                "objects": rows,
                "bytes": total,
                "archive": outputs.archive_uri if outputs else "-",
            },
        )
    )


def manifest_done(fields: Mapping[str, object]) -> None:
    log.info(line("manifest_done", fields))


def manifest_failed(manifest: S3Uri | str, reason: str, detail: str) -> None:
    log.error(line("manifest_failed", {"manifest": manifest, "reason": reason, "detail": detail}))


def object_failed(manifest: S3Uri, row: DlqRow) -> None:
    log.error(
        line(
            "object_failed",
            {
                "reason": row.reason,
                "object": f"s3://{row.bucket}/{row.key}",
                "version_id": row.version_id,
                "manifest": manifest,
                "detail": row.detail,
            },
        )
    )


def object_copied(row: IndexRow, target: S3Uri) -> None:
    logging.getLogger("s3bundler.copier").info(
        line("object_copied", {"object": f"s3://{row.bucket}/{row.key}", "to": target})
    )


def message_failed(message_id: str, reason: str, detail: str) -> None:
    log.error(
        line("message_failed", {"message_id": message_id, "reason": reason, "detail": detail})
    )


def message_ignored(message_id: str, detail: str) -> None:
    log.warning(line("message_ignored", {"message_id": message_id, "detail": detail}))
