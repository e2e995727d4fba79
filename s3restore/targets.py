"""Where restored objects go: into S3 (a new prefix, or back in place) with their metadata,
content type, headers and tags, or to local files -- never overwriting unless told."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from s3common.aws import AWS_ERRORS, error_code, write_failed
from s3common.errors import S3BundlerError, UsageError
from s3common.s3uri import S3Uri
from s3restore.member_reader import Member


class Exists(S3BundlerError):
    """The target already exists and --overwrite was not given."""

    exit_code = UsageError.exit_code


def object_args(m: Member) -> dict[str, Any]:
    """PutObject/CreateMultipartUpload arguments that give the object back its metadata."""
    args: dict[str, Any] = dict(m.headers)
    args["Metadata"] = dict(m.metadata)
    if m.content_type:
        args["ContentType"] = m.content_type
    if m.tags:
        args["Tagging"] = urlencode(m.tags)
    return args


class S3Destination:
    """``--to s3://DEST/PREFIX/`` (the key appended to PREFIX) or ``--in-place`` (prefix None:
    the object's own bucket and key)."""

    def __init__(self, s3: Any, prefix: S3Uri | None, overwrite: bool) -> None:
        self.s3 = s3
        self.prefix = prefix
        self.overwrite = overwrite

    def target(self, bucket: str, key: str) -> S3Uri:
        if self.prefix is None:
            return S3Uri(bucket, key)
        return S3Uri(self.prefix.bucket, self.prefix.key + key)

    def condition(self) -> dict[str, str]:
        """A write that fails when the target exists (S3 conditional writes)."""
        return {} if self.overwrite else {"IfNoneMatch": "*"}

    def put(self, m: Member, data: bytes) -> S3Uri:
        target = self.target(m.bucket, m.key)
        try:
            self.s3.put_object(
                Bucket=target.bucket,
                Key=target.key,
                Body=data,
                **object_args(m),
                **self.condition(),
            )
        except AWS_ERRORS as exc:
            raise self.failed(target, exc) from exc
        return target

    def failed(self, target: S3Uri, exc: BaseException) -> S3BundlerError:
        if error_code(exc) in ("PreconditionFailed", "412"):
            return Exists(f"{target} exists; --overwrite replaces it")
        return write_failed(target, exc)


class FileDestination:
    """``-o FILE`` (one object), ``-o DIR`` (several: ``DIR/<bucket>/<key>``, made safe), or
    ``-o -`` (standard output, one object)."""

    def __init__(self, path: str, many: bool, overwrite: bool) -> None:
        self.stdout = path == "-"
        self.path = Path(path)
        self.many = many
        self.overwrite = overwrite
        if self.stdout and many:
            raise UsageError("-o -: standard output takes one object; give a directory")

    def target(self, bucket: str, key: str) -> Path:
        if not self.many:
            return self.path
        from s3bundler.members import member_name  # the names tar -x would give

        root = self.path.resolve()
        path = (root / member_name(bucket, key)).resolve()
        if root not in path.parents:
            raise UsageError(f"{bucket}/{key}: would be written outside {root}")
        return path

    def put(self, m: Member, data: bytes) -> str:
        if self.stdout:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return "-"
        path = self.target(m.bucket, m.key)
        if path.exists() and not self.overwrite:
            raise Exists(f"{path} exists; --overwrite replaces it")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".restore-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(path)
