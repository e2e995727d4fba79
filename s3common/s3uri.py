"""S3 URIs: ``s3://bucket/key``."""

from __future__ import annotations

import argparse
from typing import NamedTuple


class S3Uri(NamedTuple):
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(text: str, *, require_key: bool = True) -> S3Uri:
    """Split ``s3://bucket/key`` into bucket and key. The key is taken verbatim (no decoding)."""
    if not text.startswith("s3://"):
        raise ValueError(f"not an S3 URI (expected s3://bucket/key): {text!r}")
    bucket, _, key = text[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"S3 URI has no bucket: {text!r}")
    if require_key and not key:
        raise ValueError(f"S3 URI has no key: {text!r}")
    return S3Uri(bucket, key)


def s3_uri_arg(text: str) -> S3Uri:
    """argparse ``type=`` for an S3 object URI."""
    try:
        return parse_s3_uri(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def bucket_from_arn_or_name(text: str) -> str:
    """``arn:aws:s3:::bucket`` (as in inventory manifests) or plain ``bucket`` -> ``bucket``."""
    return text.rsplit(":", 1)[-1] if text.startswith("arn:") else text
