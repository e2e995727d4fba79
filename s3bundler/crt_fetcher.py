"""Small-object GETs through awscrt's native S3 client (``--get-client crt``, the default).

boto3 spends ~3 ms of CPU per ``get_object`` in Python (parameter validation, endpoint rules,
event hooks, signing, response parsing); for 4 KiB objects that, not the network, limits a
worker on a small instance. awscrt's S3 client signs and sends the same request natively and
hands back headers and body through callbacks, with no thread per request: about a quarter of
the CPU per object (docs/performance.md).

What stays as it is with boto3:

- the request: the URL (endpoint, addressing style) and signing region are the ones botocore
  itself would use -- captured once per bucket from a GetObject botocore builds and signs but
  never sends; ``x-amz-checksum-mode: ENABLED`` as boto3's ``ChecksumMode``;
- verification: MD5 against a plain ETag, and S3's full-object checksum (which botocore checks
  for boto3) computed here while the body arrives (objects.BodyChecksum);
- errors: S3 error codes map to the same DLQ reasons; no answer after awscrt's own retries is a
  DownloadError (the manifest fails and is redelivered);
- tags (objects with ``x-amz-tagging-count``): a second awscrt GET (``?tagging``), with
  boto3's failure handling (a warning and a ``tags-unreadable`` flag);
- a bucket in another region than the signer's (S3 answers 301 / AuthorizationHeaderMalformed),
  or one botocore signs other than with SigV4, is served by boto3 from then on.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from awscrt import auth, http, io, s3

from s3bundler import dlq
from s3bundler.fetchers import BotoFetcher
from s3bundler.objects import (
    BodyChecksum,
    Fetched,
    ObjectFailed,
    ObjectInfo,
    TooBigToBuffer,
    check_md5,
    reason_for_code,
)
from s3common.errors import DownloadError
from s3common.submanifest import ManifestEntry

log = logging.getLogger(__name__)

_PROBE_KEY = "s3bundler-endpoint-probe"
#: boto3's ChecksumMode=ENABLED: S3 then returns the object's full-object checksum
CHECKSUM_MODE = (("x-amz-checksum-mode", "ENABLED"),)
SIGNING_MAX_AGE = 60.0  # seconds a signing config (and so its date) is reused
_REGION_ERRORS = frozenset(
    {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)


@dataclass(frozen=True)
class Target:
    """Where and how GETs of one bucket's keys go, as botocore would send them."""

    scheme: str
    host: str  # with :port when not the default
    path_prefix: str  # "/bucket/" (path style) or "/" (virtual-hosted style)
    region: str

    def path(self, entry: ManifestEntry) -> str:
        path = self.path_prefix + quote(entry.key, safe="/~")
        if entry.version_id:
            path += "?versionId=" + quote(entry.version_id, safe="")
        return path

    def tagging_path(self, key: str, version_id: str) -> str:
        path = self.path_prefix + quote(key, safe="/~") + "?tagging"
        if version_id and version_id != "null":
            path += "&versionId=" + quote(version_id, safe="")
        return path


class _Captured(Exception):
    def __init__(self, target: Target | None) -> None:
        self.target = target


def resolve_target(probe_client: Any, bucket: str) -> Target | None:
    """Let botocore build (and sign, but not send) a GetObject for ``bucket``; None when the
    request is not one awscrt can sign the same way (not SigV4)."""

    def capture(request: Any, region_name: str, signature_version: Any, **_: Any) -> None:
        if signature_version not in ("s3v4", "v4"):
            raise _Captured(None)
        url = urlsplit(request.url)
        path = url.path
        if not path.endswith("/" + _PROBE_KEY):
            raise _Captured(None)
        region = request.context.get("signing", {}).get("region") or region_name
        raise _Captured(Target(url.scheme, url.netloc, path[: -len(_PROBE_KEY)], region))

    events = probe_client.meta.events
    events.register_first("before-sign.s3.GetObject", capture, unique_id="s3bundler-probe")
    try:
        probe_client.get_object(Bucket=bucket, Key=_PROBE_KEY)
    except _Captured as captured:
        return captured.target
    finally:
        events.unregister("before-sign.s3.GetObject", unique_id="s3bundler-probe")
    return None  # pragma: no cover - get_object always signs


