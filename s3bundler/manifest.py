"""A sub-manifest as the bundler reads it: is it one at all, which rows are good, and what
becomes of the others.

- A document that is one of the bundler's own outputs (an archive index, a DLQ index, a
  completion report, a ``.metadata`` file, an archive) is :class:`NotASubmanifest`: it is never
  bundled, whatever delivered it. Any other document that is neither sub-manifest format is
  ManifestUnreadable (poison: left to the queue's redrive policy).
- A malformed row (bad size, empty key, wrong cell count, not UTF-8) does not cost the other
  rows: it becomes a ``BadManifestRow`` DLQ row naming its line.
- An object listed twice (same bucket, key and version) is archived once, at its first line;
  each repetition becomes a ``DuplicateRow`` DLQ row.

So every row of the document ends in exactly one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from s3bundler import dlq
from s3bundler.dlq import DLQ_COLUMNS
from s3bundler.errors import ManifestUnreadable, NotASubmanifest
from s3bundler.index import INDEX_COLUMNS
from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, error_code, read_failed
from s3common.errors import ExitCode, InputDataError
from s3common.s3uri import S3Uri
from s3common.submanifest import COLUMNS, BadRow, ManifestEntry, manifest_rows

_OWN_HEADERS = {
    ",".join(INDEX_COLUMNS): "an s3bundler archive index",
    ",".join(DLQ_COLUMNS): "an s3bundler DLQ index",
}
_OWN_JSON_FORMATS = ("s3bundler-done/", "s3bundler-job/")


@dataclass(frozen=True)
class Rejected:
    """A row that goes to the DLQ index without being read."""

    entry: ManifestEntry  # as much of the row as could be read
    reason: str
    detail: str


@dataclass
class LoadedManifest:
    entries: list[ManifestEntry] = field(default_factory=list)  # to archive or copy, in order
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.entries) + len(self.rejected)

    @property
    def source_bucket(self) -> str:
        """The bucket the archive is named after: the first good row's."""
        return self.entries[0].bucket if self.entries else ""


def load_manifest(s3: Any, uri: S3Uri, legacy_fields: tuple[str, ...]) -> LoadedManifest:
    """Read and parse a sub-manifest. A manifest that is gone or denied is ManifestUnreadable
    (exit 5, poison); S3 not answering (or answering 5xx) is a transient DownloadError."""
    try:
        data = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except AWS_ERRORS as exc:
        failure = read_failed(uri, exc)
        if failure.transient:
            raise failure from exc
        if error_code(exc) in NOT_FOUND_CODES | {"NoSuchBucket", "AccessDenied", "403"}:
            raise ManifestUnreadable(str(failure), ExitCode.DOWNLOAD) from exc
        raise failure from exc
    return parse_manifest(data, str(uri), legacy_fields)


def parse_manifest(data: bytes, source: str, legacy_fields: tuple[str, ...]) -> LoadedManifest:
    _refuse_own_outputs(data, source)
    text = data.decode("utf-8", "surrogateescape")
    ours = text.split("\n", 1)[0].rstrip("\r") == ",".join(COLUMNS)
    loaded = LoadedManifest()
    first_line: dict[tuple[str, str, str], int] = {}
    try:
        for line, row in manifest_rows(text, source, legacy_fields):
            if isinstance(row, BadRow):
                loaded.rejected.append(_bad_row(row, ours, legacy_fields))
                continue
            if _has_surrogates(row):
                bad = BadRow(line, (row.bucket, row.key), "not UTF-8 text")
                loaded.rejected.append(_rejected(row, dlq.BAD_MANIFEST_ROW, bad))
                continue
            ident = (row.bucket, row.key, row.version_id)
            if ident in first_line:
                detail = f"line {line}: same object as line {first_line[ident]} (archived once)"
                loaded.rejected.append(Rejected(row, dlq.DUPLICATE_ROW, detail))
                continue
            first_line[ident] = line
            loaded.entries.append(row)
    except InputDataError as exc:
        raise ManifestUnreadable(str(exc), ExitCode.INPUT_DATA) from None
    return loaded


def _refuse_own_outputs(data: bytes, source: str) -> None:
    what = ""
    head = data[:4096]
    first = head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    if first in _OWN_HEADERS:
        what = _OWN_HEADERS[first]
    elif head[:2] == b"\x1f\x8b" or head[257:262] == b"ustar":
        what = "an archive"
    elif head.lstrip()[:1] == b"{":
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and (
            str(doc.get("format", "")).startswith(_OWN_JSON_FORMATS) or "copy_key" in doc
        ):
            what = "an s3bundler report or big-object .metadata file"
    if what:
        raise NotASubmanifest(f"{source} is {what}, not a sub-manifest: it is never bundled")


def _has_surrogates(entry: ManifestEntry) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in entry.key + entry.bucket + entry.version_id)


def _bad_row(row: BadRow, ours: bool, legacy_fields: tuple[str, ...]) -> Rejected:
    if ours:
        bucket, key, version = row.cell(0), row.cell(1), row.cell(3)
    else:
        pos = {name: i for i, name in enumerate(legacy_fields)}
        bucket = row.cell(pos["Bucket"])
        key = unquote_plus(row.cell(pos["Key"]))
        version = row.cell(pos["VersionId"]) if "VersionId" in pos else ""
    entry = ManifestEntry(bucket, key, None, version)
    return _rejected(entry, dlq.BAD_MANIFEST_ROW, row)


def _rejected(entry: ManifestEntry, reason: str, row: BadRow) -> Rejected:
    clean = entry._replace(
        bucket=_printable(entry.bucket), key=_printable(entry.key), version_id=entry.version_id
    )
    return Rejected(clean, reason, f"line {row.line}: {row.reason}")


def _printable(text: str) -> str:
    """Cells of a bad row as valid text for the DLQ index (undecodable bytes as U+FFFD)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
