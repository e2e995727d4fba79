"""S3 additional checksums over bodies read chunk by chunk."""

from __future__ import annotations

import base64
import hashlib

import pytest

from s3bundler.checksums import BodyChecksum

# --- S3 additional checksums ---------------------------------------------------------------------

CHECK = b"123456789"  # the standard check input for CRCs


def _b64(value: int | bytes, width: int = 0) -> str:
    raw = value if isinstance(value, bytes) else value.to_bytes(width, "big")
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("algorithm", "data", "expected"),
    [
        ("CRC32", CHECK, _b64(0xCBF43926, 4)),
        ("CRC32C", CHECK, _b64(0xE3069283, 4)),
        ("CRC64NVME", CHECK, _b64(0xAE8B14860A799888, 8)),
        ("SHA1", CHECK, _b64(hashlib.sha1(CHECK).digest())),
        ("SHA256", CHECK, _b64(hashlib.sha256(CHECK).digest())),
        ("SHA512", CHECK, _b64(hashlib.sha512(CHECK).digest())),
        ("MD5", CHECK, _b64(hashlib.md5(CHECK).digest())),
        ("XXHASH64", b"", _b64(0xEF46DB3751D8E999, 8)),
        ("XXHASH3", b"", _b64(0x2D06800538D394C2, 8)),
        ("XXHASH128", b"", _b64(0x99AA06D3014798D86001C324468D497F, 16)),
    ],
)
def test_body_checksum_matches_published_check_values(algorithm, data, expected):
    ok = BodyChecksum(f"{algorithm}:{expected}")
    for i in range(0, len(data), 4):  # fed in chunks, as bodies arrive
        ok.update(data[i : i + 4])
    assert ok.mismatch() == ""
    bad = BodyChecksum(f"{algorithm}:{expected}")
    bad.update(data + b"!")
    assert bad.mismatch().startswith(f"{algorithm} of bytes read ")


def test_unknown_or_missing_checksum_is_not_checked():
    for announced in ("", "FUTURE:abc"):
        c = BodyChecksum(announced)
        c.update(b"anything")
        assert c.mismatch() == ""