class CrtFetcher:
    """GETs through one awscrt S3 client per URL scheme; at most ``concurrency`` connections."""

    def __init__(
        self,
        s3_client: Any,
        credentials: Any,
        concurrency: int,
        *,
        ca_bundle: str | None = None,
        probe_client: Any = None,
    ) -> None:
        self.s3 = s3_client
        self._botocore_credentials = credentials
        self._concurrency = concurrency
        self._ca_bundle = ca_bundle
        self._probe_client = probe_client
        self._lock = threading.Lock()
        self._targets: dict[str, Target | None] = {}
        self._signing: dict[str, tuple[float, auth.AwsSigningConfig]] = {}
        self._clients: dict[str, s3.S3Client] = {}
        self._inflight: set[s3.S3Request] = set()
        self._boto: BotoFetcher | None = None
        self._tags: ThreadPoolExecutor | None = None
        self._bootstrap: io.ClientBootstrap | None = None
        self._provider = auth.AwsCredentialsProvider.new_delegate(self._credentials)

    # -- the interface ------------------------------------------------------------------------
    def submit(self, entry: ManifestEntry, buffer_limit: int) -> Future[Fetched]:
        target = self.target(entry.bucket)
        if target is None:
            return self._boto_fetcher().submit(entry, buffer_limit)
        fut = _GetFuture()
        _Get(self, entry, buffer_limit, fut).start(target)
        return fut

    def close(self) -> None:
        with self._lock:
            inflight = list(self._inflight)
            clients = list(self._clients.values())
            self._clients.clear()
        for request in inflight:
            request.cancel()
        for request in inflight:
            try:
                request.finished_future.exception(timeout=30)
            except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError (3.11)
                log.warning("an awscrt GET did not stop within 30 s of being cancelled")
                break
        if self._boto is not None:
            self._boto.close()
        if self._tags is not None:
            self._tags.shutdown(wait=True, cancel_futures=True)
        del clients  # the native clients shut down when released

    # -- plumbing -----------------------------------------------------------------------------
    def _credentials(self) -> auth.AwsCredentials:
        frozen = self._botocore_credentials.get_frozen_credentials()
        return auth.AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    def target(self, bucket: str) -> Target | None:
        """Where GETs of ``bucket`` go (resolved once), or None: read it with boto3."""
        with self._lock:
            if bucket in self._targets:
                return self._targets[bucket]
        target = resolve_target(self._probe(), bucket)
        if target is None:
            log.info("s3://%s is not signed with SigV4: its objects are read with boto3", bucket)
        with self._lock:
            self._targets[bucket] = target
        return target

    def _probe(self) -> Any:
        # A client of its own: the probe hook must never see the worker's real GetObjects.
        if self._probe_client is None:
            meta = self.s3.meta
            import boto3

            self._probe_client = boto3.session.Session().client(
                "s3",
                region_name=meta.region_name,
                endpoint_url=meta.endpoint_url,
                config=meta.config,
                aws_access_key_id="probe",
                aws_secret_access_key="probe",
            )
        return self._probe_client

    def use_boto3_for(self, bucket: str, why: str) -> None:
        with self._lock:
            if self._targets.get(bucket) is None:
                return
            self._targets[bucket] = None
        log.warning("s3://%s: %s; its objects are read with boto3 from now on", bucket, why)

    def _boto_fetcher(self) -> BotoFetcher:
        with self._lock:
            if self._boto is None:
                self._boto = BotoFetcher(self.s3, self._concurrency)
            return self._boto

    def tag_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._tags is None:
                self._tags = ThreadPoolExecutor(4, thread_name_prefix="tags")
            return self._tags

    def client(self, scheme: str) -> s3.S3Client:
        with self._lock:
            client = self._clients.get(scheme)
            if client is None:
                client = self._clients[scheme] = self._new_client(scheme)
            return client

    def _new_client(self, scheme: str) -> s3.S3Client:
        if self._bootstrap is None:
            loop = io.EventLoopGroup(1)
            self._bootstrap = io.ClientBootstrap(loop, io.DefaultHostResolver(loop))
        tls: dict[str, Any] = {"tls_mode": s3.S3RequestTlsMode.DISABLED}
        if scheme == "https":
            options = io.TlsContextOptions()
            if self._ca_bundle:
                options.override_default_trust_store_from_path(ca_filepath=self._ca_bundle)
            tls = {
                "tls_mode": s3.S3RequestTlsMode.ENABLED,
                "tls_connection_options": io.ClientTlsContext(options).new_connection_options(),
            }
        return s3.S3Client(
            bootstrap=self._bootstrap,
            region="us-east-1",  # every request carries its own signing config
            credential_provider=self._provider,
            max_active_connections_override=self._concurrency,
            **tls,
        )

    def send(
        self,
        target: Target,
        operation: str,
        path: str,
        headers: tuple[tuple[str, str], ...] = (),
        **callbacks: Any,
    ) -> s3.S3Request:
        """One signed GET of ``path`` as awscrt's DEFAULT request (sent as is, no splitting);
        ``callbacks``: on_headers / on_body / on_done as awscrt calls them."""
        request = http.HttpRequest("GET", path, http.HttpHeaders([("Host", target.host), *headers]))
        return self.client(target.scheme).make_request(
            type=s3.S3RequestType.DEFAULT,
            operation_name=operation,
            request=request,
            signing_config=self.signing(target.region),
            **callbacks,
        )

    def track(self, request: s3.S3Request, done: bool) -> None:
        with self._lock:
            (self._inflight.discard if done else self._inflight.add)(request)

    def signing(self, region: str) -> auth.AwsSigningConfig:
        """The signing config for ``region``. A config carries its signing date (fixed when it
        is made: awscrt's own advice is a new one per signature), and S3 refuses signatures
        more than 15 minutes off; one is reused for at most SIGNING_MAX_AGE seconds."""
        now = time.monotonic()
        made, config = self._signing.get(region, (0.0, None))
        if config is None or now - made > SIGNING_MAX_AGE:
            config = self._signing_config(region)
            self._signing[region] = (now, config)
        return config

    def _signing_config(self, region: str) -> auth.AwsSigningConfig:
        return auth.AwsSigningConfig(
            algorithm=auth.AwsSigningAlgorithm.V4,
            signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
            credentials_provider=self._provider,
            region=region,
            service="s3",
            use_double_uri_encode=False,
            should_normalize_uri_path=False,
            signed_body_value=auth.AwsSignedBodyValue.UNSIGNED_PAYLOAD,
            signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
        )


