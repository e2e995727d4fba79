"""The fetcher ``--get-client`` asks for (the interface is in fetched.py)."""

from __future__ import annotations

import logging
from typing import Any

from s3bundler.boto_reads import BotoFetcher
from s3bundler.fetched import Fetcher
from s3bundler.tag_reads import TagReads
from s3common.request_options import RequestOptions
from s3common.requests import RequestCounter

log = logging.getLogger(__name__)


def make_fetcher(
    kind: str,
    s3: Any,
    session: Any,
    concurrency: int,
    requests: RequestOptions | None = None,
    counter: RequestCounter | None = None,
    tag_reads: TagReads | None = None,
) -> Fetcher:
    """The fetcher for ``--get-client``, reading tags as ``tag_reads`` says (``--tags``; None:
    when the GET announces them). ``crt`` needs credentials boto3 can resolve; without any it
    falls back to boto3, whose own error then says what is missing. ``counter`` counts
    awscrt's requests (boto3's are counted on the client ``s3``)."""
    if kind == "crt":
        credentials = session.get_credentials()
        if credentials is not None:
            from s3bundler.crt_fetcher import CrtFetcher

            # AWS_CA_BUNDLE or the profile's ca_bundle, as boto3 uses it
            ca_bundle = session._session.get_config_variable("ca_bundle")
            return CrtFetcher(
                s3, credentials, concurrency, ca_bundle=ca_bundle, requests=requests,
                counter=counter, tag_reads=tag_reads,
            )  # fmt: skip
        log.warning("no AWS credentials found: small objects are read with boto3")
    return BotoFetcher(s3, concurrency, tag_reads)
