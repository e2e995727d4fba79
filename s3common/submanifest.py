"""The sub-manifest: the one definition of the grouper -> bundler contract (docs/formats.md).

A sub-manifest is CSV (RFC 4180, Python ``csv`` quoting) with one header row::

    bucket,key,size,version_id,etag,last_modified,storage_class,is_multipart

then one row per object, keys stored decoded. Empty cells mean the inventory lacked the field.
The header cannot be mistaken for data: the original s3grouper's format is headerless
``Bucket,Key,Size`` rows with URL-encoded keys and a numeric third field, which
:func:`read_manifest` also accepts.

Keys of sub-manifests: ``<prefix>/<name>.<N>.index`` (a sharded job's:
``<prefix>/<name>.s<i>-of-<S>.<N>.index``); the job summary sits beside them as
``<prefix>/<name>.job.json``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import posixpath
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, Any, NamedTuple
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
#: A sharded job's summary (it has ``shards``): readers that know only /1 refuse it rather
#: than list the wrong sub-manifest keys.
SHARDED_JOB_FORMAT = "s3bundler-job/2"
JOB_FORMATS = (JOB_FORMAT, SHARDED_JOB_FORMAT)


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


def _parse_size(cell: str) -> int | None:
    if cell == "":
        return None
    if not cell.isascii() or not cell.isdigit():
        if cell.startswith("-") and cell[1:].isdigit():
            raise InputDataError(f"size is negative: {cell!r}")
        raise InputDataError(f"size is not a number: {cell!r}")
    return int(cell)


def _parse_bool(cell: str) -> bool | None:
    lowered = cell.lower()
    if lowered == "":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    raise InputDataError(f"is_multipart is not true/false: {cell!r}")


LEGACY_FIELDS: tuple[str, ...] = ("Bucket", "Key", "Size")


@dataclass(frozen=True)
class BadRow:
    """A row that is not a valid sub-manifest row: where it is, its cells, and why."""

    line: int  # physical line where the row starts (the header is line 1 of our format)
    cells: tuple[str, ...]
    reason: str  # "size is not a number: 'abc'", ...

    def cell(self, index: int) -> str:
        return self.cells[index] if index < len(self.cells) else ""


def manifest_rows(
    data: bytes | str,
    source: str = "sub-manifest",
    legacy_fields: tuple[str, ...] = LEGACY_FIELDS,
) -> Iterator[tuple[int, ManifestEntry | BadRow]]:
    """Every row of a sub-manifest of either format with the line it starts on; a malformed
    row comes as a :class:`BadRow` (the rows around it are still read). Raises
    InputDataError only when the document is neither format: its first row is not our header
    and not a well-formed legacy row. ``legacy_fields`` names the columns of a headerless
    original-format manifest (s3bundler's ``-f``; it must include Bucket and Key)."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = _numbered(reader)
    first = next(rows, None)
    if first is None:
        return
    line, cells = first
    if tuple(cells) == COLUMNS:
        parse = _parse_ours
    else:
        if "Bucket" not in legacy_fields or "Key" not in legacy_fields:
            raise InputDataError(f"{source}: legacy field names must include Bucket and Key")
        parse = functools.partial(_parse_legacy, {n: i for i, n in enumerate(legacy_fields)})
        head = _row(parse, line, cells)
        if isinstance(head, BadRow):
            raise InputDataError(f"{source} row {line}: {head.reason}")
        yield line, head
    for line, cells in rows:
        if cells:
            yield line, _row(parse, line, cells)


def read_manifest(
    data: bytes | str,
    source: str = "sub-manifest",
    legacy_fields: tuple[str, ...] = LEGACY_FIELDS,
) -> Iterator[ManifestEntry]:
    """The entries of a sub-manifest, strictly: InputDataError naming ``source`` and the row
    at the first malformed row (see :func:`manifest_rows` for a reader that goes on)."""
    for line, row in manifest_rows(data, source, legacy_fields):
        if isinstance(row, BadRow):
            raise InputDataError(f"{source} row {line}: {row.reason}")
        yield row


def _numbered(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(line the row starts on, cells): rows with quoted newlines span several lines."""
    end = 0
    for cells in reader:
        yield end + 1, cells
        end = reader.line_num


def _row(parse: Callable[[list[str]], ManifestEntry], line: int, cells: list[str]) -> Any:
    try:
        return parse(cells)
    except InputDataError as exc:
        return BadRow(line, tuple(cells), str(exc))


def _parse_ours(row: list[str]) -> ManifestEntry:
    ncols = len(COLUMNS)
    if len(row) != ncols:
        raise InputDataError(f"expected {ncols} cells, got {len(row)}")
    bucket, key, size, version_id, etag, last_modified, storage_class, multipart = row
    if not bucket or not key:
        raise InputDataError("empty bucket or key")
    return ManifestEntry(
        bucket,
        key,
        _parse_size(size),
        version_id,
        etag,
        last_modified,
        storage_class,
        _parse_bool(multipart),
    )


def _parse_legacy(pos: dict[str, int], row: list[str]) -> ManifestEntry:
    """The original s3grouper's headerless rows (``Bucket,Key,Size``), keys URL-encoded."""
    if len(row) != len(pos):
        raise InputDataError(
            f"neither an s3bundler sub-manifest (header {HEADER_LINE!r}) nor a legacy "
            f"{','.join(pos)} row ({len(row)} cells)"
        )

    def cell(name: str) -> str:
        return row[pos[name]] if name in pos else ""

    if not cell("Bucket") or not cell("Key"):
        raise InputDataError("empty bucket or key")
    return ManifestEntry(
        cell("Bucket"),
        unquote_plus(cell("Key")),
        _parse_size(cell("Size")),
        version_id=cell("VersionId"),
        etag=cell("ETag"),
        last_modified=cell("LastModifiedDate"),
        storage_class=cell("StorageClass"),
    )


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


def shard_base(base: str, index: int, count: int) -> str:
    """The name of shard ``index`` (from 0) of ``count``: its sub-manifests are
    ``<prefix>/<base>.s<index>-of-<count>.<N>.index`` (the bundler names archives after that)."""
    return f"{base}.s{index}-of-{count}"


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
    sub-manifests at :func:`job_summary_key`.

    A sharded job (``s3grouper --shard i/S``) is still one summary, merged from its shards'
    summaries: the totals are the whole job's, and ``shards`` holds the number of
    sub-manifests of each shard (shard ``i``'s are named after :func:`shard_base`). None (and
    absent from the JSON, format /1) for an unsharded job."""

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
    shards: list[int] | None = None  # sharded: sub-manifests of each shard, in shard order

    def __post_init__(self) -> None:
        self.format = JOB_FORMAT if self.shards is None else SHARDED_JOB_FORMAT

    @property
    def shard_count(self) -> int:
        """How many grouper shards made the job (1: unsharded)."""
        return 1 if self.shards is None else len(self.shards)

    def manifest_keys(self) -> list[str]:
        """Every sub-manifest of the job: shard by shard, each numbered from 0."""
        if self.shards is None:
            return [
                submanifest_key(self.manifest_prefix, self.base_name, n)
                for n in range(self.manifests)
            ]
        count = len(self.shards)
        return [
            submanifest_key(self.manifest_prefix, shard_base(self.base_name, i, count), n)
            for i, manifests in enumerate(self.shards)
            for n in range(manifests)
        ]

    def to_json(self) -> bytes:
        raw = asdict(self)
        if self.shards is None:
            del raw["shards"]  # an unsharded summary is exactly what format /1 always was
        return (json.dumps(raw, indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str, source: str = "job summary") -> JobSummary:
        try:
            raw = json.loads(data)
            if raw.get("format") not in JOB_FORMATS:
                raise ValueError(f"unknown format {raw.get('format')!r}")
            if (raw["format"] == SHARDED_JOB_FORMAT) != isinstance(raw.get("shards"), list):
                raise ValueError("'shards' must be a list exactly in format " + SHARDED_JOB_FORMAT)
            summary = cls(**raw)
            if summary.shards is not None and sum(summary.shards) != summary.manifests:
                raise ValueError(f"shards {summary.shards} do not add up to {summary.manifests}")
            return summary
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise InputDataError(f"{source}: not an s3bundler job summary: {exc}") from None
