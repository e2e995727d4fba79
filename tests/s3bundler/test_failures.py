"""S3 errors -> DLQ reasons."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions
import pytest

from s3bundler import dlq
from s3bundler.failures import REASON_OF_CODE, reason_for, reason_for_code
from tests.s3bundler.s3_answers import client_error

# --- reason mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("NoSuchKey", dlq.NO_SUCH_KEY),
        ("NoSuchVersion", dlq.NO_SUCH_KEY),
        ("404", dlq.NO_SUCH_KEY),
        ("NoSuchBucket", dlq.NO_SUCH_BUCKET),
        ("AccessDenied", dlq.ACCESS_DENIED),
        ("403", dlq.ACCESS_DENIED),
        ("AllAccessDisabled", dlq.ACCESS_DENIED),
        ("InvalidObjectState", dlq.GLACIER),
        ("PreconditionFailed", dlq.CHANGED),
        ("SlowDown", dlq.THROTTLED),
        ("503", dlq.THROTTLED),
        ("ServiceUnavailable", dlq.THROTTLED),
        ("InternalError", dlq.THROTTLED),
        ("RequestTimeout", dlq.THROTTLED),
        ("InvalidRange", dlq.ERROR),
        ("SomethingNew", dlq.ERROR),
    ],
)
def test_reason_for_client_errors(code, reason):
    assert reason_for(client_error(code)) == reason


def test_reason_for_other_exceptions():
    assert reason_for(botocore.exceptions.FlexibleChecksumError(error_msg="crc")) == (
        dlq.CHECKSUM_MISMATCH
    )
    assert reason_for(RuntimeError("x")) == dlq.ERROR


def test_every_reason_the_bundler_can_give_is_a_documented_one():
    """A reason outside dlq.REASONS would reach the DLQ index and the ObjectErrors metric
    with no entry in the failure table (docs/bundler.md)."""
    given = set(REASON_OF_CODE.values()) | {reason_for_code("SomethingNew"), dlq.CHECKSUM_MISMATCH}
    assert given <= set(dlq.REASONS)
    table = (Path(__file__).parents[2] / "docs" / "bundler.md").read_text(encoding="utf-8")
    for reason in dlq.REASONS:
        assert f"`{reason}`" in table, f"{reason} missing from docs/bundler.md"
