"""Source objects and sub-manifests for end-to-end tests (used by tests/containers too)."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry, encode_manifest


@dataclass
class Source:
    """Objects put into the source bucket, by key."""

    bucket: str
    data: dict[str, bytes] = field(default_factory=dict)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)


def payload(key: str, size: int) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def seed(
    s3, bucket: str, sizes: dict[str, int], *, meta_every: int = 3, tag_every: int = 4
) -> Source:
    src = Source(bucket)

    def put(item: tuple[int, tuple[str, int]]) -> None:
        i, (key, size) = item
        body = payload(key, size)
        args: dict = {"Bucket": bucket, "Key": key, "Body": body}
        if i % meta_every == 0:
            src.metadata[key] = {"origin": "test", "idx": str(i)}
            args["Metadata"] = src.metadata[key]
            args["ContentType"] = "text/x-test"
        if i % tag_every == 1:
            src.tags[key] = {"project": "s3bundler", "n": str(i)}
            args["Tagging"] = "&".join(f"{k}={v}" for k, v in src.tags[key].items())
        s3.put_object(**args)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, enumerate(sizes.items())))
    src.data = {key: payload(key, size) for key, size in sizes.items()}  # in the given order
    return src


def deny_get(s3, bucket: str, prefix: str) -> None:
    """A bucket policy that denies s3:GetObject under ``prefix`` to everyone (moto enforces an
    explicit Deny without IAM mode)."""
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def put_manifest(s3, bucket: str, key: str, entries: list[ManifestEntry]) -> S3Uri:
    s3.put_object(Bucket=bucket, Key=key, Body=encode_manifest(entries))
    return S3Uri(bucket, key)


def get_bytes(s3, uri: S3Uri) -> bytes:
    return s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
