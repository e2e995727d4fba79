"""s3common.aws: how every client is configured."""

from __future__ import annotations

import boto3

from s3common.aws import make_client


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )


def test_s3_clients_send_checksummed_bodies_without_a_sha256_signature():
    s3 = make_client(_session(), "s3", max_pool_connections=7)
    assert s3.meta.config.s3 == {"payload_signing_enabled": False}
    assert s3.meta.config.max_pool_connections == 7
    assert s3.meta.config.retries["mode"] == "adaptive"
    explicit = make_client(_session(), "s3", s3={"addressing_style": "path"})
    # the caller's s3 settings are merged with ours, not put in their place
    assert explicit.meta.config.s3 == {"payload_signing_enabled": False, "addressing_style": "path"}
    signed = make_client(_session(), "s3", s3={"payload_signing_enabled": True})
    assert signed.meta.config.s3 == {"payload_signing_enabled": True}  # named: the caller's wins
    assert make_client(_session(), "sqs").meta.config.s3 is None
