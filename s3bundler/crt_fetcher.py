"""Small-object GETs through awscrt's native S3 client (``--get-client crt``, the default).

boto3 spends ~3 ms of CPU per ``get_object`` in Python (parameter validation, endpoint rules,
event hooks, signing, response parsing); for 4 KiB objects that, not the network, limits a
worker on a small instance. awscrt's S3 client signs and sends the same request natively and
hands back headers and body through callbacks, with no thread per request: about a quarter of
the CPU per object (docs/performance.md).

What stays as it is with boto3:

- the request: the URL and signing region botocore would use (crt_target.py);
  ``x-amz-checksum-mode: ENABLED`` as boto3's ``ChecksumMode``;
- verification: MD5 against a plain ETag, and S3's full-object checksum (which botocore checks
  for boto3) computed while the body arrives (crt_get.py);
- errors: S3 error codes map to the same DLQ reasons; no answer after awscrt's own retries is a
  DownloadError (the manifest fails and is redelivered);
- tags (objects with ``x-amz-tagging-count``, or as ``--tags`` says: tag_reads.py): a second
  awscrt GET (``?tagging``), with boto3's failure handling (a warning and a
  ``tags-unreadable`` flag);
- a bucket in another region than the signer's (S3 answers 301 / AuthorizationHeaderMalformed),
  or one botocore signs other than with SigV4, is served by boto3 from then on.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from awscrt import auth, http, io, s3

from s3bundler.boto_reads import BotoFetcher
from s3bundler.crt_get import (
    Callbacks,
    GetFuture,
    NeedsTags,
    ObjectGet,
    Outcome,
    TagsGet,
    WrongRegion,
    settle,
)
from s3bundler.crt_target import Target, resolve_target
from s3bundler.fetched import Fetched
from s3bundler.tag_reads import TagReads, trust_announced
from s3common.request_options import RequestOptions
from s3common.requests import RequestCounter
from s3common.submanifest import ManifestEntry

log = logging.getLogger(__name__)

#: boto3's ChecksumMode=ENABLED: S3 then returns the object's full-object checksum
CHECKSUM_MODE = (("x-amz-checksum-mode", "ENABLED"),)
SIGNING_MAX_AGE = 60.0  # seconds a signing config (and so its date) is reused


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
        requests: RequestOptions | None = None,
        counter: RequestCounter | None = None,
        tag_reads: TagReads | None = None,
    ) -> None:
        self.s3 = s3_client
        self._counter = counter  # counts each request sent (awscrt's own retries unseen)
        self._requests = requests or RequestOptions()
        self._tag_reads = tag_reads or trust_announced()
        self._botocore_credentials = credentials
        self._concurrency = concurrency
        self._ca_bundle = ca_bundle
        self._probe_client = probe_client
        self._lock = threading.Lock()
        self._targets: dict[str, Target | None] = {}
        self._signing: dict[str, tuple[float, auth.AwsSigningConfig]] = {}
        self._clients: dict[str, s3.S3Client] = {}
        self._inflight: set[Callbacks] = set()
        self._boto: BotoFetcher | None = None
        self._tags: ThreadPoolExecutor | None = None
        self._bootstrap: io.ClientBootstrap | None = None
        self._provider = auth.AwsCredentialsProvider.new_delegate(self._credentials)

    # -- the interface ------------------------------------------------------------------------
    def submit(self, entry: ManifestEntry, buffer_limit: int) -> Future[Fetched]:
        target = self.target(entry.bucket)
        if target is None:
            return self._boto_fetcher().submit(entry, buffer_limit)
        fut = GetFuture()

        def on_outcome(outcome: Outcome) -> None:
            self._untrack(get)
            self._object_done(fut, target, entry, outcome, buffer_limit)

        get = fut.get = ObjectGet(entry, buffer_limit, on_outcome)
        headers = CHECKSUM_MODE + self._requests.get_headers(entry.bucket)
        self._start(get, target, "GetObject", target.path(entry), headers)
        return fut

    def close(self) -> None:
        with self._lock:
            inflight = list(self._inflight)
            clients = list(self._clients.values())
            self._clients.clear()
        for callbacks in inflight:
            callbacks.cancel()
        for callbacks in inflight:
            try:
                if callbacks.finished is not None:
                    callbacks.finished.exception(timeout=30)
            except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError (3.11)
                log.warning("an awscrt GET did not stop within 30 s of being cancelled")
                break
        if self._boto is not None:
            self._boto.close()
        if self._tags is not None:
            self._tags.shutdown(wait=True, cancel_futures=True)
        del clients  # the native clients shut down when released

    # -- outcomes -----------------------------------------------------------------------------
    def _object_done(
        self, fut: GetFuture, target: Target, entry: ManifestEntry, outcome: Outcome, limit: int
    ) -> None:
        if isinstance(outcome, Fetched | NeedsTags):
            fetched = outcome.fetched if isinstance(outcome, NeedsTags) else outcome
            if self._tag_reads.wanted(entry.bucket, fetched.info.tag_count):
                # The tagging GET is started from a plain thread, not from this awscrt callback.
                self._tag_pool().submit(self._read_tags, fut, target, fetched)
            else:
                settle(fut, _with_tags(fetched, *self._tag_reads.not_read()))
        elif isinstance(outcome, WrongRegion):
            self._use_boto3_for(entry.bucket, outcome.why)
            retry = self.submit(entry, limit)
            retry.add_done_callback(lambda done: _chain(fut, done))
        else:
            settle(fut, exc=outcome)

    def _read_tags(self, fut: GetFuture, target: Target, fetched: Fetched) -> None:
        entry = fetched.entry

        def on_tags(tags: dict[str, str] | None, code: str) -> None:
            self._untrack(get)
            count = fetched.info.tag_count
            result = self._tag_reads.result(entry.bucket, entry.key, count, tags, code)
            settle(fut, _with_tags(fetched, *result))

        get = TagsGet(on_tags)
        try:
            path = target.tagging_path(entry.key, fetched.info.version_id)
            headers = self._requests.get_headers(entry.bucket, object_read=False)
            self._start(get, target, "GetObjectTagging", path, headers)
        except BaseException as exc:  # handed to the archiver through the future
            self._untrack(get)
            settle(fut, exc=exc)

    # -- targets ------------------------------------------------------------------------------
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

    def _use_boto3_for(self, bucket: str, why: str) -> None:
        with self._lock:
            if self._targets.get(bucket) is None:
                return
            self._targets[bucket] = None
        log.warning("s3://%s: %s; its objects are read with boto3 from now on", bucket, why)

    def _boto_fetcher(self) -> BotoFetcher:
        with self._lock:
            if self._boto is None:
                self._boto = BotoFetcher(self.s3, self._concurrency, self._tag_reads)
            return self._boto

    def _tag_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._tags is None:
                self._tags = ThreadPoolExecutor(4, thread_name_prefix="tags")
            return self._tags

    # -- requests -----------------------------------------------------------------------------
    def send(
        self,
        target: Target,
        operation: str,
        path: str,
        headers: tuple[tuple[str, str], ...] = (),
        **on: Any,
    ) -> s3.S3Request:
        """One signed GET of ``path`` as awscrt's DEFAULT request (sent as is, no splitting);
        ``on``: on_headers / on_body / on_done as awscrt calls them."""
        request = http.HttpRequest("GET", path, http.HttpHeaders([("Host", target.host), *headers]))
        if self._counter is not None:
            self._counter.add(operation)
        return self.client(target.scheme).make_request(
            type=s3.S3RequestType.DEFAULT,
            operation_name=operation,
            request=request,
            signing_config=self.signing(target.region),
            **on,
        )

    def _start(
        self,
        callbacks: Callbacks,
        target: Target,
        operation: str,
        path: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """:meth:`send` with ``callbacks``' methods, tracked until they report it done (then
        the caller's outcome handler calls :meth:`_untrack`)."""
        with self._lock:
            self._inflight.add(callbacks)
        on = {
            name: getattr(callbacks, name)
            for name in ("on_headers", "on_body", "on_done")
            if hasattr(callbacks, name)
        }
        callbacks.attach(self.send(target, operation, path, headers, **on))

    def _untrack(self, callbacks: Callbacks) -> None:
        with self._lock:
            self._inflight.discard(callbacks)

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

    def _credentials(self) -> auth.AwsCredentials:
        frozen = self._botocore_credentials.get_frozen_credentials()
        return auth.AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    def signing(self, region: str) -> auth.AwsSigningConfig:
        """The signing config for ``region``. A config carries its signing date (fixed when it
        is made: awscrt's own advice is a new one per signature), and S3 refuses signatures
        more than 15 minutes off; one is reused for at most SIGNING_MAX_AGE seconds."""
        now = time.monotonic()
        with self._lock:
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


def _with_tags(fetched: Fetched, tags: dict[str, str] | None, flag: str) -> Fetched:
    if not flag and tags == fetched.tags:
        return fetched  # an untagged object read by the one GET: the fast path stays as it was
    flags = [*fetched.flags, flag] if flag else fetched.flags
    return Fetched(fetched.entry, fetched.info, fetched.pieces, fetched.md5, tags, flags)


def _chain(fut: GetFuture, retry: Future[Fetched]) -> None:
    exc = retry.exception()
    settle(fut, None if exc else retry.result(), exc=exc)