class _GetFuture(Future[Fetched]):
    """Cancelling it (the archiver does, for what it no longer needs) cancels the request."""

    request: s3.S3Request | None = None

    def cancel(self) -> bool:
        cancelled = super().cancel()
        if cancelled and self.request is not None:
            self.request.cancel()
        return cancelled


class _Get:
    """One GET: callbacks run on awscrt's event-loop thread; the result goes to ``fut``."""

    def __init__(
        self, owner: CrtFetcher, entry: ManifestEntry, limit: int, fut: _GetFuture
    ) -> None:
        self.owner = owner
        self.entry = entry
        self.limit = limit
        self.fut = fut
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.md5 = hashlib.md5()
        self.checksum: BodyChecksum | None = None
        self.info: ObjectInfo | None = None
        self.bad_headers: BaseException | None = None
        self.too_big = False
        self.request: s3.S3Request | None = None
        self.target: Target | None = None

    def start(self, target: Target) -> None:
        self.target = target
        self.request = self.owner.send(
            target,
            "GetObject",
            target.path(self.entry),
            CHECKSUM_MODE,
            on_headers=self._on_headers,
            on_body=self._on_body,
            on_done=self._on_done,
        )
        self.owner.track(self.request, done=False)
        self.fut.request = self.request

    def _on_headers(self, status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
        self.status = status_code
        self.headers = {name.lower(): value for name, value in headers}
        if status_code != 200:
            return
        if int(self.headers.get("content-length", 0)) > self.limit:
            self.too_big = True
            if self.request is not None:
                self.request.cancel()
            return
        try:
            self.info = ObjectInfo.from_headers(self.headers, self.entry.version_id)
        except (KeyError, ValueError, TypeError) as exc:
            self.bad_headers = exc  # reported when the request is done
            return
        if self.info.checksum:
            self.checksum = BodyChecksum(self.info.checksum)

    def _on_body(self, chunk: bytes, **_: Any) -> None:
        if self.too_big:
            return
        self.chunks.append(chunk)
        self.md5.update(chunk)
        if self.checksum is not None:
            self.checksum.update(chunk)

    def _on_done(
        self,
        error: BaseException | None,
        status_code: int | None = None,
        error_headers: list[tuple[str, str]] | None = None,
        error_body: bytes | None = None,
        **_: Any,
    ) -> None:
        if self.request is not None:
            self.owner.track(self.request, done=True)
        try:
            if self.too_big:
                raise TooBigToBuffer()
            if error is None and status_code == 200:
                self._finish()
                return
            if status_code and status_code >= 300:
                headers = {name.lower(): value for name, value in error_headers or ()}
                self._failed_answer(status_code, headers, error_body or b"")
                return
            raise DownloadError(
                f"cannot read s3://{self.entry.bucket}/{self.entry.key}: "
                f"{getattr(error, 'name', None) or error or 'no answer'}"
            )
        except BaseException as exc:  # every outcome reaches the future, none is dropped
            self._resolve(exc=exc)

    def _finish(self) -> None:
        if self.info is None:
            raise DownloadError(
                f"s3://{self.entry.bucket}/{self.entry.key}: unreadable GET response headers "
                f"({self.bad_headers!r})"
            )
        info = self.info
        data = b"".join(self.chunks)
        self.chunks = []
        where = f"s3://{self.entry.bucket}/{self.entry.key}"
        if len(data) != info.size:
            raise DownloadError(f"{where}: {len(data)} bytes read of {info.size}")
        if self.checksum is not None and (reason := self.checksum.mismatch()):
            raise ObjectFailed(dlq.CHECKSUM_MISMATCH, reason)
        md5 = self.md5.hexdigest()
        check_md5(info, md5)
        flags = info.flags_against(self.entry)
        if not info.tag_count:
            self._resolve(Fetched(self.entry, info, data, md5, {}, flags))
            return

        # The tagging GET is started from a plain thread, not from this awscrt callback.
        fetched = Fetched(self.entry, info, data, md5, None, flags)
        self.owner.tag_pool().submit(self._read_tags, fetched)

    def _read_tags(self, fetched: Fetched) -> None:
        try:
            _TagsGet(self, fetched).start()
        except BaseException as exc:  # handed to the archiver through the future
            self._resolve(exc=exc)

    def _failed_answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        code, message, region = _error_fields(body)
        code = code or str(status)
        if status == 301 or code in _REGION_ERRORS:
            bucket_region = headers.get("x-amz-bucket-region") or region
            self.owner.use_boto3_for(
                self.entry.bucket, f"{code} (bucket region {bucket_region or 'unknown'})"
            )
            retry = self.owner.submit(self.entry, self.limit)
            retry.add_done_callback(self._chain)
            return
        raise ObjectFailed(reason_for_code(code), f"{code}: {message}".rstrip(": "))

    def _chain(self, retry: Future[Fetched]) -> None:
        exc = retry.exception()
        self._resolve(None if exc else retry.result(), exc=exc)

    def _resolve(self, result: Fetched | None = None, exc: BaseException | None = None) -> None:
        # Break the cycle future -> request -> callbacks -> this -> future first: cyclic garbage
        # waits for the garbage collector, and with it every object's bytes (200 x 8 MiB
        # objects once held 1.7 GB).
        fut, self.fut, self.request = self.fut, None, None  # type: ignore[assignment]
        fut.request = None
        if not fut.set_running_or_notify_cancel():
            return  # cancelled by the archiver
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)  # type: ignore[arg-type]


