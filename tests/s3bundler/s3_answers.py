"""Hand-made boto3 answers for unit tests of the read path."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import botocore.exceptions

WHEN = datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def client_error(code: str, op: str = "GetObject") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "msg"}}, op)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def response(**kw) -> dict:
    """A GetObject/HeadObject answer as boto3 returns it (``kw`` overrides)."""
    base = {
        "ContentLength": 5,
        "ETag": f'"{md5(b"hello")}"',
        "LastModified": WHEN,
        "ContentType": "text/plain",
        "Metadata": {"a": "b"},
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    base.update(kw)
    return base
