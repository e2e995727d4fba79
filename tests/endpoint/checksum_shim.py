"""The ``copy_checksum`` shim: S3 returns the checksum of a part copied with UploadPartCopy
(``<ChecksumCRC32C>`` ... in ``CopyPartResult``) when the multipart upload was created with
``x-amz-checksum-algorithm`` (or the copy request names one); moto returns none. With a
``copy_checksum`` rule the endpoint computes it over the part moto stored and adds it.

CRC64NVME needs awscrt (``awscrt.checksums.crc64nvme``), which the project depends on.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import zlib
from urllib.parse import parse_qs

from tests.endpoint.classify import RequestInfo

_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")


def checksum(algorithm: str, data: bytes) -> str:
    """S3's base64 checksum of ``data`` (CRC32, CRC32C, CRC64NVME, SHA1, SHA256)."""
    algorithm = algorithm.upper()
    if algorithm == "CRC32":
        return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    if algorithm in ("CRC32C", "CRC64NVME"):
        from awscrt import checksums

        if algorithm == "CRC32C":
            return base64.b64encode(checksums.crc32c(data).to_bytes(4, "big")).decode()
        return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()
    if algorithm in ("SHA1", "SHA256"):
        return base64.b64encode(hashlib.new(algorithm.lower(), data).digest()).decode()
    raise ValueError(f"unsupported checksum algorithm {algorithm!r}")


def _stored_part(bucket: str, upload_id: str, part: int) -> bytes:
    """The bytes moto keeps for one part of a multipart upload (this process is moto)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    return bytes(backend.get_bucket(bucket).multiparts[upload_id].parts[part].value)


class CopyChecksums:
    """Remembers the checksum algorithm of each multipart upload; adds the checksum of a
    copied part to moto's CopyPartResult."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._algorithms: dict[str, str] = {}

    def observe(self, req: RequestInfo, headers: dict[str, str], status: str, body: bytes) -> None:
        """Note the algorithm a successful CreateMultipartUpload asked for."""
        algorithm = headers.get("x-amz-checksum-algorithm", "")
        if req.operation != "CreateMultipartUpload" or not algorithm or status[:1] != "2":
            return
        found = _UPLOAD_ID.search(body)
        if found:
            with self._lock:
                self._algorithms[found.group(1).decode()] = algorithm.upper()

    def add(
        self, req: RequestInfo, headers: dict[str, str], query: str, body: bytes, forced: str
    ) -> bytes:
        """moto's CopyPartResult ``body`` with the part's checksum element added (unchanged
        when neither the request, its upload nor the rule names an algorithm)."""
        q = parse_qs(query)
        upload_id, part = q["uploadId"][0], int(q["partNumber"][0])
        with self._lock:
            known = self._algorithms.get(upload_id, "")
        algorithm = (headers.get("x-amz-checksum-algorithm") or known or forced).upper()
        if not algorithm or b"</CopyPartResult>" not in body:
            return body
        value = checksum(algorithm, _stored_part(req.bucket, upload_id, part))
        element = f"<Checksum{algorithm}>{value}</Checksum{algorithm}>".encode()
        return body.replace(b"</CopyPartResult>", element + b"</CopyPartResult>", 1)
