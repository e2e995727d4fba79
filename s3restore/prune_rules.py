"""What ``s3bundler prune`` checks before a source object may go (docs/prune.md).

Per catalog row, in order; the first rule that fails keeps the object, with its reason:

1. the catalog says ``archived`` or ``copied`` (``failed``: it is in a DLQ index -> ``dlq``;
   so is an archived object with a ``failed`` row too, e.g. ``DuplicateRow``: prune.py);
2. the bundler did not flag it ``size-changed``/``etag-changed`` (the bytes archived are not
   the ones the inventory listed -> ``changed-since-inventory``);
3. an MD5 of its bytes is recorded (``no-md5``);
4. just before the delete, a HEAD of the source (of the recorded version, when one is
   recorded) finds it (else ``gone``: nothing to delete) with the recorded size and ETag
   (``changed-since-archived``); a row without a version must find a bucket without
   versioning (``now-versioned``: a delete would only add a delete marker);
5. the MD5 is verified (:func:`evidence`): for an archived object, the MD5 equals its plain
   MD5 ETag, or S3's full-object checksum was verified over the bytes, or it was streamed
   (above 8 MiB) and verified against its multipart ETag; for a copied object, a HEAD of the
   copy finds the same size and the object's MD5 as its ETag (``unverified`` otherwise).

Rows reconcile has a problem with, and rows of archives or copies it found missing, never get
this far (``reconcile-problem``, s3restore/prune.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from s3bundler.catalog import ARCHIVED, COPIED, FAILED
from s3bundler.etags import multipart_parts
from s3bundler.object_info import ObjectInfo

#: What one object comes to (the report's ``action``).
DELETE = "delete"  # dry run: would be deleted
DELETED = "deleted"
KEPT = "kept"
GONE = "gone"  # no longer in the source: nothing to delete
DONE_BEFORE = "done-before"  # deleted by an earlier run (its logs say so)
FAILED_DELETE = "failed"  # S3 refused the delete (detail: the error)

#: Why an object is kept (the report's ``reason``).
DLQ = "dlq"
CHANGED_SINCE_INVENTORY = "changed-since-inventory"
NO_MD5 = "no-md5"
CHANGED_SINCE_ARCHIVED = "changed-since-archived"
NOW_VERSIONED = "now-versioned"
UNVERIFIED = "unverified"
RECONCILE_PROBLEM = "reconcile-problem"
NOT_IN_CATALOG = "not-in-catalog"
NOT_IN_JOB = "not-in-job"
KEPT_REASONS = (
    DLQ,
    CHANGED_SINCE_INVENTORY,
    NO_MD5,
    CHANGED_SINCE_ARCHIVED,
    NOW_VERSIONED,
    UNVERIFIED,
    RECONCILE_PROBLEM,
    NOT_IN_CATALOG,
    NOT_IN_JOB,
)

#: Above this size the bundler always streams an object, and a streamed object without a
#: full-object checksum is verified against its multipart ETag (docs/bundler.md).
STREAMED_ABOVE = 8 << 20
_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")
_CHANGE_FLAGS = ("size-changed", "etag-changed")

#: The catalog columns prune reads.
COLUMNS = (
    "key",
    "version_id",
    "status",
    "size",
    "etag",
    "md5",
    "checksum",
    "storage_class",
    "flags",
    "archive",
    "member",
    "copy",
    "reason",
    "detail",
    "manifest",
)


@dataclass(frozen=True)
class Row:
    """One catalog row of a source object, as prune needs it."""

    bucket: str
    key: str
    version_id: str
    status: str
    size: int
    etag: str
    md5: str
    checksum: str
    storage_class: str
    flags: str
    archive: str
    member: str
    copy: str
    reason: str
    detail: str

    @classmethod
    def from_catalog(cls, bucket: str, row: dict[str, Any]) -> Row:
        def text(name: str) -> str:
            return str(row.get(name) or "")

        return cls(
            bucket=bucket,
            key=str(row["key"]),
            version_id=text("version_id"),
            status=text("status"),
            size=int(row.get("size") or 0),
            etag=text("etag").strip('"'),
            md5=text("md5"),
            checksum=text("checksum"),
            storage_class=text("storage_class") or "STANDARD",
            flags=text("flags"),
            archive=text("archive"),
            member=text("member"),
            copy=text("copy"),
            reason=text("reason"),
            detail=text("detail"),
        )

    @property
    def ident(self) -> tuple[str, str, str]:
        return (self.bucket, self.key, self.version_id)

    @property
    def location(self) -> str:
        """Where the object's bytes are kept: the archive, or the copy."""
        return self.archive or self.copy


