"""The sub-manifest: the one definition of the grouper -> bundler contract (docs/formats.md).

A sub-manifest is CSV (RFC 4180, Python ``csv`` quoting) with one header row::

    bucket,key,size,version_id,etag,last_modified,storage_class,is_multipart

then one row per object, keys stored decoded. Empty cells mean the inventory lacked the field.
The header cannot be mistaken for data: the original s3grouper's format is headerless
``Bucket,Key,Size`` rows with URL-encoded keys and a numeric third field, which
:func:`read_manifest` also accepts.

Keys of sub-manifests: ``<prefix>/<name>.<N>.index``; the job summary sits beside them as
``<prefix>/<name>.job.json``.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, NamedTuple
from urllib.parse import unquote_plus

from s3common.csvrows import CsvWriter
from s3common.errors import InputDataError

COLUMNS: tuple[str, ...] = (
    "bucket",
    "key",
    "size",
    "version_id",
    "etag",
    "last_modified",
    "storage_class",
    "is_multipart",
)
HEADER_LINE = ",".join(COLUMNS)
INDEX_SUFFIX = ".index"
JOB_SUFFIX = ".job.json"
JOB_FORMAT = "s3bundler-job/1"


class ManifestEntry(NamedTuple):
    """One object to bundle. ``size`` is None when the inventory had no Size field."""

    bucket: str
    key: str
    size: int | None
    version_id: str = ""
    etag: str = ""
    last_modified: str = ""
    storage_class: str = ""
    is_multipart: bool | None = None


def _bool_cell(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def entry_row(entry: ManifestEntry) -> tuple[str, ...]:
    """The CSV cells of one entry, in :data:`COLUMNS` order."""
    return (
        entry.bucket,
        entry.key,
        "" if entry.size is None else str(entry.size),
        entry.version_id,
        entry.etag,
        entry.last_modified,
        entry.storage_class,
        _bool_cell(entry.is_multipart),
    )


def write_rows(out: IO[str], rows: Iterable[Iterable[str]]) -> None:
    """Write the header and already-formatted rows (cells in :data:`COLUMNS` order) to a text
    stream opened with ``newline=''``. The grouper uses this directly for speed."""
    writer = CsvWriter(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)


def encode_manifest(entries: Iterable[ManifestEntry]) -> bytes:
    """A whole sub-manifest as UTF-8 bytes."""
    buf = io.StringIO(newline="")
    write_rows(buf, (entry_row(e) for e in entries))
    return buf.getvalue().encode("utf-8")


def _parse_size(cell: str, where: str) -> int | None:
    if cell == "":
        return None
    try:
        size = int(cell)
    except ValueError:
        raise InputDataError(f"{where}: size is not a number: {cell!r}") from None
    if size < 0:
        raise InputDataError(f"{where}: size is negative: {cell!r}")
    return size


def _parse_bool(cell: str, where: str) -> bool | None:
    lowered = cell.lower()
    if lowered == "":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    raise InputDataError(f"{where}: is_multipart is not true/false: {cell!r}")


LEGACY_FIELDS: tuple[str, ...] = ("Bucket", "Key", "Size")


def read_manifest(
    data: bytes | str,
    source: str = "sub-manifest",
    legacy_fields: tuple[str, ...] = LEGACY_FIELDS,
) -> Iterator[ManifestEntry]:
    """Parse a sub-manifest of either format. ``source`` names it in error messages;
    ``legacy_fields`` names the columns of a headerless original-format manifest (s3bundler's
    ``-f``; it must include Bucket and Key).

    Raises InputDataError on a malformed row (wrong number of cells, non-numeric size)."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    reader = csv.reader(io.StringIO(text, newline=""))
    first = next(reader, None)
    if first is None:
        return
    if tuple(first) == COLUMNS:
        yield from _read_ours(reader, source)
    else:
        yield from _read_legacy(first, reader, source, legacy_fields)