class _TagsGet:
    """``GET ?tagging`` for an object whose GET announced tags (``x-amz-tagging-count``), as
    boto3's get_object_tagging; then the object's future is resolved. A failure is a warning
    and a ``tags-unreadable:<code>`` flag in the index, as with boto3 (objects.read_tags)."""

    def __init__(self, get: _Get, fetched: Fetched) -> None:
        self.get = get
        self.fetched = fetched
        self.body: list[bytes] = []
        self.request: s3.S3Request | None = None

    def start(self) -> None:
        owner, target, entry = self.get.owner, self.get.target, self.fetched.entry
        assert target is not None
        path = target.tagging_path(entry.key, self.fetched.info.version_id)
        self.request = owner.send(
            target,
            "GetObjectTagging",
            path,
            on_body=self._on_body,
            on_done=self._on_done,
        )
        owner.track(self.request, done=False)

    def _on_body(self, chunk: bytes, **_: Any) -> None:
        self.body.append(chunk)

    def _on_done(
        self,
        error: BaseException | None,
        status_code: int | None = None,
        error_body: bytes | None = None,
        **_: Any,
    ) -> None:
        if self.request is not None:
            self.get.owner.track(self.request, done=True)
            self.request = None
        try:
            tags: dict[str, str] | None = None
            if error is None and status_code == 200:
                try:
                    tags = _tag_set(b"".join(self.body))
                except ET.ParseError:
                    code = "MalformedXML"
            elif status_code:
                code = _error_fields(error_body or b"")[0] or str(status_code)
            else:
                code = getattr(error, "name", None) or type(error).__name__
            f = self.fetched
            flags = f.flags
            if tags is None:
                log.warning("cannot read tags of s3://%s/%s: %s", f.entry.bucket, f.entry.key, code)
                flags = [*flags, f"tags-unreadable:{code}"]
            self.get._resolve(Fetched(f.entry, f.info, f.data, f.md5, tags, flags))
        except BaseException as exc:  # every outcome reaches the future, none is dropped
            self.get._resolve(exc=exc)


def _tag_set(body: bytes) -> dict[str, str]:
    """The TagSet of a GetObjectTagging answer."""
    root = ET.fromstring(body)
    return {
        tag.findtext("{*}Key") or "": tag.findtext("{*}Value") or ""
        for tag in root.iterfind("{*}TagSet/{*}Tag")
    }


def _error_fields(body: bytes) -> tuple[str, str, str]:
    """Code, Message and Region of an S3 XML error body ('' for what is missing)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", "", ""
    return (
        (root.findtext("Code") or "").strip(),
        " ".join((root.findtext("Message") or "").split())[:300],
        (root.findtext("Region") or "").strip(),
    )
