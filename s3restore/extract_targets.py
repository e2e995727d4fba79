"""Where ``s3bundler extract`` writes an object: a file under a directory, or an S3 object
(docs/restore.md, "extract"). Nothing is written half-way: a file is written under a
temporary name and renamed into place, an object is one PUT of bytes already verified.

- :class:`DirTarget`: ``DIR/<member name>``. Member names are extraction-safe
  (s3bundler/members.py) but not trusted: a name that is absolute or has an empty, ``.`` or
  ``..`` segment is refused, directories are created one level at a time and a symbolic link
  on the way is refused, so nothing lands outside DIR. An existing file is not replaced
  unless ``overwrite`` (an atomic hard link of the temporary file, which fails if the name
  exists; ``os.replace`` with ``overwrite``).
- :class:`S3Target`: ``s3://DEST/<prefix><exact key>`` with content type, user metadata, tags
  and the carried headers of the index; the PUT carries the member's CRC32C (or MD5) so S3
  checks the bytes too, and ``If-None-Match: *`` unless ``overwrite``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
import tempfile
import uuid
from datetime import datetime
from typing import IO, Any
from urllib.parse import quote, urlencode

from s3bundler.object_info import CARRIED_HEADERS
from s3common.aws import AWS_ERRORS, error_code, write_failed
from s3common.errors import ExitCode, InputDataError, S3BundlerError, UploadError
from s3common.s3uri import S3Uri
from s3restore.member_reader import Member


class Refused(S3BundlerError):
    """The destination exists and ``--overwrite`` was not given."""

    exit_code = ExitCode.USAGE


class UnsafeName(InputDataError):
    """A member name that would not land inside the directory."""


def _mtime(m: Member) -> float | None:
    try:
        return datetime.fromisoformat(m.last_modified).timestamp()
    except ValueError:
        return None


class Spool:
    """A member's bytes written to a file as they arrive, before they are verified."""

    def __init__(self, file: IO[bytes], path: str | None = None) -> None:
        self.file = file
        self.path = path  # a named temporary file that becomes the result (DirTarget)

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            where = self.path or "a temporary file"
            raise UploadError(f"cannot write {where}: {exc.strerror}") from None

    def finish(self) -> None:
        """All bytes written: flushed to the file."""
        try:
            self.file.flush()
        except OSError as exc:
            where = self.path or "a temporary file"
            raise UploadError(f"cannot write {where}: {exc.strerror}") from None

    def discard(self) -> None:
        """Close it and remove what is left of it (after a commit: nothing)."""
        self.file.close()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None


class DirTarget:
    def __init__(self, root: str, overwrite: bool = False) -> None:
        self.root = os.path.realpath(root)
        self.overwrite = overwrite

    def create(self) -> None:
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise UploadError(f"cannot create {self.root}: {exc.strerror}") from None

    def __str__(self) -> str:
        return self.root

    def segments(self, m: Member) -> list[str]:
        """The path of the member below the root, segment by segment; UnsafeName if it would
        not be a file inside it."""
        name = m.member
        parts = name.split("/")
        if "\0" in name or any(p in ("", ".", "..") for p in parts):
            raise UnsafeName(f"{m.archive}: member name {name!r} is not a safe relative path")
        return parts

    def path(self, parts: list[str]) -> str:
        return os.path.join(self.root, *parts)

    def spool(self, m: Member) -> Spool:
        parent = self._parents(self.segments(m))
        path = os.path.join(parent, f".s3bundler-extract-{uuid.uuid4().hex}.part")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise UploadError(f"cannot write {path}: {exc.strerror}") from None
        return Spool(os.fdopen(fd, "wb"), path)

    def write(self, m: Member, data: bytes, replace: bool = False) -> None:
        spool = self.spool(m)
        try:
            spool.write(data)
            self.commit(m, spool, replace)
        finally:
            spool.discard()

    def commit(self, m: Member, spool: Spool, replace: bool = False) -> None:
        """Put the spooled file in place under its name (``replace``: as with overwrite)."""
        assert spool.path is not None
        target = self.path(self.segments(m))
        try:
            spool.file.close()
            mtime = _mtime(m)
            if mtime is not None:
                os.utime(spool.path, (mtime, mtime))
            if self.overwrite or replace:
                os.replace(spool.path, target)
            else:
                os.link(spool.path, target)  # fails if target exists, even as a dangling link
                os.unlink(spool.path)
            spool.path = None
        except FileExistsError:
            raise Refused(f"{target} exists (--overwrite replaces it)") from None
        except OSError as exc:
            raise UploadError(f"cannot write {target}: {exc.strerror}") from None

    def _parents(self, parts: list[str]) -> str:
        """Create the directories of ``parts`` one by one, refusing a symbolic link (or
        anything not a directory) on the way."""
        here = self.root
        for part in parts[:-1]:
            here = os.path.join(here, part)
            try:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(here)
            except OSError as exc:
                raise UploadError(f"cannot create {here}: {exc.strerror}") from None
            mode = os.lstat(here).st_mode
            if stat.S_ISLNK(mode):
                raise UnsafeName(f"{here} is a symbolic link: not following it out of {self.root}")
            if not stat.S_ISDIR(mode):
                raise UploadError(f"cannot write below {here}: not a directory")
        return here


class S3Target:
    def __init__(self, s3: Any, dest: S3Uri, overwrite: bool = False) -> None:
        self.s3 = s3
        self.dest = dest
        self.overwrite = overwrite

    def __str__(self) -> str:
        return str(self.dest)

    def uri(self, m: Member) -> S3Uri:
        return S3Uri(self.dest.bucket, self.dest.key + m.key)

    def spool(self, m: Member) -> Spool:
        return Spool(tempfile.TemporaryFile(prefix="s3bundler-extract-"))

    def write(self, m: Member, data: bytes, replace: bool = False) -> None:
        self._put(m, data, replace)

    def commit(self, m: Member, spool: Spool, replace: bool = False) -> None:
        spool.file.seek(0)
        self._put(m, spool.file, replace)

    def _put(self, m: Member, body: bytes | IO[bytes], replace: bool) -> None:
        """``replace``: overwrite even without ``overwrite`` (a later version of a key this
        run wrote)."""
        uri = self.uri(m)
        args = put_args(m, uri)
        if not (self.overwrite or replace):
            args["IfNoneMatch"] = "*"
        try:
            self.s3.put_object(Body=body, **args)
        except AWS_ERRORS as exc:
            if error_code(exc) in ("PreconditionFailed", "412"):
                raise Refused(f"{uri} exists (--overwrite replaces it)") from None
            raise write_failed(uri, exc) from exc


def put_args(m: Member, uri: S3Uri) -> dict[str, Any]:
    """PutObject arguments that give ``uri`` the archived object's metadata, tags, headers,
    and let S3 check the bytes."""
    args: dict[str, Any] = {"Bucket": uri.bucket, "Key": uri.key, "Metadata": dict(m.metadata)}
    if m.content_type:
        args["ContentType"] = m.content_type
    if m.tags:
        args["Tagging"] = urlencode(m.tags, safe="", quote_via=quote)
    args.update({k: v for k, v in m.headers.items() if k in CARRIED_HEADERS and v})
    if m.crc32c:
        args["ChecksumCRC32C"] = m.crc32c
    elif m.md5:
        args["ContentMD5"] = base64.b64encode(bytes.fromhex(m.md5)).decode()
    return args
