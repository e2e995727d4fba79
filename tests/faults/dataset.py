"""Source objects and sub-manifests for the fault scenarios.

Each sub-manifest holds small objects (archived from memory, read by awscrt), optionally
streamed ones (> 8 MiB, read by boto3 and resumed with a ranged GET after a broken body),
some multipart-uploaded *without* an additional checksum so their ETag is not an MD5 and
nothing but the bytes themselves can tell a corrupted resume; big ones (> ``MAXSIZE``, copied
server-side) and rows whose object is gone (DLQ ``NoSuchKey``).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from s3common.s3uri import S3Uri
from s3common.sizes import MiB
from s3common.submanifest import ManifestEntry, encode_manifest

MAXSIZE = "12MiB"  # the workers' -s: objects above it are copied, not archived
BIG_SIZE = 13 * MiB
PART = 5 * MiB


@dataclass(frozen=True)
class Shape:
    """What one sub-manifest holds."""

    small: int = 60
    streamed_multipart: int = 0  # 2 x 5 MiB parts, no checksum algorithm
    streamed_single: int = 0  # 9 MiB, one PUT (plain MD5 ETag)
    big: int = 0
    missing: int = 1


@dataclass
class Dataset:
    """What was put: every source object's bytes by (bucket, key), and the sub-manifests."""

    source: str
    manifest_bucket: str
    data: dict[tuple[str, str], bytes] = field(default_factory=dict)
    manifests: list[S3Uri] = field(default_factory=list)
    missing: set[tuple[str, str]] = field(default_factory=set)

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for b, k in self.data if k.startswith(prefix))


def payload(key: str, size: int) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def put_multipart_without_checksum(s3: Any, bucket: str, key: str, body: bytes) -> None:
    """``body`` as a multipart upload with no additional checksum (``s3`` must be a client
    with ``request_checksum_calculation="when_required"``): its ETag is ``<md5 of md5s>-N``."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(body), PART), 1):
        resp = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=body[start : start + PART],
        )
        parts.append({"PartNumber": number, "ETag": resp["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )


def build(s3: Any, source: str, manifest_bucket: str, shapes: list[Shape]) -> Dataset:
    """Put the objects of ``shapes`` (one sub-manifest each) and the sub-manifests."""
    ds = Dataset(source, manifest_bucket)
    rows: list[list[ManifestEntry]] = []
    puts: list[tuple[str, bytes, bool]] = []  # key, body, multipart
    for m, shape in enumerate(shapes):
        entries = []
        sizes = [(f"m{m}/small/{i:04d}", 512 + (i * 997) % 7000, False) for i in range(shape.small)]
        sizes += [
            (f"m{m}/streamed/mpu-{i}", 2 * PART, True) for i in range(shape.streamed_multipart)
        ]
        sizes += [(f"m{m}/streamed/one-{i}", 9 * MiB, False) for i in range(shape.streamed_single)]
        sizes += [(f"m{m}/big/{i}", BIG_SIZE, False) for i in range(shape.big)]
        for key, size, multipart in sizes:
            body = payload(key, size)
            ds.data[(source, key)] = body
            puts.append((key, body, multipart))
            entries.append(ManifestEntry(source, key, size))
        for i in range(shape.missing):
            key = f"m{m}/gone/{i}"
            ds.missing.add((source, key))
            entries.insert(len(entries) // 2, ManifestEntry(source, key, 100))
        rows.append(entries)

    def put(item: tuple[str, bytes, bool]) -> None:
        key, body, multipart = item
        if multipart:
            put_multipart_without_checksum(s3, source, key, body)
        else:
            s3.put_object(Bucket=source, Key=key, Body=body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, puts))
    for m, entries in enumerate(rows):
        key = f"sub/faults-src-manifest.{m}.index"
        s3.put_object(Bucket=manifest_bucket, Key=key, Body=encode_manifest(entries))
        ds.manifests.append(S3Uri(manifest_bucket, key))
    return ds
