"""How an object's outcome is written down: an index row (an archived object, or a big
object's ``.metadata``) from what S3 said, and a DLQ row from a sub-manifest row."""

from __future__ import annotations

from s3bundler.dlq import DlqRow
from s3bundler.index import IndexRow
from s3bundler.object_info import ObjectInfo, iso8601
from s3bundler.tarstream import MemberPosition
from s3common.submanifest import ManifestEntry


def index_row(
    entry: ManifestEntry,
    info: ObjectInfo,
    md5: str,
    tags: dict[str, str] | None,
    flags: list[str],
    member: str = "",
    pos: MemberPosition | None = None,
    crc32c: str = "",
) -> IndexRow:
    """The index row of ``entry`` as S3 described it (``member``/``pos``: where it is in the
    archive; empty for a big object's copy)."""
    return IndexRow(
        bucket=entry.bucket,
        key=entry.key,
        version_id=info.version_of(entry),
        size=info.size,
        last_modified=iso8601(info.last_modified),
        etag=info.etag,
        md5=md5,
        member=member,
        offset=pos.data_offset if pos else None,
        header_offset=pos.header_offset if pos else None,
        content_type=info.content_type,
        metadata=info.metadata,
        tags=tags,
        storage_class=info.storage_class,
        checksum=info.checksum,
        gz_offset=pos.gz_offset if pos else None,
        gz_skip=pos.gz_skip if pos else None,
        flags=";".join(flags),
        crc32c=crc32c,
        headers=dict(info.carried),
    )


def dlq_row(entry: ManifestEntry, reason: str, detail: str) -> DlqRow:
    return DlqRow(entry.bucket, entry.key, entry.version_id, entry.size, reason, detail)
