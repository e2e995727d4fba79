"""pyarrow's S3 filesystem, set up from the boto3 chain (endpoint, region, credentials, CA
bundle), for reading Parquet (the catalog) with Arrow's own concurrent ranged reads."""

from __future__ import annotations

import contextlib
import os
from typing import Any
from urllib.parse import urlsplit

import pyarrow.fs as pafs


def arrow_s3(session: Any, s3_client: Any, bucket: str = "") -> pafs.S3FileSystem:
    """An S3FileSystem that reaches what ``s3_client`` reaches: its endpoint when one is set
    (``AWS_ENDPOINT_URL(_S3)``; path-style addressing), else AWS in ``bucket``'s region (or
    the client's)."""
    frozen = session.get_credentials()
    frozen = frozen.get_frozen_credentials() if frozen is not None else None
    options: dict[str, Any] = {"region": s3_client.meta.region_name or "us-east-1"}
    if frozen is not None:
        options.update(
            access_key=frozen.access_key,
            secret_key=frozen.secret_key,
            session_token=frozen.token,
        )
    else:
        options["anonymous"] = True
    endpoint = s3_client.meta.endpoint_url
    if _custom(endpoint):
        url = urlsplit(endpoint)
        options.update(endpoint_override=url.netloc, scheme=url.scheme)
    elif bucket:
        # else the client's region; a wrong one shows as an error naming the bucket
        with contextlib.suppress(OSError):
            options["region"] = pafs.resolve_s3_region(bucket)
    ca_bundle = os.environ.get("AWS_CA_BUNDLE")
    if ca_bundle:
        options["tls_ca_file_path"] = ca_bundle
    return pafs.S3FileSystem(**options)


def _custom(endpoint: str | None) -> bool:
    host = urlsplit(endpoint or "").hostname or ""
    return bool(host) and not host.endswith(".amazonaws.com")
