"""One awscrt GetObject (or GET ?tagging): its answer gathered from awscrt's callbacks, on
awscrt's event-loop thread, and turned into one outcome when the request is done. What to do
with the outcome (settle the future, fall back to boto3, read the tags) is the fetcher's.

Outcomes of a GetObject: a :class:`Fetched` (tags already known when the object has none),
:class:`NeedsTags` (the GET announced ``x-amz-tagging-count``), :class:`WrongRegion` (the bucket
must be read with boto3), or an exception: ObjectFailed (a DLQ row), TooBigToBuffer, or
DownloadError (no answer).
"""

from __future__ import annotations

import hashlib
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from awscrt import s3

from s3bundler import dlq
from s3bundler.checksums import BodyChecksum
from s3bundler.crt_target import error_fields, tag_set
from s3bundler.failures import ObjectFailed, reason_for_code
from s3bundler.fetched import Fetched, TooBigToBuffer
from s3bundler.object_info import ObjectInfo
from s3common.errors import DownloadError
from s3common.submanifest import ManifestEntry

_REGION_ERRORS = frozenset(
    {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)


@dataclass(frozen=True)
class NeedsTags:
    fetched: Fetched  # tags None until the tagging GET answers


@dataclass(frozen=True)
class WrongRegion:
    why: str


Outcome = Fetched | NeedsTags | WrongRegion | BaseException


class Callbacks:
    """What one request's callbacks share: the awscrt request, attached once it is made
    (a request that is already done is not attached: it would be a request -> callbacks ->
    request cycle), so it can be cancelled, and its ``finished`` future to wait on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request: s3.S3Request | None = None
        self._done = False
        self.finished: Future[None] | None = None

    def attach(self, request: s3.S3Request) -> None:
        with self._lock:
            self.finished = request.finished_future
            if not self._done:
                self._request = request

    def cancel(self) -> None:
        with self._lock:
            request = self._request
        if request is not None:
            request.cancel()

    def _finished(self) -> None:
        with self._lock:
            self._done = True
            self._request = None


class GetFuture(Future[Fetched]):
    """Cancelling it (the archiver does, for what it no longer needs) cancels the request."""

    get: Callbacks | None = None

    def cancel(self) -> bool:
        cancelled = super().cancel()
        if cancelled and self.get is not None:
            self.get.cancel()
        return cancelled


def settle(fut: GetFuture, result: Fetched | None = None, exc: BaseException | None = None) -> None:
    """Hand the outcome to the future (unless it was cancelled), dropping its request first:
    future -> request -> callbacks -> future is a cycle that would keep every object's bytes
    until the garbage collector runs (200 x 8 MiB objects once held 1.7 GB)."""
    fut.get = None
    if not fut.set_running_or_notify_cancel():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)  # type: ignore[arg-type]


class _Body:
    """The bytes of a body as they arrive, with their MD5 and S3's announced checksum."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.md5 = hashlib.md5()
        self.checksum: BodyChecksum | None = None

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.md5.update(chunk)
        if self.checksum is not None:
            self.checksum.update(chunk)

    def take(self) -> list[bytes]:
        """The pieces as they came (not joined: see :class:`Fetched`)."""
        pieces, self.chunks = self.chunks, []
        return pieces


class ObjectGet(Callbacks):
    """The callbacks of one GetObject; ``on_outcome`` is called exactly once."""

    def __init__(
        self, entry: ManifestEntry, limit: int, on_outcome: Callable[[Outcome], None]
    ) -> None:
        super().__init__()
        self.entry = entry
        self._limit = limit
        self._on_outcome: Callable[[Outcome], None] | None = on_outcome
        self._body = _Body()
        self._info: ObjectInfo | BaseException | None = None  # from the 200 headers
        self._too_big = False

    @property
    def where(self) -> str:
        return f"s3://{self.entry.bucket}/{self.entry.key}"

    def on_headers(self, status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
        if status_code != 200:
            return
        named = {name.lower(): value for name, value in headers}
        if int(named.get("content-length", 0)) > self._limit:
            self._too_big = True
            self.cancel()
            return
        try:
            self._info = ObjectInfo.from_headers(named, self.entry.version_id)
        except (KeyError, ValueError, TypeError) as exc:
            self._info = exc  # reported when the request is done
            return
        if self._info.checksum:
            self._body.checksum = BodyChecksum(self._info.checksum)

    def on_body(self, chunk: bytes, **_: Any) -> None:
        if not self._too_big:
            self._body.add(chunk)

    def on_done(
        self,
        error: BaseException | None,
        status_code: int | None = None,
        error_headers: list[tuple[str, str]] | None = None,
        error_body: bytes | None = None,
        **_: Any,
    ) -> None:
        outcome: Outcome
        try:
            outcome = self._outcome(error, status_code, error_headers, error_body)
        except BaseException as exc:  # every outcome reaches the fetcher, none is dropped
            outcome = exc
        self._finished()
        callback, self._on_outcome = self._on_outcome, None
        if callback is not None:
            callback(outcome)

    def _outcome(
        self,
        error: BaseException | None,
        status: int | None,
        error_headers: list[tuple[str, str]] | None,
        error_body: bytes | None,
    ) -> Outcome:
        if self._too_big:
            return TooBigToBuffer()
        if error is None and status == 200:
            return self._fetched()
        if status and status >= 300:
            code, message, region = error_fields(error_body or b"")
            code = code or str(status)
            if status == 301 or code in _REGION_ERRORS:
                headers = {name.lower(): value for name, value in error_headers or ()}
                bucket_region = headers.get("x-amz-bucket-region") or region or "unknown"
                return WrongRegion(f"{code} (bucket region {bucket_region})")
            return ObjectFailed(reason_for_code(code), f"{code}: {message}".rstrip(": "))
        return DownloadError(
            f"cannot read {self.where}: {getattr(error, 'name', None) or error or 'no answer'}",
            transient=True,
        )

    def _fetched(self) -> Fetched | NeedsTags:
        info = self._info
        if not isinstance(info, ObjectInfo):
            raise DownloadError(f"{self.where}: unreadable GET response headers ({info!r})")
        pieces = self._body.take()
        if (got := sum(map(len, pieces))) != info.size:
            raise DownloadError(f"{self.where}: {got} bytes read of {info.size}", transient=True)
        checksum = self._body.checksum
        if checksum is not None and (reason := checksum.mismatch()):
            raise ObjectFailed(dlq.CHECKSUM_MISMATCH, reason)
        md5 = self._body.md5.hexdigest()
        info.check_md5(md5)
        flags = info.flags_against(self.entry)
        if info.tag_count:
            return NeedsTags(Fetched(self.entry, info, pieces, md5, None, flags))
        return Fetched(self.entry, info, pieces, md5, {}, flags)


class TagsGet(Callbacks):
    """The callbacks of one ``GET ?tagging``, as boto3's get_object_tagging: ``on_tags`` gets
    the tags, or None and the error code (a warning and a ``tags-unreadable:<code>`` flag in
    the index, as with boto3)."""

    def __init__(self, on_tags: Callable[[dict[str, str] | None, str], None]) -> None:
        super().__init__()
        self._on_tags: Callable[[dict[str, str] | None, str], None] | None = on_tags
        self._body: list[bytes] = []

    def on_body(self, chunk: bytes, **_: Any) -> None:
        self._body.append(chunk)

    def on_done(
        self,
        error: BaseException | None,
        status_code: int | None = None,
        error_body: bytes | None = None,
        **_: Any,
    ) -> None:
        tags: dict[str, str] | None = None
        code = ""
        if error is None and status_code == 200:
            try:
                tags = tag_set(b"".join(self._body))
            except ET.ParseError:
                code = "MalformedXML"
        elif status_code:
            code = error_fields(error_body or b"")[0] or str(status_code)
        else:
            code = getattr(error, "name", None) or type(error).__name__
        self._finished()
        callback, self._on_tags = self._on_tags, None
        if callback is not None:
            callback(tags, code)