@dataclass(frozen=True)
class Verdict:
    """What becomes of one row: ``action`` (DELETE when every check passed), and for a kept
    object the ``reason`` and a ``detail``; ``evidence``: how its MD5 was verified."""

    action: str
    reason: str = ""
    detail: str = ""
    evidence: str = ""


def kept(reason: str, detail: str = "") -> Verdict:
    return Verdict(KEPT, reason, detail)


def check_catalog(row: Row) -> Verdict | None:
    """Rules 1-3, from the catalog alone: a Verdict keeping the object, or None."""
    if row.status == FAILED:
        return kept(DLQ, f"{row.reason}: {row.detail}".rstrip(": "))
    if row.status not in (ARCHIVED, COPIED):
        return kept(UNVERIFIED, f"catalog status {row.status!r}")
    changed = [f for f in row.flags.split(";") if f in _CHANGE_FLAGS]
    if changed:
        return kept(CHANGED_SINCE_INVENTORY, ";".join(changed))
    if not row.md5:
        return kept(
            NO_MD5,
            "no MD5 of its bytes recorded (an ETag that is not an MD5, e.g. "
            "a multipart or SSE-KMS copy)",
        )
    return None


def check_source(row: Row, head: dict[str, Any] | None) -> Verdict | None:
    """Rule 4, from the HEAD of the source (None: not found): a Verdict, or None."""
    if head is None:
        return Verdict(GONE, detail="not in the source bucket (already deleted)")
    info = ObjectInfo.from_response(head)
    if info.size != row.size or info.etag != row.etag:
        return kept(
            CHANGED_SINCE_ARCHIVED,
            f"now {info.size} bytes, ETag {info.etag}; archived {row.size} bytes, ETag {row.etag}",
        )
    if not row.version_id and info.version_id:
        return kept(
            NOW_VERSIONED,
            f"the bucket answers version {info.version_id}; a delete "
            "without a version would only add a delete marker",
        )
    return None


def evidence(row: Row, head: dict[str, Any], copy_head: dict[str, Any] | None) -> Verdict:
    """Rule 5: DELETE with its evidence, or kept as ``unverified``. ``copy_head``: the HEAD
    of a copied row's copy (None when it is not there)."""
    if row.status == COPIED:
        if copy_head is None:
            return kept(UNVERIFIED, f"the copy {row.copy} does not exist")
        copy = ObjectInfo.from_response(copy_head)
        if copy.size == row.size and copy.etag == row.md5:
            return Verdict(DELETE, evidence="copy-etag=md5")
        return kept(
            UNVERIFIED,
            f"the copy has {copy.size} bytes, ETag {copy.etag}; not the "
            f"object's size and MD5 ({row.size}, {row.md5})",
        )
    if _PLAIN_MD5.match(row.etag) and row.etag == row.md5:
        return Verdict(DELETE, evidence="md5=etag")
    if row.checksum:
        return Verdict(DELETE, evidence=f"checksum {row.checksum.split(':', 1)[0]}")
    source = ObjectInfo.from_response(head)
    if multipart_parts(row.etag) and row.size > STREAMED_ABOVE and source.md5_based_etag:
        return Verdict(DELETE, evidence="multipart-etag")
    return kept(
        UNVERIFIED,
        f"MD5 {row.md5} was checked against nothing S3 said: ETag "
        f"{row.etag} is not an MD5 of the bytes and no S3 checksum was recorded",
    )


def delete_entry(row: Row, conditional: bool) -> dict[str, str]:
    """The DeleteObjects ``Objects`` entry: the recorded version, else the key on condition
    that its ETag is still the archived one (``conditional``)."""
    if row.version_id:
        return {"Key": row.key, "VersionId": row.version_id}
    entry = {"Key": row.key}
    if conditional:
        entry["ETag"] = f'"{row.etag}"'
    return entry
