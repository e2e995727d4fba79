"""S3's additional full-object checksums, computed over bytes as they arrive.

botocore verifies the announced checksum at the end of a whole boto3 body, but not for
awscrt's DEFAULT requests nor over a body put together from ranged reads: there
:class:`BodyChecksum` (botocore's own implementations of each algorithm) does it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from awscrt import checksums as crt_checksums
from botocore import httpchecksum


class _Md5Checksum:
    """S3's ``ChecksumMD5`` (botocore verifies it but has no class of its own for it)."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)

    def b64digest(self) -> str:
        return base64.b64encode(self._md5.digest()).decode()


#: botocore's implementation of each algorithm (the awscrt-backed ones where botocore uses them).
CHECKSUM_CLASSES: dict[str, Callable[[], Any]] = {
    "XXHASH128": httpchecksum.CrtXxhash128Checksum,
    "XXHASH3": httpchecksum.CrtXxhash3Checksum,
    "CRC64NVME": httpchecksum.CrtCrc64NvmeChecksum,
    "XXHASH64": httpchecksum.CrtXxhash64Checksum,
    "CRC32C": httpchecksum.CrtCrc32cChecksum,
    "CRC32": httpchecksum.CrtCrc32Checksum,
    "SHA1": httpchecksum.Sha1Checksum,
    "SHA256": httpchecksum.Sha256Checksum,
    "SHA512": httpchecksum.Sha512Checksum,
    "MD5": _Md5Checksum,
}


class BodyChecksum:
    """Checks the full-object checksum S3 announced (``"CRC32:base64"`` etc.) over a body read
    chunk by chunk."""

    def __init__(self, announced: str) -> None:
        self.announced = announced
        factory = CHECKSUM_CLASSES.get(announced.partition(":")[0])
        self._checksum = factory() if factory is not None else None

    def update(self, chunk: bytes) -> None:
        if self._checksum is not None:
            self._checksum.update(chunk)

    def mismatch(self) -> str:
        """The empty string when the body matches (or nothing was announced), else why not."""
        if self._checksum is None:
            return ""
        alg, _, expected = self.announced.partition(":")
        got = self._checksum.b64digest()
        return "" if got == expected else f"{alg} of bytes read {got} != {expected} announced by S3"


class Crc32c:
    """CRC32C of bytes fed in order, in the form S3 gives ``ChecksumCRC32C`` (base64 of its 4
    big-endian bytes): what an archived member's bytes are recorded with, so a server-side
    copy of that byte range can be checked against it."""

    def __init__(self) -> None:
        self._crc = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self._crc = crt_checksums.crc32c(chunk, self._crc)

    def b64digest(self) -> str:
        return base64.b64encode(self._crc.to_bytes(4, "big")).decode()


def crc32c_b64(data: bytes | memoryview) -> str:
    crc = Crc32c()
    crc.update(data)
    return crc.b64digest()