def _read_ours(reader: Iterator[list[str]], source: str) -> Iterator[ManifestEntry]:
    ncols = len(COLUMNS)
    for lineno, row in enumerate(reader, start=2):
        if not row:
            continue
        where = f"{source} row {lineno}"
        if len(row) != ncols:
            raise InputDataError(f"{where}: expected {ncols} cells, got {len(row)}")
        bucket, key, size, version_id, etag, last_modified, storage_class, multipart = row
        if not bucket or not key:
            raise InputDataError(f"{where}: empty bucket or key")
        yield ManifestEntry(
            bucket,
            key,
            _parse_size(size, where),
            version_id,
            etag,
            last_modified,
            storage_class,
            _parse_bool(multipart, where),
        )


def _read_legacy(
    first: list[str], reader: Iterator[list[str]], source: str, fields: tuple[str, ...]
) -> Iterator[ManifestEntry]:
    """The original s3grouper's headerless rows (``Bucket,Key,Size``), keys URL-encoded."""
    if "Bucket" not in fields or "Key" not in fields:
        raise InputDataError(f"{source}: legacy field names must include Bucket and Key")
    pos = {name: i for i, name in enumerate(fields)}
    rows = _chain_first(first, reader)
    for lineno, row in enumerate(rows, start=1):
        if not row:
            continue
        where = f"{source} row {lineno}"
        if len(row) != len(fields):
            raise InputDataError(
                f"{where}: neither an s3bundler sub-manifest (header {HEADER_LINE!r}) nor a "
                f"legacy {','.join(fields)} row ({len(row)} cells)"
            )

        def cell(name: str, row: list[str] = row) -> str:
            return row[pos[name]] if name in pos else ""

        yield ManifestEntry(
            cell("Bucket"),
            unquote_plus(cell("Key")),
            _parse_size(cell("Size"), where),
            version_id=cell("VersionId"),
            etag=cell("ETag"),
            last_modified=cell("LastModifiedDate"),
            storage_class=cell("StorageClass"),
        )


def _chain_first(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


# --- names and keys --------------------------------------------------------------------------


def base_name(inventory_manifest_key: str, name: str = "manifest") -> str:
    """The sub-manifests' common name: the inventory manifest key's folders joined by ``-``,
    then ``-<name>`` (as the original s3grouper)::

        inv/src/cfg/2024-01-01T00-00Z/manifest.json -> inv-src-cfg-2024-01-01T00-00Z-manifest
    """
    folders = [p for p in inventory_manifest_key.split("/")[:-1] if p]
    return "-".join([*folders, name])


def _join(prefix: str, leaf: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{leaf}" if prefix else leaf


def submanifest_key(prefix: str, base: str, number: int) -> str:
    return _join(prefix, f"{base}.{number}{INDEX_SUFFIX}")


def job_summary_key(prefix: str, base: str) -> str:
    return _join(prefix, f"{base}{JOB_SUFFIX}")


def manifest_name(key: str) -> str:
    """The name a bundler gives a sub-manifest's outputs: its file name without ``.index``
    (``p/x-manifest.3.index`` -> ``x-manifest.3``); a name ending in a digit is kept whole, as
    the original did."""
    leaf = posixpath.basename(key)
    if leaf[-1:].isdigit():
        return leaf
    root, _ext = posixpath.splitext(leaf)
    return root or leaf


# --- job summary -----------------------------------------------------------------------------


@dataclass
class JobSummary:
    """What one grouper run produced; the denominator for progress. Stored as JSON beside the
    sub-manifests at :func:`job_summary_key`."""

    inventory: str
    source_bucket: str
    manifest_bucket: str
    manifest_prefix: str
    base_name: str
    options: dict[str, object]
    manifests: int = 0
    objects: int = 0
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    created: str = ""
    format: str = JOB_FORMAT

    def manifest_keys(self) -> list[str]:
        return [
            submanifest_key(self.manifest_prefix, self.base_name, n) for n in range(self.manifests)
        ]

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str, source: str = "job summary") -> JobSummary:
        try:
            raw = json.loads(data)
            if raw.get("format") != JOB_FORMAT:
                raise ValueError(f"unknown format {raw.get('format')!r}")
            return cls(**raw)
        except (ValueError, TypeError, AttributeError) as exc:
            raise InputDataError(f"{source}: not an s3bundler job summary: {exc}") from None
