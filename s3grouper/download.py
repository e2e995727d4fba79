"""Reading the inventory from S3: manifest.json, its checksum, and the data files (verified)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from s3common.aws import AWS_ERRORS, NO_BUCKET_CODES, NOT_FOUND_CODES, error_code, read_failed
from s3common.errors import InputDataError
from s3common.s3uri import S3Uri
from s3common.sizes import MiB
from s3grouper.inventory import (
    DataFile,
    InventoryManifest,
    checksum_key,
    parse_manifest,
    verify_checksum,
)

log = logging.getLogger(__name__)

CHUNK = MiB


def load_manifest(s3: Any, uri: S3Uri) -> InventoryManifest:
    """Fetch, checksum-verify and parse manifest.json."""
    try:
        data = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except AWS_ERRORS as exc:
        raise read_failed(uri, exc) from None
    checksum_uri = S3Uri(uri.bucket, checksum_key(uri.key))
    if checksum_uri != uri:
        try:
            checksum = s3.get_object(Bucket=uri.bucket, Key=checksum_uri.key)["Body"].read()
        except AWS_ERRORS as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                log.info("%s: not present, manifest.json not checksum-verified", checksum_uri)
            else:
                log.warning("%s: cannot read (%s), not verified", checksum_uri, error_code(exc))
        else:
            verify_checksum(data, checksum, uri)
    return parse_manifest(data, uri)


class HashedBody:
    """An S3 object body read in chunks and hashed on the way; a broken download becomes
    DownloadError naming the object."""

    def __init__(self, body: Any, uri: S3Uri) -> None:
        self._body = body
        self._uri = uri
        self._md5 = hashlib.md5()

    def read(self, size: int = CHUNK) -> bytes:
        try:
            data: bytes = self._body.read(size)
        except (*AWS_ERRORS, OSError) as exc:  # OSError: connection reset mid-body
            raise read_failed(self._uri, exc) from None
        self._md5.update(data)
        return data

    def drain(self) -> None:
        while self.read():
            pass

    def close(self) -> None:
        self._body.close()

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


def check_md5(uri: S3Uri, got: str, want: str) -> None:
    if got != want:
        raise InputDataError(f"{uri}: MD5 {got} does not match MD5checksum {want} in manifest.json")


class DataFiles:
    """The report's data files in S3: verification (pass 1) and reading (pass 2)."""

    def __init__(self, s3: Any, manifest: InventoryManifest, workers: int = 8) -> None:
        self.s3 = s3
        self.manifest = manifest
        self.bucket = manifest.data_bucket
        self.workers = workers

    def uri(self, data_file: DataFile) -> S3Uri:
        return S3Uri(self.bucket, data_file.key)

    def verify_all(self) -> None:
        """Pass 1: every data file exists and matches its MD5checksum, else InputDataError.

        A file whose ETag is its MD5checksum was verified by S3; any other is streamed once."""
        files = self.manifest.files
        if not files:
            return
        self._locate(files[0])
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="verify")
        try:
            for future in [pool.submit(self._verify, f) for f in files]:
                future.result()  # the first failure in manifest order
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _head(self, data_file: DataFile, bucket: str) -> dict[str, Any]:
        return self.s3.head_object(Bucket=bucket, Key=data_file.key)

    def _locate(self, first: DataFile) -> None:
        """Data files live in the destination bucket; fall back to the manifest's bucket."""
        try:
            self._head(first, self.bucket)
            return
        except AWS_ERRORS as exc:
            fallback = self.manifest.uri.bucket
            if fallback == self.bucket:
                return  # _verify reports it
            try:
                self._head(first, fallback)
            except AWS_ERRORS:
                return
            log.info("data files not in %s (%s), using %s", self.bucket, error_code(exc), fallback)
            self.bucket = fallback

    def _verify(self, data_file: DataFile) -> None:
        uri = self.uri(data_file)
        try:
            head = self._head(data_file, self.bucket)
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code in NOT_FOUND_CODES:
                raise InputDataError(
                    f"{uri}: data file listed in {self.manifest.uri} does not exist"
                ) from None
            raise read_failed(uri, exc) from None
        if data_file.size is not None and head.get("ContentLength") != data_file.size:
            raise InputDataError(
                f"{uri}: size {head.get('ContentLength')} does not match size "
                f"{data_file.size} in manifest.json"
            )
        if head.get("ETag", "").strip('"').lower() == data_file.md5:
            return
        body = self._open(data_file)
        try:
            body.drain()
        finally:
            body.close()
        check_md5(uri, body.hexdigest(), data_file.md5)

    def _open(self, data_file: DataFile) -> HashedBody:
        uri = self.uri(data_file)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=data_file.key)["Body"]
        except AWS_ERRORS as exc:
            if error_code(exc) in NOT_FOUND_CODES | NO_BUCKET_CODES:
                raise InputDataError(f"{uri}: data file does not exist") from None
            raise read_failed(uri, exc) from None
        return HashedBody(body, uri)

    def local_copies(self) -> LocalCopies:
        """Pass 2: verified local copies of the data files, in manifest order."""
        return LocalCopies(self)

    def download(
        self, data_file: DataFile, directory: str, stop: threading.Event | None = None
    ) -> str:
        """Copy one data file into ``directory``, hashing it; InputDataError on a mismatch.
        Setting ``stop`` abandons the copy."""
        body = self._open(data_file)
        path = os.path.join(directory, f"{uuid.uuid4().hex}-{os.path.basename(data_file.key)}")
        try:
            with open(path, "wb") as out:
                while chunk := body.read():
                    if stop is not None and stop.is_set():
                        raise _Abandoned(path)
                    out.write(chunk)
            check_md5(self.uri(data_file), body.hexdigest(), data_file.md5)
        except BaseException:
            _remove(path)
            raise
        finally:
            body.close()
        return path


class LocalCopies:
    """Iterate ``(data_file, path)`` over verified local copies: data file N+1 downloads in the
    background while N is processed, and each copy is removed once the next one is asked for,
    so at most two are on disk. Arrow then reads only local files (no Python file objects in
    its threads). Use as a context manager; leaving it removes everything."""

    def __init__(self, data_files: DataFiles) -> None:
        self._data_files = data_files
        self._tmp = tempfile.TemporaryDirectory(prefix="s3grouper-")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="download")
        self._stop = threading.Event()

    def __enter__(self) -> LocalCopies:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()  # a download still running ends at its next chunk
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._tmp.cleanup()

    def __iter__(self) -> Iterator[tuple[DataFile, str]]:
        files = self._data_files.manifest.files
        ahead: Future[str] | None = None
        for n, data_file in enumerate(files):
            current = ahead if ahead is not None else self._fetch(data_file)
            ahead = self._fetch(files[n + 1]) if n + 1 < len(files) else None
            path = current.result()
            yield data_file, path
            _remove(path)

    def _fetch(self, data_file: DataFile) -> Future[str]:
        return self._pool.submit(self._data_files.download, data_file, self._tmp.name, self._stop)


class _Abandoned(Exception):
    """A download stopped because the run is ending."""


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
