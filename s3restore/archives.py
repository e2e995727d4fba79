"""An archive and its index as a user names them, and what the get-back commands read about
them: the index rows, the archive's size, ETag and sub-manifest, the sub-manifest's DLQ index.

An archive ``<base>.tar``, ``<base>.tar.gz`` or ``<base>.tar.zst`` has its index at
``<base>.index`` (docs/formats.md, "Bundler outputs"); either URI names the pair. Named by its
index, the archive is ``.tar`` when the index rows have no compressed coordinates
(``gz_offset``), else the ``.tar.gz`` or ``.tar.zst`` there is (both: the newer, which the index
was written after; the bundler deletes the older once the index is in).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from s3bundler.codecs import ARCHIVE_EXTENSIONS, CODECS, PLAIN_EXTENSION, Codec, codec_of
from s3bundler.dlq import DlqRow, read_dlq
from s3bundler.index import IndexRow, read_index
from s3bundler.layout import MANIFEST_METADATA, dlq_uri
from s3common.aws import AWS_ERRORS, NOT_FOUND_CODES, error_code, read_failed
from s3common.errors import InputDataError
from s3common.s3uri import S3Uri, parse_s3_uri

ARCHIVE_SUFFIXES = ARCHIVE_EXTENSIONS
INDEX_SUFFIX = ".index"


@dataclass(frozen=True)
class ArchiveRef:
    """An archive's index, and the archive when the user named it (None: named by its
    index)."""

    index: S3Uri
    archive: S3Uri | None = None


def parse_archive_ref(text: str) -> ArchiveRef:
    """``s3://b/<base>.tar``, ``.tar.gz``, ``.tar.zst`` or ``.index`` -> ArchiveRef;
    ValueError otherwise."""
    uri = parse_s3_uri(text)
    if uri.key.endswith(INDEX_SUFFIX):
        return ArchiveRef(uri)
    for suffix in ARCHIVE_SUFFIXES:
        if uri.key.endswith(suffix):
            return ArchiveRef(S3Uri(uri.bucket, uri.key[: -len(suffix)] + INDEX_SUFFIX), uri)
    raise ValueError(f"not an archive or index URI (.tar, .tar.gz, .tar.zst or .index): {text!r}")


def archive_ref_arg(text: str) -> ArchiveRef:
    """argparse ``type=`` for ARCHIVE_URI."""
    try:
        return parse_archive_ref(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def load_index(s3: Any, uri: S3Uri) -> list[IndexRow]:
    """The index rows, in archive order: DownloadError if it cannot be read, InputDataError if
    it is not an index or a row has no place in the archive."""
    try:
        data = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except AWS_ERRORS as exc:
        raise read_failed(uri, exc) from exc
    try:
        rows = list(read_index(data))
    except (ValueError, TypeError, csv.Error) as exc:  # header, UTF-8, number, JSON, cells
        raise InputDataError(f"{uri}: not a readable s3bundler index: {exc}") from None
    for n, row in enumerate(rows, start=2):
        if row.offset is None or row.header_offset is None or not row.member:
            raise InputDataError(f"{uri}: line {n}: no member, offset or header_offset")
    return rows


@dataclass(frozen=True)
class ArchiveHead:
    """What a HEAD of the archive says."""

    uri: S3Uri
    size: int
    etag: str
    manifest: S3Uri | None  # the sub-manifest it holds (x-amz-meta-s3bundler-manifest)

    @property
    def codec(self) -> Codec | None:
        """None: a plain .tar."""
        return codec_of(self.uri.key)


def head_archive(s3: Any, ref: ArchiveRef, rows: list[IndexRow]) -> ArchiveHead:
    """The archive of ``ref`` (found from the index rows when it was named by its index)."""
    base = S3Uri(ref.index.bucket, ref.index.key[: -len(INDEX_SUFFIX)])
    if ref.archive is not None:
        uri, resp = ref.archive, _head(s3, ref.archive)
    elif not any(r.gz_offset is not None for r in rows):
        uri = S3Uri(base.bucket, base.key + PLAIN_EXTENSION)
        resp = _head(s3, uri)
    else:
        uri, resp = _compressed_archive(s3, base)
    tag = (resp.get("Metadata") or {}).get(MANIFEST_METADATA, "")
    try:
        manifest = parse_s3_uri(unquote(tag)) if tag else None
    except ValueError:
        manifest = None
    return ArchiveHead(uri, int(resp["ContentLength"]), resp.get("ETag", ""), manifest)


def _head(s3: Any, uri: S3Uri) -> dict[str, Any]:
    try:
        return dict(s3.head_object(Bucket=uri.bucket, Key=uri.key))
    except AWS_ERRORS as exc:
        raise read_failed(uri, exc) from exc


def _compressed_archive(s3: Any, base: S3Uri) -> tuple[S3Uri, dict[str, Any]]:
    """The compressed archive beside an index (every codec's key asked for): the one there
    is; when both are (a worker stopped between writing the index and deleting the other
    compression's archive), the newer."""
    found, missing = [], None
    for codec in CODECS.values():
        uri = S3Uri(base.bucket, base.key + codec.extension)
        try:
            resp = dict(s3.head_object(Bucket=uri.bucket, Key=uri.key))
        except AWS_ERRORS as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise read_failed(uri, exc) from exc
            missing = missing or (uri, exc)
            continue
        found.append((resp.get("LastModified") is not None, resp.get("LastModified"), uri, resp))
    if not found:
        assert missing is not None
        raise read_failed(missing[0], missing[1])
    newest = max(found, key=lambda f: f[:2])
    return newest[2], newest[3]


def load_dlq(s3: Any, manifest: S3Uri) -> tuple[S3Uri, list[DlqRow] | None]:
    """The sub-manifest's DLQ index and its rows (None: there is none)."""
    uri = dlq_uri(manifest)
    try:
        data = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except AWS_ERRORS as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return uri, None
        raise read_failed(uri, exc) from exc
    try:
        return uri, list(read_dlq(data))
    except (ValueError, TypeError, csv.Error) as exc:
        raise InputDataError(f"{uri}: not a readable DLQ index: {exc}") from None
