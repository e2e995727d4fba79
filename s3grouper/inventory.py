"""S3 Inventory reports: the manifest.json, its field names, and its list of data files.

Pure parsing; fetching from S3 lives in :mod:`s3grouper.download`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from s3common.errors import InputDataError
from s3common.s3uri import S3Uri, bucket_from_arn_or_name

#: Every inventory field: (CSV fileSchema name, ORC/Parquet column name). The snake names are the
#: vocabulary used everywhere inside s3grouper.
FIELDS: tuple[tuple[str, str], ...] = (
    ("Bucket", "bucket"),
    ("Key", "key"),
    ("VersionId", "version_id"),
    ("IsLatest", "is_latest"),
    ("IsDeleteMarker", "is_delete_marker"),
    ("Size", "size"),
    ("LastModifiedDate", "last_modified_date"),
    ("ETag", "e_tag"),
    ("StorageClass", "storage_class"),
    ("IsMultipartUploaded", "is_multipart_uploaded"),
    ("ReplicationStatus", "replication_status"),
    ("EncryptionStatus", "encryption_status"),
    ("ObjectLockRetainUntilDate", "object_lock_retain_until_date"),
    ("ObjectLockMode", "object_lock_mode"),
    ("ObjectLockLegalHoldStatus", "object_lock_legal_hold_status"),
    ("IntelligentTieringAccessTier", "intelligent_tiering_access_tier"),
    ("BucketKeyStatus", "bucket_key_status"),
    ("ChecksumAlgorithm", "checksum_algorithm"),
    ("ObjectAccessControlList", "object_access_control_list"),
    ("ObjectOwner", "object_owner"),
)
CSV_TO_SNAKE: dict[str, str] = dict(FIELDS)
SNAKE_TO_CSV: dict[str, str] = {snake: csv for csv, snake in FIELDS}

FORMATS = ("CSV", "ORC", "Parquet")

_PARQUET_FIELD_RE = re.compile(r"\b(?:required|optional|repeated)\s+\w+\s+(\w+)")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def csv_name(field: str) -> str:
    """The CSV/manifest name of a snake field name, for messages (``size`` -> ``Size``)."""
    return SNAKE_TO_CSV.get(field, field)


@dataclass(frozen=True)
class DataFile:
    """One data file of the report, as listed in manifest.json."""

    key: str
    md5: str
    size: int | None = None


@dataclass(frozen=True)
class InventoryManifest:
    """A parsed manifest.json. ``columns`` are snake names in the report's column order."""

    uri: S3Uri
    source_bucket: str
    data_bucket: str
    file_format: str
    columns: tuple[str, ...]
    files: tuple[DataFile, ...]

    def has(self, field: str) -> bool:
        return field in self.columns


def checksum_key(manifest_key: str) -> str:
    """``.../manifest.json`` -> ``.../manifest.checksum`` (written beside it by S3)."""
    stem = manifest_key[: -len(".json")] if manifest_key.endswith(".json") else manifest_key
    return f"{stem}.checksum"


def verify_checksum(data: bytes, checksum: bytes, uri: S3Uri) -> None:
    """Check manifest.json against the hex MD5 in manifest.checksum."""
    want = checksum.decode("ascii", "replace").strip().lower()
    got = hashlib.md5(data).hexdigest()
    if want != got:
        raise InputDataError(f"{uri}: MD5 {got} does not match manifest.checksum {want!r}")


def parse_manifest(data: bytes, uri: S3Uri) -> InventoryManifest:
    """Validate and parse manifest.json; raise InputDataError naming ``uri`` on any problem."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{uri}: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InputDataError(f"{uri}: not an S3 Inventory manifest (expected a JSON object)")
    for required in ("files", "fileSchema"):
        if required not in raw:
            raise InputDataError(f"{uri}: not an S3 Inventory manifest (no {required!r})")
    file_format = _file_format(raw.get("fileFormat", "CSV"), uri)
    columns = parse_schema(raw["fileSchema"], file_format, uri)
    dest = raw.get("destinationBucket")
    data_bucket = bucket_from_arn_or_name(dest) if isinstance(dest, str) and dest else uri.bucket
    source = raw.get("sourceBucket")
    if not isinstance(source, str) or not source:
        # Every row must name it (s3grouper.readers), and it names the archives' folder.
        raise InputDataError(f"{uri}: not an S3 Inventory manifest (no 'sourceBucket')")
    return InventoryManifest(
        uri=uri,
        source_bucket=source,
        data_bucket=data_bucket,
        file_format=file_format,
        columns=columns,
        files=_files(raw["files"], uri),
    )


def _file_format(value: Any, uri: S3Uri) -> str:
    for known in FORMATS:
        if isinstance(value, str) and value.lower() == known.lower():
            return known
    raise InputDataError(f"{uri}: unknown fileFormat {value!r} (expected CSV, ORC or Parquet)")


def parse_schema(schema: Any, file_format: str, uri: S3Uri) -> tuple[str, ...]:
    """The snake column names of a ``fileSchema`` of the given format."""
    if not isinstance(schema, str):
        raise InputDataError(f"{uri}: fileSchema is not a string")
    if file_format == "CSV":
        names = [_snake(n.strip()) for n in schema.split(",")]
    elif file_format == "ORC":
        body = schema.strip()
        if body.lower().startswith("struct<") and body.endswith(">"):
            body = body[len("struct<") : -1]
        names = [part.split(":", 1)[0].strip() for part in _split_top_level(body)]
    else:
        names = _PARQUET_FIELD_RE.findall(schema)
    if not names or any(not n for n in names):
        raise InputDataError(f"{uri}: cannot read field names from fileSchema {schema!r}")
    if len(set(names)) != len(names):
        raise InputDataError(f"{uri}: fileSchema names a field twice: {schema!r}")
    if "key" not in names:
        raise InputDataError(f"{uri}: fileSchema has no Key field: {schema!r}")
    return tuple(names)


def _snake(name: str) -> str:
    if name in CSV_TO_SNAKE:
        return CSV_TO_SNAKE[name]
    if name in SNAKE_TO_CSV:
        return name
    return _CAMEL_RE.sub("_", name).lower()  # a field newer than this table: keep, ignore


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _files(value: Any, uri: S3Uri) -> tuple[DataFile, ...]:
    if not isinstance(value, list):
        raise InputDataError(f"{uri}: 'files' is not a list")
    files = []
    for n, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise InputDataError(f"{uri}: files[{n}] has no key")
        md5 = item.get("MD5checksum")
        if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            raise InputDataError(f"{uri}: files[{n}] ({item['key']}) has no valid MD5checksum")
        size = item.get("size")
        files.append(DataFile(item["key"], md5.lower(), size if isinstance(size, int) else None))
    return tuple(files)
